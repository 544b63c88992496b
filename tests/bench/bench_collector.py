"""Collector throughput beside a bare paho subscriber, on the same broker, in the same run.

Both consumers drain the same pre-published backlog of 100-record messages from a persistent
session on a private Mosquitto: the bare subscriber only receives, the collector validates,
deduplicates, folds state segments into PostgreSQL, and spools and ships line protocol to
VictoriaMetrics. "store rec/s" is the rate at which the backlog was in the store; "collector
rec/s" waits for the time-series store too (end to end, both sinks on). Two mixes: (a) 90%
heartbeats, 5% state changes, 5% readings; (b) ~85% readings.

    python -m tests.bench.bench_collector [--messages 2000] [--smoke]
"""

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.collector.service import YOUNG_GC_THRESHOLD, Collector
from campuspulse.collector.settings import CollectorSettings
from campuspulse.collector.timeseries import TimeSeriesSink
from campuspulse.heap import settle_heap
from campuspulse.server.app import create_app
from campuspulse.settings import MqttSettings
from campuspulse.store.db import make_engine
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.store.schema import AgentProgress
from campuspulse.telemetry import format_ts
from campuspulse.telemetry.codec import dumps
from tests.support.campus import TOKEN
from tests.support.mosquitto import Mosquitto
from tests.support.scratch_db import PG_URL, create_database, drop_database
from tests.support.victoria import Victoria

DEVICES_PER_AGENT = 50
RECORDS_PER_MESSAGE = 100


def make_messages(mix: str, n_messages: int, n_agents: int, seed: int = 7) -> list[tuple[str, bytes, str, int]]:
    """(topic, payload, agent, last seq) for `n_messages` messages spread over `n_agents` agents."""
    rnd = random.Random(seed)
    per_agent = n_messages // n_agents
    out = []
    t0 = 1788739200000
    for a in range(n_agents):
        agent = f"bench-a{a}"
        state = {d: "idle" for d in range(DEVICES_PER_AGENT)}
        seq, tick = 0, 0
        for _ in range(per_agent):
            recs = []
            while len(recs) < RECORDS_PER_MESSAGE:
                d = tick % DEVICES_PER_AGENT
                ts = format_ts(t0 + (tick // DEVICES_PER_AGENT) * 10_000)
                tick += 1
                roll = rnd.random()
                reading_share = 0.05 if mix == "a" else 0.85
                if roll < reading_share:
                    recs.append(
                        {
                            "type": "reading",
                            "seq": seq,
                            "ts": ts,
                            "device": f"{agent}-d{d}",
                            "values": {"power_w": round(rnd.uniform(0, 120), 1), "current_a": 0.4},
                        }
                    )
                else:
                    if rnd.random() < (0.05 / 0.95 if mix == "a" else 0.03):
                        state[d] = rnd.choice(["in_use", "idle", "off"])
                    recs.append(
                        {
                            "type": "state",
                            "seq": seq,
                            "ts": ts,
                            "device": f"{agent}-d{d}",
                            "state": state[d],
                            "valid_s": 180,
                        }
                    )
                seq += 1
            body = dumps({"v": 1, "agent": agent, "school": "bench", "records": recs})
            out.append((f"campus/v1/bench/{agent}/records", body, agent, seq - 1))
    return out


def publish(port: int, messages: list[tuple[str, bytes, str, int]]) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish(topic, body, qos=1) for topic, body, _, _ in messages]
    for info in infos:
        info.wait_for_publish(120)
    c.disconnect()
    c.loop_stop()


def subscriber_session(port: int, client_id: str) -> None:
    """Create a persistent session subscribed to the records, then leave it."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.on_connect = lambda cl, *a: cl.subscribe("campus/v1/+/+/records", qos=1)
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", port, clean_start=False, properties=props)
    c.loop_start()
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def bare_drain(port: int, messages: list, client_id: str) -> float:
    """Seconds a bare paho subscriber takes to receive the backlog (auto acks)."""
    got, done = [0], threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)

    def on_message(*_a: object) -> None:
        got[0] += 1
        if got[0] >= len(messages):
            done.set()

    c.on_message = on_message
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1000
    started = time.perf_counter()
    c.connect("127.0.0.1", port, clean_start=False, properties=props)
    c.loop_start()
    done.wait(600)
    elapsed = time.perf_counter() - started
    c.disconnect()
    c.loop_stop()
    return elapsed


def collector_drain(
    port: int, engine: object, vm: Victoria, spool: Path, messages: list, client_id: str
) -> tuple[float, float]:
    """Seconds the collector takes to store the backlog in the store, and to have shipped it to the time series."""
    last = {agent: seq for _, _, agent, seq in messages}
    sink = TimeSeriesSink(vm.url, "token", "campuspulse", "campuspulse", spool, batch_lines=20_000)
    opts = CollectorSettings(client_id=client_id, batch_max_messages=200, batch_max_delay_ms=20)
    col = Collector(MqttSettings(port=port, protocol="5"), TelemetryWriter(engine), client_id, opts, sink)
    settle_heap(YOUNG_GC_THRESHOLD)  # as `campuspulse collector` does
    started = time.perf_counter()
    col.start()
    store_done = None
    while True:
        if store_done is None:
            with Session(engine) as s:  # type: ignore[arg-type]
                marks = dict(s.execute(select(AgentProgress.agent, AgentProgress.watermark)).all())
            if all(marks.get(a, -1) >= q for a, q in last.items()):
                store_done = time.perf_counter() - started
        if store_done is not None and sink.drained():
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    col.stop()
    return store_done, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--smoke", action="store_true", help="a small run that only proves the bench works")
    args = parser.parse_args()
    n = 100 if args.smoke else args.messages
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="cp-bench-"))
    broker = Mosquitto(work / "mq")
    (work / "mq").mkdir()
    broker.start()
    vm = Victoria(work / "vm")
    vm.start()
    table = Table(title=f"collector vs bare paho subscriber ({n} messages x {RECORDS_PER_MESSAGE} records)")
    for col in ("mix", "bare msg/s", "bare rec/s", "store rec/s", "collector msg/s", "collector rec/s", "ratio"):
        table.add_column(col, justify="right")
    try:
        for mix in ("a", "b"):
            db, db_url = create_database(f"cp_bench_{mix}", server=args.pg)
            engine = make_engine(db_url)
            app = create_app(engine, admin_token=TOKEN)
            with TestClient(app) as http:
                auth = {"Authorization": f"Bearer {TOKEN}"}
                http.put("/api/v1/schools/bench", headers=auth, json={"name": "B", "district": "d", "stage": "j"})
                for a in range(args.agents):
                    http.put(f"/api/v1/agents/bench-a{a}", headers=auth, json={"school": "bench"})
            messages = make_messages(mix, n, args.agents)
            bare_id, col_id = f"bare-{mix}-{time.time_ns()}", f"col-{mix}-{time.time_ns()}"
            subscriber_session(broker.port, bare_id)
            publish(broker.port, messages)
            bare = bare_drain(broker.port, messages, bare_id)
            subscriber_session(broker.port, col_id)
            publish(broker.port, messages)
            in_store, coll = collector_drain(broker.port, engine, vm, work / f"spool-{mix}.db", messages, col_id)
            records = len(messages) * RECORDS_PER_MESSAGE
            table.add_row(
                mix,
                f"{len(messages) / bare:,.0f}",
                f"{records / bare:,.0f}",
                f"{records / in_store:,.0f}",
                f"{len(messages) / coll:,.0f}",
                f"{records / coll:,.0f}",
                f"{bare / coll:.2f}",
            )
            engine.dispose()
            drop_database(db, args.pg)
    finally:
        vm.stop()
        broker.stop()
    console.print(table)


if __name__ == "__main__":
    main()
