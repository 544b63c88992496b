"""The store through the HTTP API, on SQLite and on the real PostgreSQL."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.app import create_app
from campuspulse.store.schema import SeqGap, StateSegment
from campuspulse.store.state_segments import StateFact, fold_in_order
from campuspulse.telemetry import StatusPayload, format_ts, parse_ts
from tests.support.campus import AUTH, TOKEN, chunks, payload, provision, worked_example_records
from tests.support.waiting import wait_until

DAY = {"scope": "device", "id": "s1/pc1", "from": "2026-09-07", "to": "2026-09-08"}


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        provision(c)
        yield c
    app.state.engine.dispose()


def segments(client) -> list[tuple]:
    with Session(client.app.state.engine) as s:
        return [
            (g.device, g.state, g.start_ms, g.end_ms, g.first_seq, g.last_seq, g.records)
            for g in s.scalars(select(StateSegment).order_by(StateSegment.device, StateSegment.start_ms))
        ]


def figures(client, **query) -> dict:
    r = client.get("/api/v1/utilization", params={**DAY, **query}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()["rows"][0]


def post(client, records, **kw):
    r = client.post("/api/v1/ingest/records", json=payload(records, **kw), headers=AUTH)
    assert r.status_code in (200, 422), r.text
    return r.json()


def test_worked_example_through_the_api(client):
    for batch in chunks(worked_example_records(), 10):
        post(client, batch)
    row = figures(client)
    assert (row["available_s"], row["in_use_s"], row["known_s"]) == (5400, 1980, 3180)
    assert (row["utilization"], row["utilization_known"], row["coverage"]) == (0.366667, 0.622642, 0.588889)
    assert (row["sessions"], row["used_periods"], row["available_periods"]) == (2, 1, 2)
    assert len(segments(client)) == 4, "heartbeats extend segments instead of adding rows"


def test_redelivered_batches_change_no_segment(client):
    batches = chunks(worked_example_records(), 7)
    for b in batches:
        post(client, b)
    before, fig = segments(client), figures(client)
    for b in batches:
        assert post(client, b)["duplicates"] == len(b)
    assert segments(client) == before
    assert figures(client) == fig


def test_out_of_order_delivery_gives_the_in_order_segments(client):
    records = worked_example_records()
    in_order = fold_in_order([StateFact(r["seq"], parse_ts(r["ts"]), r["state"], 180_000) for r in records])
    shuffled = chunks(records, 9)
    random.Random(7).shuffle(shuffled)
    results = [post(client, b) for b in shuffled]
    assert any(r["pending"] for r in results), "some batches had to wait behind a gap"
    assert [(g[1], g[2], g[3], g[4], g[5], g[6]) for g in segments(client)] == [
        (g.state, g.start_ms, g.end_ms, g.first_seq, g.last_seq, g.records) for g in in_order
    ]
    row = figures(client)
    assert (row["in_use_s"], row["known_s"], row["sessions"]) == (1980, 3180, 2)


@pytest.mark.parametrize("batch", [400, 37])
def test_records_earlier_than_a_devices_segments_within_a_batch_give_the_time_ordered_segments(client, batch):
    """In seq order but not all in time order, across devices: one transaction mixes new segments, extensions of
    segments written earlier in it, and folds into the rows before them; the result is the time-ordered fold."""
    rnd = random.Random(batch)
    devices = ["pc1", "pc2", "pc3"]
    provision(client, devices=tuple(devices))
    start = parse_ts("2026-09-07T08:00:00+08:00")
    clock, early = dict.fromkeys(devices, start + 6 * 3600_000), dict.fromkeys(devices, start)
    state = dict.fromkeys(devices, "idle")
    records = []
    for seq in range(400):
        d = rnd.choice(devices)
        if rnd.random() < 0.15:
            state[d] = rnd.choice(["in_use", "idle", "off"])
        if rnd.random() < 0.1:  # a record from hours before the device's other ones, in a time nothing covers
            early[d] += 600_000
            ts = early[d]
        else:
            clock[d] += 60_000
            ts = clock[d]
        records.append(
            {"type": "state", "seq": seq, "ts": format_ts(ts), "device": d, "state": state[d], "valid_s": 180}
        )
    for part in chunks(records, batch):
        assert post(client, part)["stored"] == len(part)
    expected = [
        (d, g.state, g.start_ms, g.end_ms, g.first_seq, g.last_seq, g.records)
        for d in devices
        for g in fold_in_order(
            [StateFact(r["seq"], parse_ts(r["ts"]), r["state"], 180_000) for r in records if r["device"] == d]
        )
    ]
    assert segments(client) == expected


def test_a_malformed_record_goes_to_dead_letters_and_the_rest_is_stored(client):
    records = worked_example_records()[:5]
    bad = dict(records[2], ts="2026-09-07T07:52:00")  # naive: breaks the contract
    answer = post(client, [records[0], records[1], bad, records[3], records[4]])
    assert answer["stored"] == 4 and answer["dead_letters"] == 1
    assert answer["pending"] == 0, "a rejected record leaves no gap to wait behind"
    assert "records[2].ts" in answer["reasons"][0] and "naive" in answer["reasons"][0]
    (dl,) = client.get("/api/v1/dead-letters", headers=AUTH).json()["dead_letters"]
    assert dl["agent"] == "a1" and "naive" in dl["reason"] and "07:52:00" in dl["raw"]


def test_records_of_an_unregistered_agent_are_rejected_not_stored(client):
    r = client.post("/api/v1/ingest/records", json=payload(worked_example_records()[:3], agent="ghost"), headers=AUTH)
    assert r.status_code == 422 and "not registered" in r.text
    assert segments(client) == []


def test_a_gap_is_waited_for_then_declared_lost_and_a_very_late_record_still_counts(client):
    records = worked_example_records()
    missing = records[30]  # 08:20, inside the in_use run
    post(client, records[:30])
    assert post(client, records[31:])["pending"] == len(records) - 31
    health = client.get("/api/v1/agents/a1", headers=AUTH).json()
    assert health["waiting_for"] == [30, 30] and health["settled_through_seq"] == 29
    before_settle = figures(client)["known_s"]
    writer = client.app.state.writer
    assert writer.settle_stale_gaps(datetime.now(UTC) + timedelta(hours=1)) == 1
    health = client.get("/api/v1/agents/a1", headers=AUTH).json()
    assert health["gaps"] == [{"first_seq": 30, "last_seq": 30, "reason": "lost"}], "possible data loss is reported"
    assert health["waiting_for"] is None and health["settled_through_seq"] == len(records) - 1
    assert figures(client)["known_s"] > before_settle
    assert figures(client)["in_use_s"] == 1980  # heartbeats every 60 s with valid_s 180 bridge one lost record
    assert post(client, [missing])["stored"] == 1
    with Session(client.app.state.engine) as s:
        assert s.scalars(select(SeqGap)).all() == []
    assert figures(client)["in_use_s"] == 1980


def test_seqs_the_agent_announced_as_dropped_are_not_waited_for(client):
    records = worked_example_records()
    post(client, records[:10])
    assert post(client, records[15:])["pending"] == len(records) - 15
    status = StatusPayload(agent="a1", school="s1", online=True, ts="2026-09-07T09:10:00.000+08:00", dropped=[(10, 14)])
    assert client.app.state.writer.apply_status(status, "test") is None
    assert figures(client)["in_use_s"] == 1980


def test_requests_without_the_token_are_refused(client):
    assert client.get("/api/v1/utilization", params=DAY).status_code == 401
    assert client.get("/api/v1/utilization", params=DAY, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_bad_provisioning_input_names_what_was_expected(client):
    r = client.put("/api/v1/schools/s1/calendar/2026-09-08", headers=AUTH, json={"periods": [["9:00", "08:45"]]})
    assert r.status_code == 422 and "HH:MM" in r.text
    r = client.put("/api/v1/schools/s9/devices/x", headers=AUTH, json={"agent": "a1", "room": "r", "kind": "k"})
    assert r.status_code == 404 and "school 's9' does not exist" in r.text
    r = client.put(
        "/api/v1/schools/s1",
        headers=AUTH,
        json={"name": "x", "district": "d1", "stage": "junior", "tz": "Mars/Olympus"},
    )
    assert r.status_code == 422 and "IANA" in r.text


def test_a_school_in_another_time_zone_reads_dates_locally(client):
    provision(client, school="s2", agent="a2", devices=("pc9",), tz="Europe/Berlin")
    start = parse_ts("2026-09-07T08:00:00+02:00")  # in use for an hour of Berlin time, silent from 09:02
    recs = [
        {
            "type": "state",
            "seq": i,
            "ts": format_ts(start + i * 60_000),
            "device": "pc9",
            "state": "in_use",
            "valid_s": 180,
        }
        for i in range(60)
    ]
    post(client, recs, agent="a2", school="s2")
    row = figures(client, id="s2/pc9")
    assert (row["available_s"], row["in_use_s"], row["sessions"], row["used_periods"]) == (5400, 2700 + 120, 1, 1)


def test_the_server_itself_settles_gaps_of_records_sent_over_http(store_url):
    app = create_app(store_url, admin_token=TOKEN, reorder_window_s=0.5, settle_every_s=0.2)
    with TestClient(app) as c:
        provision(c)
        records = worked_example_records()
        post(c, records[:30])
        assert post(c, records[31:])["pending"] == len(records) - 31
        wait_until(lambda: c.get("/api/v1/agents/a1", headers=AUTH).json()["gaps"] != [], 10, "the gap settled")
        health = c.get("/api/v1/agents/a1", headers=AUTH).json()
        assert health["gaps"] == [{"first_seq": 30, "last_seq": 30, "reason": "lost"}]
        assert health["settled_through_seq"] == len(records) - 1 and health["pending_records"] == 0
    app.state.engine.dispose()


def test_records_for_devices_not_bound_to_the_agent_are_refused_with_the_reason(client):
    provision(client, agent="a2", devices=("pc9",))  # pc9 belongs to a2 of the same school
    records = worked_example_records()[:3]
    records[1] = {**records[1], "device": "pc9"}
    records[2] = {**records[2], "device": "nowhere"}
    got = post(client, records)
    assert (got["stored"], got["dead_letters"]) == (1, 2)
    assert any("'pc9' is not bound to agent 'a1': it is bound to agent 'a2'" in r for r in got["reasons"])
    assert any("'nowhere' is not bound to agent 'a1': the school has no such device" in r for r in got["reasons"])
    assert post(client, worked_example_records()[3:4])["pending"] == 0, "the refused seqs are no gap to wait for"
    assert {d for d, *_ in segments(client)} == {"pc1"}
    r = client.put(
        "/api/v1/schools/s1/devices/nowhere", headers=AUTH, json={"agent": "a1", "room": "lab1", "kind": "lab_pc"}
    )
    assert r.status_code in (200, 201)
    late = {**worked_example_records()[4], "device": "nowhere"}
    assert post(client, [late])["stored"] == 1, "a device bound a moment ago is known at once"


def renumbered(records: list[dict], first: int = 0) -> list[dict]:
    return [{**r, "seq": first + i} for i, r in enumerate(records)]


def health(client) -> dict:
    r = client.get("/api/v1/agents/a1", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_new_epoch_stores_its_records_though_its_seqs_start_at_0_again(client):
    """A reimaged lab PC: the old queue's records carry no epoch, the new queue's start at seq 0 in an epoch."""
    records = worked_example_records()
    post(client, records[:40])
    got = post(client, renumbered(records[40:]), epoch="pc1-reimaged")
    assert (got["stored"], got["duplicates"]) == (len(records) - 40, 0)
    assert figures(client)["in_use_s"] == 1980, "the same figures as one queue sending everything"
    h = health(client)
    assert [e["epoch"] for e in h["epochs"]] == ["", "pc1-reimaged"]
    assert (h["epoch"], h["settled_through_seq"]) == ("pc1-reimaged", len(records) - 41)
    assert h["epochs"][0]["settled_through_seq"] == 39
    again = post(client, renumbered(records[40:45]), epoch="pc1-reimaged")
    assert (again["stored"], again["duplicates"]) == (0, 5), "within an epoch, (agent, epoch, seq) is the identity"


def test_the_old_epochs_late_records_are_stored_and_its_missing_ones_become_lost(client):
    records = worked_example_records()
    post(client, records[:10])
    assert post(client, records[15:20])["pending"] == 5  # seqs 10..14 of the old queue are missing
    post(client, renumbered(records[20:]), epoch="e2")
    late = post(client, records[10:12])
    assert (late["stored"], late["duplicates"]) == (2, 0), "late records of the old epoch are still stored"
    assert post(client, records[5:6])["duplicates"] == 1, "and deduplicated"
    assert client.app.state.writer.settle_stale_gaps(datetime.now(UTC) + timedelta(hours=1)) == 3
    old, new = health(client)["epochs"]
    assert old["gaps"] == [{"first_seq": 12, "last_seq": 14, "reason": "lost"}] and old["pending_records"] == 0
    assert new["gaps"] == [] and new["settled_through_seq"] == len(records) - 21


def test_time_inferred_around_a_very_late_record_is_answered_as_approximate(client):
    records = worked_example_records()
    late = dict(records[30], state="idle")  # 08:20, inside the in_use run, in another state than its neighbours
    post(client, records[:30])
    post(client, records[31:])
    client.app.state.writer.settle_stale_gaps(datetime.now(UTC) + timedelta(hours=1))
    exact = figures(client)
    assert exact["approximate_s"] == 0, "in-order records infer nothing"
    assert post(client, [late])["stored"] == 1
    row = figures(client)
    # the idle record's 180 s replace in_use time; its span is inferred: the in_use heartbeats folded before it
    # no longer tell where they were, so the state up to 180 s after it is the fold's guess
    assert (row["in_use_s"], row["known_s"], row["approximate_s"]) == (1800, 3180, 180)
    line = client.get(
        "/api/v1/schools/s1/devices/pc1/timeline", params={"from": "2026-09-07", "to": "2026-09-08"}, headers=AUTH
    ).json()
    guessed = [(p["state"], p["start"][11:19]) for p in line["pieces"] if p["approximate"]]
    assert guessed == [("idle", "00:20:00")], "the inferred piece is marked on the timeline (times in UTC)"
    assert line["approximate_s"] == 180


def test_what_the_agent_sent_and_the_store_never_received_is_declared_lost_not_silently_missing(client):
    records = worked_example_records()
    writer = client.app.state.writer
    post(client, records[:50])  # the broker acknowledged 0..65 to the agent, then lost 50..65 (nothing follows)
    dropped_tail = [(60, 61)]  # two readings the agent itself discarded, and announced
    status = StatusPayload(
        agent="a1", school="s1", online=True, ts="2026-09-07T09:10:00.000+08:00", sent_through=65, dropped=dropped_tail
    )
    assert writer.apply_status(status, "test") is None
    health = client.get("/api/v1/agents/a1", headers=AUTH).json()
    assert health["sent_through_seq"] == 65 and health["unreceived_since"] is not None
    assert writer.settle_stale_gaps(datetime.now(UTC)) == 0, "within the reorder window it is only in flight"
    assert writer.settle_stale_gaps(datetime.now(UTC) + timedelta(hours=1)) == 14
    health = client.get("/api/v1/agents/a1", headers=AUTH).json()
    assert health["gaps"] == [
        {"first_seq": 50, "last_seq": 59, "reason": "lost"},
        {"first_seq": 60, "last_seq": 61, "reason": "dropped"},
        {"first_seq": 62, "last_seq": 65, "reason": "lost"},
    ]
    assert health["settled_through_seq"] == 65 and health["unreceived_since"] is None
    assert post(client, records[50:52])["stored"] == 2, "a lost record that turns up after all still counts"
    assert post(client, records[66:])["pending"] == 0, "the next records settle at once"
    assert client.get("/api/v1/agents/a1", headers=AUTH).json()["gaps"][0] == {
        "first_seq": 52,
        "last_seq": 59,
        "reason": "lost",
    }


def test_records_in_flight_behind_a_status_are_not_declared_lost(client):
    records = worked_example_records()
    writer = client.app.state.writer
    post(client, records[:10])
    status = StatusPayload(agent="a1", school="s1", online=True, ts="2026-09-07T09:10:00.000+08:00", sent_through=30)
    writer.apply_status(status, "test")
    post(client, records[10:31])  # they were in flight: the status overtook them
    assert writer.settle_stale_gaps(datetime.now(UTC) + timedelta(hours=1)) == 0
    later = StatusPayload(agent="a1", school="s1", online=True, ts="2026-09-07T09:20:00.000+08:00", sent_through=50)
    writer.apply_status(later, "test")
    assert writer.settle_stale_gaps(datetime.now(UTC)) == 0, "a new tail waits its own reorder window"
    assert client.get("/api/v1/agents/a1", headers=AUTH).json()["gaps"] == []
