"""Hostile and unlucky input through `POST /ingest/records` and through the collector: huge numbers, deep
nesting, broken UTF-8, huge payloads, times out of range, arbitrary JSON in every field. Each is a clear 4xx or a
dead letter, never a 5xx or a stall, and every valid record of the same batch is stored."""

import itertools
import json
import time

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from campuspulse.collector.service import Collector
from campuspulse.collector.settings import CollectorSettings
from campuspulse.server.app import create_app
from campuspulse.settings import MqttSettings
from campuspulse.store.ingest import MAX_DEAD_LETTER_RAW, TelemetryWriter
from campuspulse.store.schema import DeadLetter, PendingRecord, StateSegment
from campuspulse.telemetry.validation import MAX_PAYLOAD_BYTES
from tests.support.campus import AUTH, TOKEN, provision
from tests.support.waiting import wait_until

ENVELOPE = b'{"v":1,"agent":"a1","school":"s1","records":[%s]}'
GOOD_SEQS = itertools.count(2**50)  # rising, and above any seq the generated junk holds: never taken for a duplicate


def good(seq: int) -> dict:
    minute, second = divmod(seq % 3600, 60)
    ts = f"2026-09-07T08:{minute:02d}:{second:02d}.000+08:00"
    return {"type": "state", "seq": seq, "ts": ts, "device": "pc1", "state": "in_use", "valid_s": 180}


def batch(hostile: bytes, seq: int) -> bytes:
    """A records payload: one hostile record beside a valid one of seq `seq`."""
    return ENVELOPE % (hostile + b"," + orjson.dumps(good(seq)))


def reading(values: bytes = b'{"p":1}', **fields: str) -> bytes:
    base = {"seq": "1", "ts": '"2026-09-07T08:00:00.000+08:00"', "device": '"pc1"'} | fields
    body = ",".join(f'"{k}":{v}' for k, v in base.items())
    return b'{"type":"reading",%s,"values":%s}' % (body.encode(), values)


# Records that break the contract inside a batch that is otherwise fine: the record is a dead letter, the rest stored.
HOSTILE_RECORDS = {
    "a 400-digit integer": reading(b'{"p":' + b"9" * 400 + b"}"),
    "a float beyond a double": reading(b'{"p":1e999}'),
    "NaN": reading(b'{"p":NaN}'),
    "seq 2^63": reading(seq=str(2**63)),
    "a 400-digit seq": reading(seq="9" * 400),
    "a negative seq": reading(seq="-1"),
    "year 0": reading(ts='"0000-01-01T00:00:00.000Z"'),
    "year 1 east of UTC": reading(ts='"0001-01-01T00:00:00.000+08:00"'),
    "year 9999": reading(ts='"9999-12-31T23:59:59.999+14:00"'),
    "a clock reset to 1970": reading(ts='"1970-01-01T00:00:00.000Z"'),
    "a number for a time": reading(ts="1788739200000"),
    "a 10,000-character device": reading(device='"' + "d" * 10_000 + '"'),
    "a NUL in the device": reading(device='"pc\\u0000"'),
    "a NUL in a value name": reading(b'{"p\\u0000":1}'),
    "100 values": reading(orjson.dumps({f"v{i}": i for i in range(100)})),
    "a huge valid_s": b'{"type":"state","seq":1,"ts":"2026-09-07T08:00:00.000Z","device":"pc1","state":"idle",'
    b'"valid_s":' + b"9" * 400 + b"}",
    "an unknown type": b'{"type":"x","seq":1}',
    "a list for a record": b"[1,2,3]",
}
# Payloads that are unusable as a whole: a dead letter with the reason, answered 422.
HOSTILE_PAYLOADS = {
    "JSON nested 5,000 levels": b'{"v":1,"agent":"a1","school":"s1","records":[' + b"[" * 5000 + b"]" * 5000 + b"]}",
    "JSON nested 17 levels": ENVELOPE % (reading(b'{"p":' + b"[" * 14 + b"]" * 14 + b"}")),
    "broken UTF-8": ENVELOPE % b'{"type":"state","seq":1,"ts":"2026-09-07T08:00:00.000Z","device":"d\xff"}',
    "not JSON": b"\x00\x01\x02",
    "a JSON array": b"[1]",
    "a 400-digit version": b'{"v":' + b"9" * 400 + b',"agent":"a1","school":"s1","records":[]}',
    "an agent with a NUL": b'{"v":1,"agent":"a\\u0000","school":"s1","records":[{}]}',
    "10,001 records": ENVELOPE % b",".join([orjson.dumps(good(0))] * 10_001),
}


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        provision(c, day="2026-09-07")
        yield c
    app.state.engine.dispose()


def stored_seqs(engine) -> set[int]:
    """Seqs of the state records in the store, folded into segments or waiting behind a gap."""
    with Session(engine) as s:
        seqs = set(s.scalars(select(PendingRecord.seq).where(PendingRecord.agent == "a1")))
        for first, last in s.execute(select(StateSegment.first_seq, StateSegment.last_seq)):
            seqs |= set(range(first, last + 1))
    return seqs


def dead_letters(engine) -> list[DeadLetter]:
    with Session(engine) as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def post(client, body: bytes):
    return client.post("/api/v1/ingest/records", content=body, headers={**AUTH, "Content-Type": "application/json"})


@pytest.mark.parametrize("hostile", HOSTILE_RECORDS.values(), ids=HOSTILE_RECORDS.keys())
def test_a_hostile_record_is_a_dead_letter_and_the_rest_of_its_batch_is_stored(client, hostile):
    r = post(client, batch(hostile, 0))
    assert r.status_code == 200, r.text
    assert r.json()["dead_letters"] == 1 and r.json()["reasons"]
    assert stored_seqs(client.app.state.engine) == {0}
    (letter,) = dead_letters(client.app.state.engine)
    assert letter.agent == "a1" and letter.reason


@pytest.mark.parametrize("hostile", HOSTILE_PAYLOADS.values(), ids=HOSTILE_PAYLOADS.keys())
def test_an_unusable_payload_is_answered_422_and_kept_as_a_dead_letter(client, hostile):
    r = post(client, hostile)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    (letter,) = dead_letters(client.app.state.engine)
    assert letter.reason and len(letter.raw) <= MAX_DEAD_LETTER_RAW + 100


def test_a_payload_over_the_size_limit_is_refused_413_unread(client):
    huge = ENVELOPE % (b'{"pad":"' + b"x" * MAX_PAYLOAD_BYTES + b'"}')
    assert post(client, huge).status_code == 413
    assert dead_letters(client.app.state.engine) == []


def test_a_read_only_caller_writes_nothing_not_even_a_dead_letter(client):
    user = {"username": "aud", "role": "auditor", "scope_kind": "all"}
    assert client.post("/api/v1/users", headers=AUTH, json=user).status_code == 201
    made = client.post("/api/v1/auth/api-tokens", headers=AUTH, json={"name": "audit", "username": "aud"})
    auditor = {"Authorization": f"Bearer {made.json()['token']}", "Content-Type": "application/json"}
    for body in (b"not json", batch(HOSTILE_RECORDS["NaN"], 0)):
        r = client.post("/api/v1/ingest/records", content=body, headers=auditor)
        assert r.status_code == 403, r.text
    assert dead_letters(client.app.state.engine) == [] and stored_seqs(client.app.state.engine) == set()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = {
    "type": st.sampled_from(["state", "reading"]),
    "seq": st.integers(min_value=0, max_value=2**40),
    "ts": st.sampled_from(["2026-09-07T08:00:00.000+08:00", "2026-09-07T00:00:00Z"]),
    "device": st.sampled_from(["pc1", "pc2"]),
    "state": st.sampled_from(["in_use", "idle", "off", "fault"]),
    "valid_s": st.integers(min_value=1, max_value=86_400),
    "values": st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.floats(-1e9, 1e9), min_size=1),
}
# every field either well formed or any JSON at all, and any extra keys
RECORD = st.fixed_dictionaries({}, optional={k: v | JSON for k, v in FIELDS.items()}).flatmap(
    lambda rec: st.dictionaries(st.text(max_size=8), JSON, max_size=3).map(lambda extra: extra | rec)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(RECORD | JSON, min_size=1, max_size=4))
def test_any_json_beside_a_valid_record_never_answers_5xx_and_the_valid_record_is_stored(client, junk):
    seq = next(GOOD_SEQS)
    body = json.dumps({"v": 1, "agent": "a1", "school": "s1", "records": [*junk, good(seq)]}).encode()  # any int
    r = post(client, body)
    assert r.status_code == 200, r.text
    assert seq in stored_seqs(client.app.state.engine) or r.json()["pending"] >= 1


# --- through the collector --------------------------------------------------------------------------------------


@pytest.fixture
def store_engine(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        provision(c, day="2026-09-07")
    yield app.state.engine
    app.state.engine.dispose()


def start_collector(engine, port: int, client_id: str) -> Collector:
    col = Collector(MqttSettings(port=port, protocol="5"), TelemetryWriter(engine), client_id, CollectorSettings())
    col.start()
    assert col.connected.wait(10)
    return col


def publisher(port: int) -> mqtt.Client:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    return pub


STATUS = "campus/v1/s1/a1/status"
RECORDS = "campus/v1/s1/a1/records"
POISON_STATUS = (
    b'{"v":1,"agent":"a1","school":"s1","online":true,"ts":"2026-09-07T08:00:00.000Z",'
    b'"queue":{"records":' + b"9" * 400 + b"}}"
)


@pytest.mark.mqtt
def test_hostile_messages_and_a_retained_poison_status_never_stall_the_collector(store_engine, mosquitto):
    client_id = f"hostile-{time.monotonic_ns()}"
    col = start_collector(store_engine, mosquitto.port, client_id)
    pub = publisher(mosquitto.port)
    try:
        pub.publish(STATUS, POISON_STATUS, qos=1, retain=True).wait_for_publish(5)
        seq = 0
        for hostile in HOSTILE_RECORDS.values():
            pub.publish(RECORDS, batch(hostile, seq), qos=1).wait_for_publish(5)
            seq += 1
        for hostile in HOSTILE_PAYLOADS.values():
            pub.publish(RECORDS, hostile, qos=1).wait_for_publish(5)
        pub.publish(RECORDS, ENVELOPE % b'"' + b"x" * (12 * 1024 * 1024) + b'"', qos=1).wait_for_publish(20)
        expected = set(range(seq))
        wait_until(lambda: stored_seqs(store_engine) >= expected, 60, "every valid record stored")
        letters = len(HOSTILE_RECORDS) + len(HOSTILE_PAYLOADS) + 2  # the poison status and the 12 MB payload
        wait_until(lambda: len(dead_letters(store_engine)) >= letters, 30, "every hostile message a dead letter")
        assert max(len(d.raw) for d in dead_letters(store_engine)) <= MAX_DEAD_LETTER_RAW + 100
        col.stop()
        # A restarted collector is given the retained poison status again, and goes on.
        col = start_collector(store_engine, mosquitto.port, client_id)
        pub.publish(RECORDS, orjson.dumps({"v": 1, "agent": "a1", "school": "s1", "records": [good(seq)]}), qos=1)
        wait_until(lambda: seq in stored_seqs(store_engine), 30, "a record after the restart stored")
        assert col.counters.write_failures == 0
    finally:
        pub.publish(STATUS, b"", qos=1, retain=True).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        col.stop()


@pytest.mark.mqtt
def test_a_message_the_store_cannot_take_is_retried_alone_then_kept_as_a_dead_letter(store_engine, mosquitto):
    # Fault injection: no payload that passes validation is known to make the store fail, so a hook on the real
    # store's connection fails every statement that carries seq 4242, as a bug or a corrupt page would.
    def values(params) -> list:
        if isinstance(params, dict):
            return list(params.values())
        if isinstance(params, list | tuple):
            return (
                [v for p in params for v in values(p)]
                if params and isinstance(params[0], dict | tuple)
                else list(params)
            )
        return []

    def fail_on_4242(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if "dead_letters" not in statement and 4242 in values(parameters):
            raise RuntimeError("injected failure for seq 4242")

    pub = publisher(mosquitto.port)
    pub.publish(STATUS, b"", qos=1, retain=True).wait_for_publish(5)  # no retained status of other tests
    event.listen(store_engine, "before_cursor_execute", fail_on_4242)
    col = start_collector(store_engine, mosquitto.port, f"poison-{time.monotonic_ns()}")
    try:
        for seq in (1, 4242, 2, 3):
            pub.publish(RECORDS, orjson.dumps({"v": 1, "agent": "a1", "school": "s1", "records": [good(seq)]}), qos=1)
        wait_until(lambda: {1, 2, 3} <= stored_seqs(store_engine), 30, "the other messages stored")
        wait_until(lambda: any("4242" in d.reason for d in dead_letters(store_engine)), 30, "the poison kept")
        (letter,) = [d for d in dead_letters(store_engine) if "injected" in d.reason]
        assert "could not be stored: RuntimeError" in letter.reason and '"seq":4242' in letter.raw
        assert 4242 not in stored_seqs(store_engine)
    finally:
        pub.loop_stop()
        pub.disconnect()
        col.stop()
        event.remove(store_engine, "before_cursor_execute", fail_on_4242)
    assert len([d for d in dead_letters(store_engine) if "injected" in d.reason]) == 1, "retried once alone, kept once"


def test_a_token_bound_to_an_agent_posts_that_agents_records_only(client):
    provision(client, agent="a2", devices=("pc9",))
    user = {"username": "lab-pcs", "role": "school_manager", "scope_kind": "school", "scope_id": "s1"}
    assert client.post("/api/v1/users", headers=AUTH, json=user).status_code == 201
    made = client.post(
        "/api/v1/auth/api-tokens", headers=AUTH, json={"name": "pc", "username": "lab-pcs", "agent": "a1"}
    )
    assert made.status_code == 201 and made.json()["agent"] == "a1"
    a1 = {"Authorization": f"Bearer {made.json()['token']}", "Content-Type": "application/json"}
    assert client.post("/api/v1/ingest/records", content=batch(b"{}", 0), headers=a1).status_code == 200
    as_a2 = orjson.dumps({"v": 1, "agent": "a2", "school": "s1", "records": [{**good(1), "device": "pc9"}]})
    r = client.post("/api/v1/ingest/records", content=as_a2, headers=a1)
    assert r.status_code == 403 and "speaks for agent 'a1' only" in r.text
    assert stored_seqs(client.app.state.engine) == {0}
    other = {"name": "x", "username": "lab-pcs", "agent": "nowhere"}
    assert client.post("/api/v1/auth/api-tokens", headers=AUTH, json=other).status_code == 404


@pytest.fixture(scope="module")
def collector_campus(tmp_path_factory, mosquitto):
    """One store and one collector for many generated examples (SQLite: the embedded default)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'store.db'}"
    app = create_app(url, admin_token=TOKEN)
    with TestClient(app) as c:
        provision(c, day="2026-09-07")
    col = start_collector(app.state.engine, mosquitto.port, f"fuzz-{time.monotonic_ns()}")
    pub = publisher(mosquitto.port)
    yield app.state.engine, col, pub
    pub.loop_stop()
    pub.disconnect()
    col.stop()
    app.state.engine.dispose()


@pytest.mark.mqtt
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(RECORD | JSON, min_size=1, max_size=3), min_size=1, max_size=8), junk=JSON)
def test_any_json_through_the_collector_never_stalls_it_and_every_valid_record_is_stored(
    collector_campus, batches, junk
):
    engine, col, pub = collector_campus
    seqs = []
    pub.publish(RECORDS, json.dumps(junk).encode(), qos=1)  # a payload that is any JSON at all
    for records in batches:
        seq = next(GOOD_SEQS)
        seqs.append(seq)
        body = {"v": 1, "agent": "a1", "school": "s1", "records": [*records, good(seq)]}
        pub.publish(RECORDS, json.dumps(body).encode(), qos=1)
    wait_until(lambda: set(seqs) <= stored_seqs(engine), 30, "every valid record of every batch stored")
    assert col.counters.write_failures == 0


def test_a_nul_character_anywhere_a_user_types_is_a_422_on_both_stores(client):
    """On PostgreSQL a NUL in a query parameter, a path id or a text field was a 500 (the database refuses it)."""
    for method, path, kw in (
        (
            "get",
            "/api/v1/utilization",
            {"params": {"scope": "school", "id": "s1\x00", "from": "2026-09-07", "to": "2026-09-08"}},
        ),
        ("get", "/api/v1/schools/s1%00x/devices", {}),
        ("put", "/api/v1/schools/s9", {"json": {"name": "一\x00中", "stage": "junior"}}),
        ("post", "/api/v1/auth/token", {"data": {"username": "a\x00b", "password": "x"}}),
    ):
        r = getattr(client, method)(path, headers=AUTH, **kw)
        assert r.status_code == 422 and "NUL" in r.text, (path, r.status_code, r.text)
    assert client.get("/api/v1/schools/s9", headers=AUTH).status_code == 404, "nothing was written"


def test_a_username_longer_than_any_user_is_a_wrong_login_not_a_500(client):
    r = client.post("/api/v1/auth/token", data={"username": "u" * 300, "password": "x"})
    assert r.status_code == 401 and "wrong username or password" in r.text


def test_dates_outside_the_supported_range_are_refused_at_the_door(client):
    """A teaching day in year 1 or 1969 made district and city insights answer 422 for everyone afterwards."""
    periods = {"periods": [["08:00", "08:45"]]}
    for day in ("0001-01-01", "1969-12-31", "2100-01-01"):
        r = client.put(f"/api/v1/schools/s1/calendar/{day}", json=periods, headers=AUTH)
        assert r.status_code == 422 and "outside the supported dates" in r.text, (day, r.text)
    line = {"catalog_code": "A", "name": "A", "quantity": 1, "unit": "台", "unit_value": "1", "status": "完好"}
    r = client.put("/api/v1/schools/s1/equipment/x", json=line | {"purchase_date": "9999-01-01"}, headers=AUTH)
    assert r.status_code == 422 and "outside the supported dates" in r.text
    r = client.get("/api/v1/insights/idle", params={"scope": "city", "id": ""}, headers=AUTH)
    assert r.status_code == 200, r.text
