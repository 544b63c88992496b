"""The agent queue's disk bound: readings are thinned, states kept, every discarded seq announced."""

import asyncio
from pathlib import Path

import orjson
import pytest
from sqlalchemy.orm import Session

from campuspulse.edge.publisher import Publisher
from campuspulse.edge.queue import RecordQueue
from campuspulse.server.inventory import service
from campuspulse.settings import MqttSettings
from campuspulse.store.db import open_store
from campuspulse.store.health import agent_health
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.telemetry import StatusPayload, format_ts, parse_records_payload, parse_ts
from campuspulse.telemetry.timestamps import ms_to_datetime
from tests.support.mosquitto import free_port

T0 = 1788739200000


def workload(minutes: int, devices: int = 20) -> list[dict]:
    out = []
    for m in range(minutes):
        for s in range(0, 60, 5):
            ts = format_ts(T0 + (m * 60 + s) * 1000)
            for d in range(devices):
                if s == 0:
                    out.append({"type": "state", "ts": ts, "device": f"d{d}", "state": "in_use", "valid_s": 180})
                out.append({"type": "reading", "ts": ts, "device": f"d{d}", "values": {"power_w": 80.0 + d}})
    return out


def fill(queue: RecordQueue, records: list[dict]) -> None:
    for i in range(0, len(records), 200):
        queue.append(records[i : i + 200])


def test_a_full_queue_thins_readings_keeps_states_and_accounts_for_every_seq(tmp_path: Path):
    records = workload(30)
    queue = RecordQueue(tmp_path / "q.db", max_bytes=400_000)
    fill(queue, records)
    kept = {r["seq"]: r for r in queue.peek(10**6)}
    dropped = [seq for lo, hi in queue.dropped_ranges() for seq in range(lo, hi + 1)]
    assert queue.used_bytes() <= 400_000
    assert queue.dropped_records == len(dropped) > 0
    assert sorted([*kept, *dropped]) == list(range(len(records))), "every seq is queued or announced, once"
    assert all(records[seq]["type"] == "reading" for seq in dropped), "state records are never discarded"
    assert sum(r["type"] == "state" for r in kept.values()) == sum(r["type"] == "state" for r in records)


def test_ranges_the_broker_acknowledged_are_forgotten_and_new_ones_announced(tmp_path: Path):
    queue = RecordQueue(tmp_path / "q.db", max_bytes=400_000)
    fill(queue, workload(30))
    announced = queue.dropped_ranges()
    assert announced
    queue.forget_dropped(announced)  # the publisher does this once a status carrying them was acknowledged
    assert queue.dropped_ranges() == []
    fill(queue, workload(30))
    again = queue.dropped_ranges()
    old = {seq for lo, hi in announced for seq in range(lo, hi + 1)}
    assert again and not any(lo <= seq <= hi for lo, hi in again for seq in old), "only the new discards"


def test_the_agent_metrics_count_discarded_readings(tmp_path: Path):
    from prometheus_client import generate_latest

    from campuspulse.edge.agent import EdgeAgent
    from campuspulse.edge.metrics import registry_for
    from campuspulse.edge.settings import AgentSettings
    from campuspulse.settings import MqttSettings

    settings = AgentSettings(
        id="a1",
        school="s1",
        queue_path=tmp_path / "q.db",
        queue_max_mb=0.3,
        devices=[{"id": "d0", "source": {"driver": "simulated"}}],
    )
    agent = EdgeAgent(settings, MqttSettings())
    fill(agent.queue, workload(30))
    text = generate_latest(registry_for(agent)).decode()
    assert f"campuspulse_agent_dropped_readings_total {float(agent.queue.dropped_records)}" in text
    assert agent.queue.dropped_records > 0 and "campuspulse_agent_queue_bytes" in text
    agent.queue.close()


def test_without_a_bound_nothing_is_discarded(tmp_path: Path):
    queue = RecordQueue(tmp_path / "q.db")
    fill(queue, workload(5))
    assert queue.dropped_ranges() == [] and queue.dropped_records == 0


def test_the_store_counts_announced_ranges_as_dropped_not_lost(tmp_path: Path):
    queue = RecordQueue(tmp_path / "q.db", max_bytes=300_000)
    fill(queue, workload(20, devices=10))
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        service.put_school(s, "s1", {"name": "s1", "district": "d", "stage": "junior", "tz": "Asia/Shanghai"})
        service.put_agent(s, "a1", "s1")
        for d in range(10):
            service.put_device(s, "s1", f"d{d}", {"agent": "a1", "room": "lab", "kind": "pc"})
    writer = TelemetryWriter(engine, reorder_window_s=3600)
    status = StatusPayload.model_validate(
        {"v": 1, "agent": "a1", "school": "s1", "online": True, "ts": format_ts(T0), "dropped": queue.dropped_ranges()}
    )
    assert writer.apply_status(status, "test") is None
    kept = queue.peek(10**6)
    for i in range(0, len(kept), 1000):
        body = orjson.dumps({"v": 1, "agent": "a1", "school": "s1", "records": kept[i : i + 1000]})
        writer.ingest(parse_records_payload(body), "test")
    with Session(engine) as s:
        health = agent_health(s, "a1")
    assert health is not None
    assert health["settled_through_seq"] == queue.next_seq - 1 and health["pending_records"] == 0
    assert {g["reason"] for g in health["gaps"]} == {"dropped"}
    engine.dispose()


def test_the_status_tells_the_queue_depth_and_the_store_keeps_it(tmp_path: Path):
    queue = RecordQueue(tmp_path / "q.db")
    fill(queue, workload(3, devices=2))
    publisher = Publisher(MqttSettings(), "a1", "s1", queue, ["d0", "d1"])
    status = StatusPayload.model_validate(orjson.loads(publisher._status(True)))
    assert status.queue is not None and status.queue.records == len(queue) > 0
    assert status.queue.oldest_ts == parse_ts(queue.oldest_ts() or "")
    assert "queue" not in orjson.loads(publisher._status(False, queue=False)), "the Last Will tells no depth"
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        service.put_school(s, "s1", {"name": "s1", "district": "d", "stage": "junior", "tz": "Asia/Shanghai"})
        service.put_agent(s, "a1", "s1")
    assert TelemetryWriter(engine).apply_status(status, "test") is None
    with Session(engine) as s:
        health = agent_health(s, "a1")
    assert health is not None and health["queue_records"] == len(queue)
    assert health["queue_oldest"] is not None and parse_ts(health["queue_oldest"]) == status.queue.oldest_ts
    engine.dispose()


def test_a_queue_that_cannot_be_written_holds_records_in_memory_until_it_can(tmp_path: Path, caplog):
    """The queue's file is made full with SQLite's own page limit: the same SQLITE_FULL error a full disk
    gives (the chaos suite fills a real tmpfs under a whole agent process: tests/chaos/test_agent_faults.py)."""
    from prometheus_client import generate_latest

    from campuspulse.edge.agent import EdgeAgent
    from campuspulse.edge.metrics import registry_for
    from campuspulse.edge.settings import AgentSettings

    settings = AgentSettings(
        id="a1", school="s1", queue_path=tmp_path / "q.db", devices=[{"id": "d0", "source": {"driver": "simulated"}}]
    )
    agent = EdgeAgent(settings, MqttSettings())
    records = workload(6, devices=5)
    agent.enqueue(records[:100])
    agent.flush()
    pages = agent.queue.db.execute("PRAGMA page_count").fetchone()[0]
    agent.queue.db.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(100, len(records), 100):  # the disk is full: every commit fails, nothing is lost
        agent.enqueue(records[i : i + 100])
        agent.flush()
    assert agent.queue_write_errors > 0 and agent.queue.next_seq == 100
    assert "cannot write the queue" in caplog.text
    text = generate_latest(registry_for(agent)).decode()
    assert f"campuspulse_agent_held_records {float(len(records) - 100)}" in text
    assert f"campuspulse_agent_queue_write_failures {float(agent.queue_write_errors)}" in text
    agent.queue.db.execute("PRAGMA max_page_count = 1073741823")  # space again
    agent.flush()
    assert agent.queue_write_errors == 0 and agent.readings_shed == 0
    queued = agent.queue.peek(10**6)
    assert [r["seq"] for r in queued] == list(range(len(records)))
    assert [(r["type"], r["ts"], r["device"]) for r in queued] == [(r["type"], r["ts"], r["device"]) for r in records]
    agent.queue.close()


def test_memory_held_while_the_queue_is_full_is_bounded_by_shedding_readings(tmp_path: Path, monkeypatch):
    from campuspulse.edge import agent as agent_module
    from campuspulse.edge.settings import AgentSettings

    monkeypatch.setattr(agent_module, "HELD_LIMIT", 500)
    settings = AgentSettings(
        id="a1", school="s1", queue_path=tmp_path / "q.db", devices=[{"id": "d0", "source": {"driver": "simulated"}}]
    )
    agent = agent_module.EdgeAgent(settings, MqttSettings())
    pages = agent.queue.db.execute("PRAGMA page_count").fetchone()[0]
    agent.queue.db.execute(f"PRAGMA max_page_count = {pages}")
    records = workload(10, devices=5)
    for i in range(0, len(records), 100):
        agent.enqueue(records[i : i + 100])
        agent.flush()
    states = [r for r in records if r["type"] == "state"]
    assert agent.readings_shed > 0
    agent.queue.db.execute("PRAGMA max_page_count = 1073741823")
    agent.flush()
    queued = agent.queue.peek(10**6)
    assert [r for r in queued if r["type"] == "state"] == [
        {**s, "seq": q["seq"]} for s, q in zip(states, [r for r in queued if r["type"] == "state"], strict=True)
    ], "every state record kept, in order"
    assert len(queued) == len(records) - agent.readings_shed
    agent.queue.close()


def test_acknowledged_records_that_cannot_be_removed_are_not_published_again(tmp_path: Path, caplog):
    """`PRAGMA query_only` makes the delete fail as a full disk does (with WAL, a delete needs new log pages)."""
    queue = RecordQueue(tmp_path / "q.db")
    queue.append(workload(2, devices=5))
    total = len(queue)
    first = queue.peek_raw(10)
    assert first is not None
    queue.db.execute("PRAGMA query_only = 1")
    queue.remove_through(first[0])
    assert "cannot remove acknowledged records" in caplog.text
    second = queue.peek_raw(10)
    assert second is not None and orjson.loads(second[1][0])["seq"] == first[0] + 1, "the acked batch is not sent again"
    assert len(queue) == total - 10 and queue.oldest_ts() == orjson.loads(second[1][0])["ts"]
    queue.db.execute("PRAGMA query_only = 0")
    queue.remove_through(second[0])
    assert queue.db.execute("SELECT min(seq) FROM records").fetchone()[0] == second[0] + 1, "both batches removed"
    queue.close()


@pytest.mark.parametrize("part", ["publisher", "flusher"])
def test_an_agent_whose_publisher_or_flusher_fails_ends_with_that_error(tmp_path: Path, monkeypatch, part):
    """An unexpected error (injected here: none can be caused from outside) must not leave an agent that
    observes but never publishes, nor one that exits as if it had been asked to."""
    from campuspulse.edge.agent import EdgeAgent
    from campuspulse.edge.settings import AgentSettings

    settings = AgentSettings(
        id="a1",
        school="s1",
        queue_path=tmp_path / "q.db",
        devices=[{"id": "d0", "poll_s": 0.1, "source": {"driver": "simulated"}}],
    )
    agent = EdgeAgent(settings, MqttSettings(port=free_port()))

    async def broken(*_: object) -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError(f"the {part} broke")

    if part == "publisher":
        monkeypatch.setattr(agent.publisher, "run", broken)
    else:
        monkeypatch.setattr(agent, "_flush_every", broken)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(10, stop.set)
        await agent.run(stop)

    with pytest.raises(RuntimeError, match=f"the {part} broke"):
        asyncio.run(main())


def test_an_agent_whose_queue_disk_refuses_says_so_to_the_server(tmp_path: Path):
    """Full disk → the status carries since when and how much is held → the store keeps it → agent health and the
    dashboard's agent table show it; writable again → cleared."""
    from campuspulse.edge.agent import EdgeAgent
    from campuspulse.edge.settings import AgentSettings
    from campuspulse.server.web.i18n import Text
    from campuspulse.server.web.pages import templates

    settings = AgentSettings(
        id="a1", school="s1", queue_path=tmp_path / "q.db", devices=[{"id": "d0", "source": {"driver": "simulated"}}]
    )
    agent = EdgeAgent(settings, MqttSettings(), clock=lambda: T0 / 1000)
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        service.put_school(s, "s1", {"name": "s1", "district": "d", "stage": "junior", "tz": "Asia/Shanghai"})
        service.put_agent(s, "a1", "s1")
    writer = TelemetryWriter(engine)
    agents_table = templates.env.get_template("_agents.html")

    def report() -> dict:
        status = StatusPayload.model_validate(orjson.loads(agent.publisher._status(True)))
        assert writer.apply_status(status, "test") is None
        with Session(engine) as s:
            health = agent_health(s, "a1")
        assert health is not None
        return health

    records = workload(2, devices=5)
    agent.queue.db.execute(f"PRAGMA max_page_count = {agent.queue.db.execute('PRAGMA page_count').fetchone()[0]}")
    for i in range(0, len(records), 50):
        agent.enqueue(records[i : i + 50])
        agent.flush()
    assert agent.publisher.status_changed, "the failure is announced with the next status, not a minute later"
    health = report()
    assert health["queue_unwritable_since"] == ms_to_datetime(T0).isoformat()
    assert health["queue_held"] == len(records)
    html = agents_table.render(agents=[health], t=Text("en"))
    assert "disk full" in html and f"held in memory: {len(records)}" in html
    agent.publisher.status_changed = False
    agent.queue.db.execute("PRAGMA max_page_count = 1073741823")
    agent.flush()
    assert agent.publisher.status_changed, "and so is the recovery"
    health = report()
    assert health["queue_unwritable_since"] is None and health["queue_held"] == 0
    assert health["queue_records"] == len(records)
    assert "disk full" not in agents_table.render(agents=[health], t=Text("en"))
    agent.queue.close()
    engine.dispose()


def test_each_new_queue_file_is_a_new_epoch_and_keeps_it(tmp_path: Path):
    import re
    import sqlite3

    first = RecordQueue(tmp_path / "q.db")
    epoch = first.epoch
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", epoch)
    first.append(workload(1, devices=1))
    first.db.close()
    assert RecordQueue(tmp_path / "q.db").epoch == epoch, "reopened, the queue keeps its epoch"
    assert RecordQueue(tmp_path / "other.db").epoch not in ("", epoch), "a new file, a new epoch"
    old = sqlite3.connect(tmp_path / "before-epochs.db")  # a queue file an agent made before there were epochs
    old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    old.execute("INSERT INTO meta VALUES ('next_seq', 42)")
    old.commit()
    old.close()
    legacy = RecordQueue(tmp_path / "before-epochs.db")
    assert (legacy.epoch, legacy.next_seq) == ("", 42), "its seqs go on as they were, in the epoch ''"


def test_a_batch_stays_under_the_payload_limit_whatever_its_record_count(tmp_path: Path):
    queue = RecordQueue(tmp_path / "q.db")
    values = {f"v{i}": 1.0e300 + i for i in range(64)}  # 64 values of 25 digits each: ~2 KB a record
    ts = format_ts(T0)
    queue.append([{"type": "reading", "ts": ts, "device": "d1", "values": values} for _ in range(10_000)])
    last, records = queue.peek_raw(10_000)
    assert 1_000 < len(records) < 10_000 and sum(len(r) + 1 for r in records) <= 4 * 1024 * 1024
    assert last == len(records) - 1, "the batch ends where the next one begins"


def test_more_dropped_ranges_than_one_status_holds_go_out_oldest_first_in_successive_statuses(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setattr("campuspulse.edge.queue.MAX_ANNOUNCED_RANGES", 5)
    queue = RecordQueue(tmp_path / "q.db", max_bytes=400_000)
    fill(queue, workload(30))
    announced: list[list[int]] = []
    while ranges := queue.dropped_ranges():
        assert len(ranges) <= 5
        assert not announced or ranges[0][0] > announced[-1][1], "oldest first: each status goes on from the last"
        queue.dropped_changed = False
        queue.forget_dropped(ranges)  # the broker acknowledged the status
        announced += ranges
        if queue.dropped_ranges():
            assert queue.dropped_changed, "the rest is announced in the next status, not a minute later"
    dropped = [seq for lo, hi in announced for seq in range(lo, hi + 1)]
    assert len(announced) > 5 and len(dropped) == queue.dropped_records


def test_the_status_says_up_to_which_seq_everything_left_the_queue(tmp_path: Path):
    queue = RecordQueue(tmp_path / "q.db", max_bytes=400_000)
    publisher = Publisher(MqttSettings(), "a1", "s1", queue, ["d0"])
    assert "sent_through" not in orjson.loads(publisher._status(True)), "nothing made, nothing sent"
    fill(queue, workload(30))  # over the bound: the oldest readings are thinned
    first_kept = queue.peek(1)[0]["seq"]
    assert queue.sent_through() == first_kept - 1
    queue.remove_through(first_kept + 9)  # the broker acknowledged ten more
    status = orjson.loads(publisher._status(True))
    assert status["sent_through"] == queue.peek(1)[0]["seq"] - 1 >= first_kept + 9
    queue.remove_through(queue.next_seq - 1)
    assert queue.sent_through() == queue.next_seq - 1, "an empty queue has sent everything it made"
    assert "sent_through" not in orjson.loads(publisher._status(False, queue=False)), "nor does the Last Will say"
