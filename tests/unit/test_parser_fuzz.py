"""Fuzzing (hypothesis, bounded) of what reads bytes from outside: each device answer parser, the camera's
auth challenge reader, the contract parser on arbitrary bytes, and the line-protocol encoder read back by an
independent parser. A parser may refuse input (DeviceError, ContractError) but never fail otherwise, and
what it accepts is finite numbers."""

import contextlib
import json
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campuspulse.drivers import DeviceError
from campuspulse.drivers.camera import authorization
from campuspulse.drivers.modbus_values import WORDS, decode
from campuspulse.drivers.serial_line import parse_mt_sics
from campuspulse.drivers.shelly_payloads import shelly_values
from campuspulse.drivers.tasmota_payloads import tasmota_values
from campuspulse.telemetry import ContractError, parse_records_payload
from campuspulse.telemetry.line_protocol import reading_line
from campuspulse.telemetry.parsed import ParsedReading

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "ENERGY",
        "StatusSNS",
        "Power",
        "Voltage",
        "Current",
        "Total",
        "apower",
        "voltage",
        "current",
        "aenergy",
        "total",
        "output",
    ]
)
PLUG_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)


def finite(values: dict[str, float]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in values.values())


@FUZZ
@given(st.text(max_size=40) | st.from_regex(r"\AS [SD] +-?[0-9]{1,8}(\.[0-9]{1,4})? [a-z]{1,3}\Z"))
def test_mt_sics_answers_parse_or_are_refused(answer):
    try:
        values = parse_mt_sics(answer)
    except DeviceError:
        return
    assert finite(values) and values["stable"] in (0.0, 1.0)


@FUZZ
@given(PLUG_JSON)
def test_smart_plug_reports_parse_or_are_refused(payload):
    for parse in (tasmota_values, shelly_values):
        try:
            values = parse(payload)
        except DeviceError:
            continue
        assert finite(values)


@FUZZ
@given(st.text(max_size=120) | st.from_regex(r'\ADigest( \w{1,8}="[^"]{0,12}",?){0,6}\Z'))
def test_camera_challenges_are_answered_or_refused(challenge):
    try:
        answer = authorization(challenge, "DESCRIBE", "rtsp://127.0.0.1/s", "admin", "pw")
    except DeviceError:
        return
    assert answer.startswith(("Digest ", "Basic ")) and "\r" not in answer and "\n" not in answer


@FUZZ
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_the_contract_parser_refuses_garbage_with_a_contract_error(raw):
    with contextlib.suppress(ContractError):
        parse_records_payload(raw)


_FIELD = re.compile(r"([a-z][a-z0-9_]*)=([^,]+)")


@FUZZ
@given(
    st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
    st.integers(0, 2**62),
    st.integers(0, 4_102_444_800_000),
    st.dictionaries(
        st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z"),
        st.floats(allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=5,
    ),
)
def test_line_protocol_lines_read_back_to_the_same_point(device, seq, ts, values):
    values.pop("seq", None)
    if not values:
        return
    line = reading_line("s-1", "a_1", ParsedReading(seq, ts, device, values))
    head, fields, stamp = line.split(" ")
    measurement, *tags = head.split(",")
    assert measurement == "equipment_reading"
    assert dict(t.split("=") for t in tags) == {"school": "s-1", "agent": "a_1", "device": device}
    got = dict(_FIELD.findall(fields))
    assert got.pop("seq") == f"{seq}i" and int(stamp) == ts
    assert {k: float(v) for k, v in got.items()} == values


@FUZZ
@given(
    st.sampled_from(sorted(WORDS)).flatmap(
        lambda kind: st.tuples(
            st.just(kind), st.lists(st.integers(0, 0xFFFF), min_size=WORDS[kind], max_size=WORDS[kind])
        )
    ),
    st.sampled_from(["big", "little"]),
    st.booleans(),
)
def test_modbus_registers_decode_to_a_finite_number_or_no_value(kind_words, order, swap):
    kind, words = kind_words
    value = decode(words, kind, order, swap)
    assert value is None or math.isfinite(value)
