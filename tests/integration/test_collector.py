"""The collector against a real Mosquitto, SQLite/PostgreSQL and a real time-series server (VictoriaMetrics)."""

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.collector.metrics import registry_for
from campuspulse.collector.service import Collector
from campuspulse.collector.settings import CollectorSettings
from campuspulse.collector.timeseries import TimeSeriesSink
from campuspulse.server.app import create_app
from campuspulse.settings import MqttSettings
from campuspulse.store.db import make_engine
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.store.schema import AgentProgress, PendingRecord, SeqGap, StateSegment
from campuspulse.store.state_segments import StateFact, fold_in_order
from campuspulse.telemetry import parse_ts
from campuspulse.telemetry.codec import dumps
from tests.support.campus import TOKEN, chunks, payload, provision, synthetic_stream
from tests.support.victoria import Victoria
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
AGENTS = {"a1": [f"d{i}" for i in range(5)], "a2": [f"e{i}" for i in range(5)]}


@pytest.fixture
def store_engine(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        for agent, devices in AGENTS.items():
            provision(c, agent=agent, devices=tuple(devices))
    yield app.state.engine
    app.state.engine.dispose()


@pytest.fixture
def victoria(tmp_path):
    vm = Victoria(tmp_path / "vm")
    vm.start()
    yield vm
    vm.stop()


def streams(steps=60):
    return {a: synthetic_stream(a, d, steps, seed=i) for i, (a, d) in enumerate(AGENTS.items())}


def publish_all(port, records_by_agent, size=100, client_id=None):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "")
    c.max_inflight_messages_set(100)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = []
    for agent, records in records_by_agent.items():
        for batch in chunks(records, size):
            infos.append(c.publish(f"campus/v1/s1/{agent}/records", dumps(payload(batch, agent=agent)), qos=1))
    for info in infos:
        info.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()


def settled(engine, records_by_agent):
    with Session(engine) as s:
        for agent, records in records_by_agent.items():
            p = s.get(AgentProgress, (agent, ""))  # payloads that name no epoch
            if p is None or p.watermark != records[-1]["seq"]:
                return False
        return s.scalar(select(func.count()).select_from(PendingRecord)) == 0


def assert_store_equals_in_order_fold(engine, records_by_agent):
    expected = {}
    for records in records_by_agent.values():
        by_device = defaultdict(list)
        for r in records:
            if r["type"] == "state":
                by_device[r["device"]].append(StateFact(r["seq"], parse_ts(r["ts"]), r["state"], r["valid_s"] * 1000))
        for device, facts in by_device.items():
            expected[device] = [
                (g.state, g.start_ms, g.end_ms, g.first_seq, g.last_seq, g.records) for g in fold_in_order(facts)
            ]
    with Session(engine) as s:
        got = defaultdict(list)
        for g in s.scalars(select(StateSegment).order_by(StateSegment.device, StateSegment.start_ms)):
            got[g.device].append((g.state, g.start_ms, g.end_ms, g.first_seq, g.last_seq, g.records))
        assert s.scalar(select(func.count()).select_from(SeqGap)) == 0, "no seq was lost"
    assert dict(got) == expected


def assert_timeseries_hold_each_record_once(vm, records_by_agent):
    for measurement, kind in (("equipment_state_seq", "state"), ("equipment_reading_seq", "reading")):
        stored = vm.series(measurement)
        for agent, records in records_by_agent.items():
            by_device = defaultdict(list)
            for r in records:
                if r["type"] == kind:
                    by_device[r["device"]].append((parse_ts(r["ts"]), float(r["seq"])))
            for device, points in by_device.items():
                assert sorted(stored[("s1", agent, device)]) == sorted(points), f"{measurement} of {device}"


def make_collector(engine, port, vm=None, tmp_path=None, client_id="collector-t", protocol="5", **opts):
    sink = None
    if vm is not None:
        sink = TimeSeriesSink(
            vm.url, "token", "campuspulse", "campuspulse", tmp_path / f"{client_id}-spool.db", batch_lines=2000
        )
    options = CollectorSettings(client_id=client_id, **opts)
    col = Collector(MqttSettings(port=port, protocol=protocol), TelemetryWriter(engine), client_id, options, sink)
    col.start()
    assert col.connected.wait(10)
    return col


def test_every_published_record_is_accounted_for_in_both_stores(store_engine, mosquitto, victoria, tmp_path):
    data = streams()
    col = make_collector(store_engine, mosquitto.port, victoria, tmp_path, client_id=f"c-{time.monotonic_ns()}")
    try:
        publish_all(mosquitto.port, data)
        publish_all(mosquitto.port, data)  # redelivered in full: changes nothing
        wait_until(lambda: settled(store_engine, data), what="every record in the store")
        wait_until(lambda: col.counters.duplicates == sum(len(r) for r in data.values()), what="the redelivery")
        wait_until(lambda: col.sink.drained(), what="the time-series spool to drain")
        assert col.counters.batches < col.counters.messages, "messages are written in batches"
        metrics = generate_latest(registry_for(col)).decode()
        total = sum(len(r) for r in data.values())
        assert f'campuspulse_collector_records_total{{outcome="stored"}} {float(total)}' in metrics
        assert f'campuspulse_collector_records_total{{outcome="duplicate"}} {float(total)}' in metrics
        assert "campuspulse_timeseries_spool_lines 0.0" in metrics
        assert f"campuspulse_collector_batch_seconds_count {float(col.counters.batches)}" in metrics
    finally:
        col.stop()
    assert_store_equals_in_order_fold(store_engine, data)
    assert_timeseries_hold_each_record_once(victoria, data)


def test_time_series_server_down_for_60s_keeps_the_store_going(store_engine, mosquitto, victoria, tmp_path):
    data = streams()
    col = make_collector(store_engine, mosquitto.port, victoria, tmp_path, client_id=f"c-{time.monotonic_ns()}")
    try:
        victoria.stop()
        started = time.monotonic()
        publish_all(mosquitto.port, data)
        wait_until(lambda: settled(store_engine, data), what="the store, while the time series is down")
        # the lines are spooled just after their store commit: wait for the sink to have tried and failed
        failing = lambda: not col.sink.drained() and col.sink.counters.write_errors > 0  # noqa: E731
        wait_until(failing, what="the time-series writes to fail and the spool to hold the lines")
        time.sleep(max(0.0, 60 - (time.monotonic() - started)))
        victoria.start()
        wait_until(lambda: col.sink.drained(), 90, "the spool to drain after the restart")
    finally:
        col.stop()
    assert_store_equals_in_order_fold(store_engine, data)
    assert_timeseries_hold_each_record_once(victoria, data)


def test_two_collectors_on_a_shared_subscription_split_the_load_and_store_each_record_once(
    store_engine, mosquitto, tmp_path
):
    data = streams(steps=120)
    group = f"g{time.monotonic_ns()}"
    cols = [
        make_collector(store_engine, mosquitto.port, client_id=f"{group}-{i}", shared_group=group, batch_max_messages=5)
        for i in range(2)
    ]
    try:
        publish_all(mosquitto.port, data, size=20)
        wait_until(lambda: settled(store_engine, data), 60, "every record in the store")
    finally:
        for c in cols:
            c.stop()
    assert all(c.counters.messages > 0 for c in cols), [c.counters for c in cols]
    assert sum(c.counters.duplicates for c in cols) == 0
    assert_store_equals_in_order_fold(store_engine, data)


@pytest.mark.postgres
def test_collector_killed_mid_batch_loses_nothing_and_stores_nothing_twice(mosquitto, tmp_path, request):
    from tests.support.scratch_db import create_database, drop_database

    name, url = create_database("cp_t", request.getfixturevalue("pg_template"))
    engine = make_engine(url)
    app = create_app(engine, admin_token=TOKEN)
    with TestClient(app) as c:
        for agent, devices in AGENTS.items():
            provision(c, agent=agent, devices=tuple(devices))
    cfg = tmp_path / "collector.yaml"
    cid = f"killed-{time.monotonic_ns()}"
    cfg.write_text(
        f"mqtt: {{port: {mosquitto.port}, protocol: '5'}}\nstore: {{url: '{url}'}}\n"
        f"collector: {{client_id: {cid}, batch_max_messages: 20}}\n"
    )

    log = (tmp_path / "collector.log").open("a")

    def run():
        return subprocess.Popen(
            [sys.executable, "-m", "campuspulse", "collector", "-c", str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )

    data = streams(steps=300)
    proc = run()
    try:
        time.sleep(3)  # let it subscribe (its persistent session keeps what arrives from then on)
        publish_all(mosquitto.port, data, size=10)

        def some_stored():
            assert proc.poll() is None, (tmp_path / "collector.log").read_text()[-3000:]
            with Session(engine) as s:
                return (s.scalar(select(func.max(AgentProgress.watermark))) or -1) > 100

        wait_until(some_stored, what="the collector to be mid-way")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert not settled(engine, data), "killed before it finished"
        proc = run()
        wait_until(lambda: settled(engine, data), 60, "every record after the restart")
        assert_store_equals_in_order_fold(engine, data)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
        engine.dispose()
        drop_database(name)
