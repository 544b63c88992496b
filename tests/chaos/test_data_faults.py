"""Chaos from the data and the people: a retained poison status across a collector restart, an agent whose queue
file is deleted mid-stream, two collectors sharing a subscription while the agent drops readings, and a school's
100,000-line equipment import during ingest. Each ends with the rig's exact accounting table."""

import multiprocessing
import os
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.inventory import service as inventory
from campuspulse.store.schema import DeadLetter, SeqGap
from tests.bench.bench_import import _import, workbook
from tests.chaos.rig import Rig
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
IMPORT_LINES = int(os.environ.get("CAMPUSPULSE_CHAOS_IMPORT_LINES", "100000"))
DROP_OUTAGE_S = float(os.environ.get("CAMPUSPULSE_CHAOS_DROP_OUTAGE_S", "15"))

# Agent a2's status, with a queue count of 400 digits: retained, so every collector that subscribes is given it.
POISON_TOPIC = "campus/v1/s1/a2/status"
POISON_STATUS = (
    b'{"v":1,"agent":"a2","school":"s1","online":true,"ts":"2026-09-07T08:00:00.000Z",'
    b'"queue":{"records":' + b"9" * 400 + b"}}"
)


def publish_retained(port: int, topic: str, payload: bytes) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    pub.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()


def dead_letters(rig: Rig) -> list[DeadLetter]:
    with Session(rig.engine) as s:
        return list(s.scalars(select(DeadLetter)))


def test_a_retained_poison_status_stalls_no_restarted_collector(tmp_path):
    rig = Rig(tmp_path, collector_process=True)
    try:
        with Session(rig.engine) as s, s.begin():
            s.info["actor"] = "test"
            inventory.put_agent(s, "a2", "s1")
        publish_retained(rig.broker.port, POISON_TOPIC, POISON_STATUS)
        rig.start_agent()
        for _ in range(2):  # each restarted collector is given the poison again, before anything else
            watermark = rig.settled()[0]
            wait_until(lambda w=watermark: rig.settled()[0] > w + 300, 30, "records settling past the poison")
            rig.kill_collector()
            rig.start_collector()
        time.sleep(3)
        rig.stop_agent()
        row = rig.account("retained poison status, collector SIGKILL twice", **{"collector kills": 2})
        poison = [d for d in dead_letters(rig) if POISON_TOPIC in d.source]
        assert poison and all("queue.records" in d.reason for d in poison), [d.reason for d in poison]
        assert row["settled in the store"] == row["produced"]
    finally:
        rig.close()


def test_an_agent_whose_queue_file_is_deleted_mid_stream_starts_an_epoch_and_loses_nothing_it_sent(tmp_path):
    rig = Rig(tmp_path)
    try:
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 500, 30, "the first epoch's records to settle")
        first = rig.epoch()
        assert rig.agent is not None
        rig.agent.kill()  # the PC dies with records still queued; its disk is then wiped
        rig.agent.wait(10)
        produced_first, unsent = rig.produced(), rig.queued()
        for suffix in ("", "-wal", "-shm"):
            rig.queue_path.with_name(rig.queue_path.name + suffix).unlink(missing_ok=True)
        rig.start_agent()
        wait_until(lambda: rig.produced() > 500, 30, "the new queue to produce")
        second = rig.epoch()
        assert second != first, "a new queue file is a new epoch"
        time.sleep(2)
        rig.stop_agent()
        row = rig.account(
            "queue file deleted mid-stream: the new epoch",
            **{"first epoch produced": produced_first, "unsent when deleted": unsent},
        )
        # What the first epoch sent before the file went is stored, exactly once; what never left it is gone
        # with the disk, and the store neither waits for it nor takes the new epoch's seqs for duplicates.
        with rig.witness.lock:
            sent = {seq for _, seq in rig.witness.seen[first]}
        wait_until(lambda: rig.settled(first)[0] == max(sent), 30, "the first epoch to settle")
        assert sent == set(range(max(sent) + 1)), "the first epoch reached the broker without a hole"
        assert len(sent) >= produced_first - unsent
        assert rig.gaps(first) == {}
        assert row["settled in the store"] == row["produced"] and row["produced"] > 500
    finally:
        rig.close()


def test_two_collectors_sharing_the_subscription_settle_an_agent_that_drops_readings(tmp_path):
    rig = Rig(tmp_path, collectors=2, queue_max_mb=0.15, via_proxy=True)
    try:
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 200, 30, "records settling through both collectors")
        assert rig.proxy is not None
        rig.proxy.cut()  # the agent alone is cut off: its queue fills past its bound and thins its oldest readings
        wait_until(lambda: rig.agent_metric("campuspulse_agent_dropped_readings") > 0, DROP_OUTAGE_S * 4, "drops")
        time.sleep(DROP_OUTAGE_S)
        rig.proxy.restore()
        wait_until(lambda: rig.queued() < 100, 120, "the backlog to be published")
        rig.stop_agent()
        row = rig.account(
            f"two collectors, agent cut off {DROP_OUTAGE_S:.0f} s, queue bound 0.15 MB",
            **{f"batches by collector {i}": c.counters.batches for i, c in enumerate(rig.collectors)},
        )
        assert row["announced dropped"] > 0 and row["gaps dropped"] == row["announced dropped"]
        assert all(c.counters.batches > 0 for c in rig.collectors), "both collectors took part"
        assert all(c.counters.write_failures == 0 for c in rig.collectors), "no deadlock, no failed batch"
        with Session(rig.engine) as s:
            assert set(s.scalars(select(SeqGap.reason).distinct())) == {"dropped"}
    finally:
        rig.close()


def test_a_100000_line_equipment_import_during_ingest_holds_nothing_up(tmp_path):
    rig = Rig(tmp_path)
    try:
        data = workbook(IMPORT_LINES)
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 200, 30, "records settling")
        url = rig.engine.url.render_as_string(hide_password=False)
        importer = multiprocessing.get_context("spawn").Process(target=_import, args=(url, data))
        before, started = rig.settled()[0], time.monotonic()
        importer.start()
        done = threading.Event()
        threading.Thread(target=lambda: (importer.join(), done.set()), daemon=True).start()
        assert done.wait(600), "the import finished"
        took, settled_during = time.monotonic() - started, rig.settled()[0] - before
        assert importer.exitcode == 0
        assert rig.collector is not None and rig.collector.counters.write_failures == 0, "no batch failed or waited"
        # the agent makes about 100 records a second; ingest kept going while the import ran
        assert settled_during > took * 20, f"{settled_during} records settled in {took:.0f} s of import"
        rig.stop_agent()
        rig.account(
            f"{IMPORT_LINES:,}-line equipment import during ingest",
            **{"import s": round(took), "settled during import": settled_during},
        )
    finally:
        rig.close()


def test_records_a_restarted_broker_loses_for_shared_collectors_are_declared_lost_not_silently_missing(tmp_path):
    """Mosquitto (2.0 here) does not restore shared subscriptions from its persistence file: what agents publish
    after a broker restart and before the collectors subscribe again is acknowledged to the agent and then given
    to nobody. The agent's status says how far it sent; the store declares the rest lost once the reorder window
    has passed, so that the loss is seen where data loss is reported."""
    rig = Rig(tmp_path, collectors=2, reorder_window_s=3)
    try:
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 200, 30, "records settling through both collectors")
        rig.stop_collectors()
        rig.broker.stop()
        rig.broker.start()
        published = rig.produced()
        wait_until(lambda: rig.produced() > published + 300 and rig.queued() < 100, 30, "publishing to the new broker")
        rig.stop_agent()  # its retained status says how far it sent
        rig.start_collectors(2)
        row = rig.account("broker restarted under two shared collectors", lost_ok=True)
        assert row["at subscriber"] == row["produced"], "the witness's plain persistent subscription kept everything"
        assert row["gaps lost"] > 0, "the records the collectors never got are declared lost"
        with Session(rig.engine) as s:
            lost = sum(g.last_seq - g.first_seq + 1 for g in s.scalars(select(SeqGap).where(SeqGap.reason == "lost")))
        assert lost == row["gaps lost"] and sum(c.counters.seqs_lost for c in rig.collectors) == lost
    finally:
        rig.close()
