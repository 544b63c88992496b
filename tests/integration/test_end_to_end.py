"""Agent → real Mosquitto → collector → store → utilization API, every hop real."""

import asyncio
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.collector.service import Collector
from campuspulse.edge.agent import EdgeAgent
from campuspulse.edge.queue import RecordQueue
from campuspulse.edge.settings import AgentSettings
from campuspulse.server.app import create_app
from campuspulse.settings import MqttSettings
from campuspulse.store.schema import Agent as AgentRow
from campuspulse.store.schema import DeadLetter, PendingRecord, StateSegment
from campuspulse.telemetry.codec import dumps
from tests.support.campus import AUTH, TOKEN, payload, provision, worked_example_records
from tests.support.mosquitto import Mosquitto
from tests.support.progress import settled_through
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def campus(store_url, mosquitto):
    """A server (for provisioning and figures) and a collector sharing one store, on a private broker."""
    app = create_app(store_url, admin_token=TOKEN)
    now = datetime.now(TZ)
    today = now.date().isoformat()
    start, end = (now - timedelta(minutes=30)).strftime("%H:%M"), (now + timedelta(minutes=30)).strftime("%H:%M")
    if start > end:  # around local midnight: keep one period inside today
        start, end = "00:00", "24:00"
    with TestClient(app) as client:
        provision(client, devices=("pc1", "pc2"), day=today, periods=((start, end),))
        mqtt_settings = MqttSettings(port=mosquitto.port)
        collector = Collector(mqtt_settings, app.state.writer, client_id=f"collector-{time.monotonic_ns()}")
        collector.start()
        assert collector.connected.wait(10)
        yield client, collector, mqtt_settings, today, (start, end)
        collector.stop()
    app.state.engine.dispose()


def agent_settings(tmp_path, today, period):
    plan = {
        "driver": "simulated",
        "use_share": 1.0,
        "open_hours": ["00:00", "24:00"],
        "jitter_min": 0,
        "day_overrides": {today: [list(period)]},
    }
    return AgentSettings(
        id="a1",
        school="s1",
        queue_path=tmp_path / "queue.db",
        valid_s=3,
        heartbeat_s=0.5,
        batch_size=50,
        status_every_s=1,
        devices=[
            {"id": "pc1", "poll_s": 0.1, "reading_every_s": 0.5, "source": plan},
            {"id": "pc2", "poll_s": 0.1, "reading_every_s": 0.5, "source": {**plan, "use_share": 0.0}},
        ],
    )


def run_agent_in_thread(settings, mqtt_settings, reload=None):
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    agent = EdgeAgent(settings, mqtt_settings, reload=reload)
    thread = threading.Thread(target=loop.run_until_complete, args=(agent.run(stop),), daemon=True)
    thread.start()
    return agent, lambda: (loop.call_soon_threadsafe(stop.set), thread.join(15))


def progress(client):
    with Session(client.app.state.engine) as s:
        pending = s.scalar(select(func.count()).select_from(PendingRecord))
        return settled_through(s, "a1"), pending


def test_agent_records_reach_the_utilization_api(campus, tmp_path):
    client, _collector, mqtt_settings, today, period = campus
    _agent, stop = run_agent_in_thread(agent_settings(tmp_path, today, period), mqtt_settings)
    time.sleep(3)
    stop()
    produced = RecordQueue(tmp_path / "queue.db")
    assert len(produced) == 0, "every record left the queue after its PUBACK"
    last_seq = produced.next_seq - 1
    wait_until(lambda: progress(client) == (last_seq, 0), what="collector to store every record")

    rows = client.get(
        "/api/v1/utilization",
        headers=AUTH,
        params={
            "scope": "school",
            "id": "s1",
            "from": today,
            "to": (datetime.fromisoformat(today) + timedelta(days=1)).date().isoformat(),
            "group_by": "device",
        },
    ).json()["rows"]
    by_device = {r["key"]: r for r in rows}
    assert by_device["s1/pc1"]["in_use_s"] > 2 and by_device["s1/pc1"]["sessions"] == 1
    assert by_device["s1/pc2"]["in_use_s"] == 0 and by_device["s1/pc2"]["known_s"] > 2
    with Session(client.app.state.engine) as s:
        segs = s.scalar(select(func.count()).select_from(StateSegment))
        assert segs == 2, "one segment per device: heartbeats extended them"

    def offline():
        with Session(client.app.state.engine) as s:
            return s.get(AgentRow, "a1").online is False

    wait_until(offline, what="the agent's goodbye on its status topic")


@contextmanager
def private_broker_campus(tmp_path, store_url):
    """A broker of the test's own (so it can be stopped), a server with two devices, and a collector."""
    broker = Mosquitto(tmp_path / "broker")
    (tmp_path / "broker").mkdir()
    broker.start()
    app = create_app(store_url, admin_token=TOKEN)
    today = datetime.now(TZ).date().isoformat()
    try:
        with TestClient(app) as client:
            provision(client, devices=("pc1", "pc2"), day=today, periods=(("00:00", "24:00"),))
            settings_ = MqttSettings(port=broker.port)
            collector = Collector(settings_, app.state.writer, client_id=f"collector-{time.monotonic_ns()}")
            collector.start()
            try:
                yield broker, client, settings_, today
            finally:
                collector.stop()
    finally:  # a failing test leaves no broker behind
        broker.stop()
        app.state.engine.dispose()


def test_a_queue_file_lost_mid_stream_starts_a_new_epoch_and_every_record_of_both_is_stored(campus, tmp_path):
    client, _collector, mqtt_settings, today, period = campus
    settings = agent_settings(tmp_path, today, period)
    produced = {}
    for _ in range(2):  # the second run finds no queue file, as after a reimage or a deleted queue
        _agent, stop = run_agent_in_thread(settings, mqtt_settings)
        time.sleep(2)
        stop()
        queue = RecordQueue(tmp_path / "queue.db")
        assert len(queue) == 0
        produced[queue.epoch] = queue.next_seq - 1
        queue.db.close()
        for f in tmp_path.glob("queue.db*"):
            f.unlink()
    assert len(produced) == 2 and "" not in produced and min(produced.values()) > 10

    def settled() -> dict[str, int]:
        h = client.get("/api/v1/agents/a1", headers=AUTH).json()
        return {e["epoch"]: e["settled_through_seq"] for e in h["epochs"] if not e["pending_records"]}

    wait_until(lambda: settled() == produced, what="every record of both epochs settled")
    h = client.get("/api/v1/agents/a1", headers=AUTH).json()
    assert all(e["gaps"] == [] for e in h["epochs"]), "nothing lost, nothing waited for"


def test_broker_restart_loses_no_record(tmp_path, store_url):
    with private_broker_campus(tmp_path, store_url) as (broker, client, settings_, today):
        _agent, stop = run_agent_in_thread(agent_settings(tmp_path, today, ("00:00", "24:00")), settings_)
        time.sleep(1.5)
        broker.stop()
        time.sleep(1.5)  # the agent keeps observing and queues on disk meanwhile
        assert len(RecordQueue(tmp_path / "queue.db")) > 0
        broker.start()
        wait_until(lambda: len(RecordQueue(tmp_path / "queue.db")) == 0, 30, "the queue to drain after restart")
        stop()
        last_seq = RecordQueue(tmp_path / "queue.db").next_seq - 1
        wait_until(lambda: progress(client) == (last_seq, 0), 30, f"every seq stored, no gap: {progress(client)}")
        health = client.get("/api/v1/agents/a1", headers=AUTH).json()
        assert health["queue_records"] == 0 and health["queue_oldest"] is None, "the last status: nothing queued"


def publish(port, topic, body):
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.publish(topic, body, qos=1).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def test_redelivered_message_changes_nothing_and_bad_records_are_dead_lettered(campus, mosquitto):
    client, collector, _, _, _ = campus
    records = worked_example_records()
    records[5]["state"] = "dancing"
    body = dumps(payload(records))
    publish(mosquitto.port, "campus/v1/s1/a1/records", body)
    wait_until(lambda: collector.counters.messages >= 1)
    wait_until(lambda: progress(client)[0] == len(records) - 1, what="the batch stored")
    with Session(client.app.state.engine) as s:
        before = s.execute(select(StateSegment.start_ms, StateSegment.end_ms, StateSegment.state)).all()
    publish(mosquitto.port, "campus/v1/s1/a1/records", body)
    wait_until(lambda: collector.counters.duplicates >= len(records) - 1, what="the redelivery deduplicated")
    publish(mosquitto.port, "campus/v1/s1/a1/records", b"{not json")

    def reasons():
        with Session(client.app.state.engine) as s:
            return [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]

    # retained status messages of other tests' agents (not registered here) are dead letters too
    wait_until(lambda: any("not valid JSON" in r for r in reasons()), what="the unparsable message's dead letter")
    assert any("records[5].state" in r for r in reasons())
    with Session(client.app.state.engine) as s:
        assert s.execute(select(StateSegment.start_ms, StateSegment.end_ms, StateSegment.state)).all() == before


def test_rebirth_command_republishes_the_birth_status(campus, tmp_path, mosquitto):
    _client, _collector, mqtt_settings, today, period = campus
    births = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, m: births.append(orjson.loads(m.payload)) if m.payload else None
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("campus/v1/s1/a1/status", qos=1)
    sub.loop_start()
    agent, stop = run_agent_in_thread(agent_settings(tmp_path, today, period), mqtt_settings)
    try:
        wait_until(agent.publisher.connected.is_set, what="the agent to connect and listen on its cmd topic")
        wait_until(lambda: any(b["online"] for b in births), what="the birth status")
        before = sum(1 for b in births if b["online"])
        publish(mosquitto.port, "campus/v1/s1/a1/cmd", b"rebirth")
        wait_until(lambda: sum(1 for b in births if b["online"]) > before, what="a new birth after rebirth")
        publish(mosquitto.port, "campus/v1/s1/a1/cmd", b'{"cmd": "rebirth"}')
        wait_until(lambda: agent.publisher.rebirths == 2, what="the JSON form of the command")
        assert births[-1]["devices"] == ["pc1", "pc2"] and births[-1]["agent"] == "a1"
    finally:
        stop()
        sub.loop_stop()


def test_a_full_agent_queue_announces_what_it_thinned_and_nothing_counts_as_lost(tmp_path, store_url):
    with private_broker_campus(tmp_path, store_url) as (broker, client, settings_, today):
        agent_cfg = agent_settings(tmp_path, today, ("00:00", "24:00"))
        agent_cfg.queue_max_mb = 0.03
        for dev in agent_cfg.devices:
            dev.reading_every_s = 0.1
        agent, stop = run_agent_in_thread(agent_cfg, settings_)
        time.sleep(1.0)
        broker.stop()
        wait_until(lambda: agent.queue.dropped_records > 0, 30, "the queue to reach its bound and thin readings")
        broker.start()
        wait_until(lambda: len(RecordQueue(tmp_path / "queue.db")) == 0, 30, "the queue to drain after restart")
        stop()
        last_seq = RecordQueue(tmp_path / "queue.db").next_seq - 1
        wait_until(lambda: progress(client) == (last_seq, 0), 30, f"every seq settled: {progress(client)}")
        health = client.get("/api/v1/agents/a1", headers=AUTH).json()
        assert health["gaps"] and {g["reason"] for g in health["gaps"]} == {"dropped"}


def test_reload_command_polls_the_devices_of_the_new_config(campus, tmp_path, mosquitto):
    _client, _collector, mqtt_settings, today, period = campus
    statuses = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, m: statuses.append(orjson.loads(m.payload)) if m.payload else None
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("campus/v1/s1/a1/status", qos=1)
    sub.loop_start()
    first = agent_settings(tmp_path, today, period)
    second = first.model_copy(update={"devices": first.devices[:1]})
    configs = [second, ValueError("agent.yaml:3: devices: field required")]

    def reread():
        nxt = configs.pop(0)
        if isinstance(nxt, Exception):
            raise nxt
        return nxt

    agent, stop = run_agent_in_thread(first, mqtt_settings, reload=reread)
    try:
        wait_until(agent.publisher.connected.is_set, what="the agent to connect and listen on its cmd topic")
        wait_until(lambda: statuses and statuses[-1]["devices"] == ["pc1", "pc2"], what="the birth status")
        publish(mosquitto.port, "campus/v1/s1/a1/cmd", b"reload")
        wait_until(lambda: statuses[-1]["devices"] == ["pc1"], what="a status listing the reloaded devices")
        assert agent.reloads == 1 and [d.id for d, _drv, _mon in agent.devices] == ["pc1"]
        publish(mosquitto.port, "campus/v1/s1/a1/cmd", b'{"cmd": "reload"}')
        wait_until(lambda: not configs, what="the second reload to be tried")
        time.sleep(0.5)
        assert agent.reloads == 1 and [d.id for d, _drv, _mon in agent.devices] == ["pc1"], "a bad file changes nothing"
    finally:
        stop()
        sub.loop_stop()
