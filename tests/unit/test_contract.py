"""The wire contract (contract.md): round trips, and rejection of every malformed shape it names."""

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campuspulse.telemetry import (
    ContractError,
    TopicKind,
    format_ts,
    parse_records_payload,
    parse_status_payload,
    parse_topic,
    parse_ts,
    topic_for,
)
from campuspulse.telemetry.codec import dumps
from campuspulse.telemetry.line_protocol import reading_line, state_line, status_line
from campuspulse.telemetry.parsed import ParsedReading
from campuspulse.telemetry.timestamps import MAX_TS_MS, MIN_TS_MS

IDS = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")
MS = st.integers(MIN_TS_MS, MAX_TS_MS - 1)  # 2000 … 2099, the times the contract carries
NAMES = st.from_regex(r"\A[a-z][a-z0-9_]{0,63}\Z")
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
OFFSETS = st.sampled_from(["Z", "+08:00", "-05:30", "+00:00", "+14:00"])


@st.composite
def state_records(draw, seq=None):
    return {
        "type": "state",
        "seq": draw(st.integers(0, 2**62)) if seq is None else seq,
        "ts": format_ts(draw(MS)),
        "device": draw(IDS),
        "state": draw(st.sampled_from(["in_use", "idle", "off", "fault"])),
        "valid_s": draw(st.integers(1, 86400)),
    }


@st.composite
def reading_records(draw, seq=None):
    return {
        "type": "reading",
        "seq": draw(st.integers(0, 2**62)) if seq is None else seq,
        "ts": format_ts(draw(MS)),
        "device": draw(IDS),
        "values": draw(st.dictionaries(NAMES, FINITE, min_size=1, max_size=64)),
    }


RECORDS = st.one_of(state_records(), reading_records())


def envelope(records, **kw):
    return {"v": 1, "agent": "a1", "school": "s1", "records": records, **kw}


@settings(max_examples=200)
@given(MS, OFFSETS)
def test_timestamps_round_trip_through_any_offset(ms, offset):
    from datetime import UTC, datetime, timedelta

    if offset == "Z":
        text = format_ts(ms)
    else:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
        local = datetime.fromtimestamp(ms // 1000, UTC) + delta
        text = f"{local:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}{offset}"
    assert parse_ts(text) == ms
    assert parse_ts(format_ts(ms)) == ms


@settings(max_examples=200)
@given(st.lists(RECORDS, min_size=1, max_size=30))
def test_valid_payloads_round_trip(records):
    batch = parse_records_payload(orjson.dumps(envelope(records)))
    assert batch.rejected == []
    again = [r.to_wire() for r in batch.records]
    for original, back in zip(records, again, strict=True):
        assert back["ts"] == original["ts"] and back["seq"] == original["seq"]
        assert {k: v for k, v in back.items() if k != "ts"} == {k: v for k, v in original.items() if k != "ts"}
    assert parse_records_payload(dumps(envelope(again))).records == batch.records


BAD_RECORDS = {
    "naive timestamp": ({"ts": "2026-09-07T08:00:00.000"}, "naive"),
    "date only": ({"ts": "2026-09-07"}, "RFC 3339"),
    "numeric timestamp": ({"ts": 1788739200000}, "RFC 3339"),
    "bad device id": ({"device": "lab pc/1"}, "device"),
    "empty device id": ({"device": ""}, "device"),
    "unknown state": ({"state": "dancing"}, "state"),
    "negative seq": ({"seq": -1}, "seq"),
    "boolean seq": ({"seq": True}, "seq"),
    "fractional seq": ({"seq": 1.5}, "seq"),
    "zero valid_s": ({"valid_s": 0}, "valid_s"),
    "unknown type": ({"type": "gossip"}, "gossip"),
}


@pytest.mark.parametrize("name", list(BAD_RECORDS))
def test_each_malformed_record_is_rejected_with_its_field_named(name):
    change, expected = BAD_RECORDS[name]
    good = {"type": "state", "seq": 1, "ts": "2026-09-07T08:00:00.000+08:00", "device": "d1", "state": "idle"}
    batch = parse_records_payload(orjson.dumps(envelope([good, {**good, "seq": 2, **change}])))
    assert len(batch.records) == 1 and len(batch.rejected) == 1
    assert batch.rejected[0].index == 1 and batch.rejected[0].reason.startswith("records[1]")
    assert expected in batch.rejected[0].reason


@pytest.mark.parametrize(
    "values,expected",
    [
        ({"power_w": float("nan")}, "not finite"),
        ({"power_w": float("inf")}, "not finite"),
        ({"Power": 1.0}, "value name"),
        ({"power_w": "86"}, "not a number"),
        ({"power_w": True}, "not a number"),
        ({}, "at least 1"),
        ({f"v{i}": 1.0 for i in range(65)}, "at most 64"),
    ],
)
def test_malformed_reading_values_are_rejected(values, expected):
    rec = {"type": "reading", "seq": 1, "ts": "2026-09-07T08:00:00Z", "device": "d1", "values": values}
    raw = json.dumps(envelope([rec])).encode()  # NaN and Infinity as bare tokens, as some devices send them
    batch = parse_records_payload(raw)
    assert batch.records == [] and expected in batch.rejected[0].reason


@settings(max_examples=100)
@given(st.lists(RECORDS, min_size=1, max_size=20), st.data())
def test_a_bad_record_never_spoils_the_rest_of_its_batch(records, data):
    pos = data.draw(st.integers(0, len(records)))
    bad = {**records[0], "ts": "2026-09-07T08:00:00"}
    batch = parse_records_payload(orjson.dumps(envelope([*records[:pos], bad, *records[pos:]])))
    assert [r.seq for r in batch.records] == [r["seq"] for r in records]
    assert [r.index for r in batch.rejected] == [pos]


@pytest.mark.parametrize(
    "payload,expected",
    [
        (envelope([{}], v=2), "v"),
        (envelope([]), "at least 1"),
        (envelope([{"type": "state"}] * 10_001), "at most 10000"),
        ({**envelope([{}]), "agent": "a 1"}, "agent"),
        ({"v": 1, "school": "s1", "records": [{}]}, "agent"),
        ([1, 2], "expected an object"),
    ],
)
def test_unusable_envelopes_are_refused_whole(payload, expected):
    with pytest.raises(ContractError, match=expected):
        parse_records_payload(orjson.dumps(payload))


def test_non_json_is_refused_with_a_clear_reason():
    with pytest.raises(ContractError, match="not valid JSON"):
        parse_records_payload(b"{oops")


def test_a_payload_must_match_its_topic():
    good = {"type": "state", "seq": 1, "ts": "2026-09-07T08:00:00Z", "device": "d1", "state": "idle"}
    with pytest.raises(ContractError, match="same school and agent"):
        parse_records_payload(orjson.dumps(envelope([good])), parse_topic("campus/v1/s1/a2/records"))


@settings(max_examples=200)
@given(IDS, IDS, st.sampled_from(list(TopicKind)))
def test_topics_round_trip(school, agent, kind):
    t = parse_topic(topic_for(school, agent, kind))
    assert (t.school, t.agent, t.kind) == (school, agent, kind)


@pytest.mark.parametrize(
    "topic",
    [
        "campus/v2/s1/a1/records",
        "campus/v1/s1/records",
        "campus/v1/s 1/a1/records",
        "campus/v1/s1/a1/telemetry",
        "other/v1/s1/a1/records",
    ],
)
def test_malformed_topics_are_refused(topic):
    with pytest.raises(ContractError):
        parse_topic(topic)


def test_status_payload_with_dropped_ranges():
    raw = {
        "v": 1,
        "agent": "a1",
        "school": "s1",
        "online": False,
        "ts": "2026-09-07T08:00:00.000+08:00",
        "version": "0.3.0",
        "devices": ["d1", "d2"],
        "dropped": [[10, 20]],
    }
    status = parse_status_payload(orjson.dumps(raw))
    assert status.dropped == [(10, 20)] and status.online is False
    with pytest.raises(ContractError, match="reversed"):
        parse_status_payload(orjson.dumps({**raw, "dropped": [[20, 10]]}))


def test_line_protocol_matches_the_contract_mapping():
    ts = "2026-09-07T08:00:00.000+08:00"
    batch = parse_records_payload(
        orjson.dumps(
            envelope(
                [
                    {"type": "state", "seq": 41, "ts": ts, "device": "d1", "state": "in_use", "valid_s": 180},
                    {
                        "type": "reading",
                        "seq": 42,
                        "ts": ts,
                        "device": "d1",
                        "values": {"power_w": 86.5, "current_a": 0.39},
                    },
                ]
            )
        )
    )
    ms = parse_ts(ts)
    assert state_line("s1", "a1", batch.records[0]) == (
        f'equipment_state,school=s1,agent=a1,device=d1 state="in_use",in_use=1i,valid_s=180i,seq=41i {ms}'
    )
    assert reading_line("s1", "a1", batch.records[1]) == (
        f"equipment_reading,school=s1,agent=a1,device=d1 power_w=86.5,current_a=0.39,seq=42i {ms}"
    )
    status = parse_status_payload(orjson.dumps({"v": 1, "agent": "a1", "school": "s1", "online": True, "ts": ts}))
    assert status_line(status) == f"agent_status,school=s1,agent=a1 online=true {ms}"
    queue = {"records": 12, "unwritable_since": ts, "held": 340}
    status = parse_status_payload(
        orjson.dumps({"v": 1, "agent": "a1", "school": "s1", "online": True, "ts": ts, "queue": queue})
    )
    assert status_line(status) == f"agent_status,school=s1,agent=a1 online=true,queue_records=12i,queue_held=340i {ms}"


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["type", "seq", "ts", "device", "state", "valid_s", "values"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-5, 2**64),
            st.floats(),
            st.text(max_size=30),
            st.sampled_from(["state", "reading", "in_use", "2026-09-07T08:00:00Z", "d1\n", "2026-09-07T08:00:00Z\n"]),
            st.dictionaries(st.text(max_size=5), st.floats(), max_size=3),
        ),
    )
)
def test_the_fast_path_accepts_exactly_what_the_models_accept(rec):
    from pydantic import ValidationError

    from campuspulse.telemetry.validation import _fast_record, _from_model, _record_adapter

    try:
        model = _from_model(_record_adapter.validate_python(rec))
    except (ValidationError, ContractError):
        model = None
    fast = _fast_record(rec)
    if fast is not None:
        assert model == fast, "the fast path accepted what the model rejects, or read it differently"


@pytest.mark.parametrize("field,value", [("device", "d1\n"), ("ts", "2026-09-07T08:00:00Z\n"), ("seq", 2**63)])
def test_trailing_newlines_and_oversized_seqs_are_rejected(field, value):
    good = {"type": "state", "seq": 1, "ts": "2026-09-07T08:00:00Z", "device": "d1", "state": "idle"}
    batch = parse_records_payload(json.dumps(envelope([{**good, field: value}])))
    assert batch.records == [] and field in batch.rejected[0].reason


@pytest.mark.parametrize(
    "text",
    ["1970-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "2100-01-01T00:00:00.000Z", "0001-01-01T00:00:00+08:00"],
)
def test_times_outside_2000_to_2099_break_the_contract(text):
    with pytest.raises(ContractError, match="outside the supported range"):
        parse_ts(text)


@given(
    st.dictionaries(
        st.sampled_from(["seq", "time", "value_seq", "value_value_seq", "value_time", "power_w"]),
        st.floats(-1e6, 1e6),
        min_size=1,
    )
)
def test_a_reading_named_like_a_reserved_field_never_makes_a_malformed_line(values):
    line = reading_line("s1", "a1", ParsedReading(42, MIN_TS_MS, "d1", values))
    fields = [f.split("=", 1) for f in line.split(" ")[1].split(",")]
    keys = [k for k, _ in fields]
    assert len(keys) == len(set(keys)), line
    assert dict(fields)["seq"] == "42i" and "time" not in keys
    assert sorted(float(v) for k, v in fields if k != "seq") == sorted(values.values())


@pytest.mark.parametrize("odd", [[], {}, ["in_use"], {"in_use": 1}, 1, None, True])
def test_a_state_of_any_json_type_is_a_rejected_record_not_an_exception(odd):
    ts = "2026-09-07T08:00:00.000+08:00"
    batch = parse_records_payload(envelope([{"type": "state", "seq": 1, "ts": ts, "device": "d1", "state": odd}]))
    assert batch.records == [] and "state" in batch.rejected[0].reason
