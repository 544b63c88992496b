"""Load and soak: many simulated agents publishing live through a real Mosquitto to a collector process that
writes a PostgreSQL store, for a bounded time. Reports throughput, end-to-end latency (a device's observation
→ settled in the store, i.e. queryable through the API) p50/p99, and the collector's memory over time.

    python -m tests.bench.bench_soak [--agents 2000] [--devices 50] [--every-s 10] [--minutes 5] [--smoke]

Each agent sends, every `--every-s`, one message with a state record per device (a few are changes); one
agent per connection also stamps a probe whose settling time is the latency sample. The load generator runs
on the same machine as the broker and the collector, and takes its share of the CPU.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.store.db import make_engine, upgrade
from campuspulse.store.schema import AgentProgress, SeqGap
from campuspulse.telemetry import format_ts
from campuspulse.telemetry.codec import dumps
from tests.bench.bench_metrics import _copy
from tests.support.mosquitto import Mosquitto
from tests.support.scratch_db import scratch_database

AGENTS_PER_SCHOOL = 10


def provision(engine, agents: int, devices: int) -> None:
    schools = (agents + AGENTS_PER_SCHOOL - 1) // AGENTS_PER_SCHOOL
    columns = ["code", "name", "district", "stage", "tz", "classes", "parallel_classes", "students", "max_class_size"]
    _copy(
        engine,
        "schools",
        columns,
        ((f"s{i}", f"s{i}", f"d{i // 50}", "junior", "Asia/Shanghai", 24, 8, 1000, 45) for i in range(schools)),
    )
    _copy(engine, "agents", ["id", "school"], ((f"a{i}", f"s{i // AGENTS_PER_SCHOOL}") for i in range(agents)))
    _copy(
        engine,
        "devices",
        ["school", "device", "agent", "room", "kind"],
        (
            (f"s{i // AGENTS_PER_SCHOOL}", f"a{i}-d{j}", f"a{i}", f"r{i}", "pc")
            for i in range(agents)
            for j in range(devices)
        ),
    )


class Load:
    """`connections` paho clients publishing for their share of the agents, live, until stopped."""

    def __init__(self, port: int, agents: int, devices: int, every_s: float, connections: int) -> None:
        self.port, self.devices, self.every_s = port, devices, every_s
        self.groups = [list(range(c, agents, connections)) for c in range(connections)]
        self.stop = threading.Event()
        self.published = 0
        self.probes: list[tuple[str, int, int]] = []  # (agent, seq, observed ms)
        self.lock = threading.Lock()

    def run(self, group: list[int]) -> None:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.connect("127.0.0.1", self.port)
        c.loop_start()
        rnd = random.Random(group[0])
        seqs = dict.fromkeys(group, 0)
        states = {a: ["idle"] * self.devices for a in group}
        next_tick = time.monotonic() + rnd.uniform(0, self.every_s)
        last = None
        while not self.stop.is_set():
            time.sleep(max(0.0, next_tick - time.monotonic()))
            next_tick += self.every_s
            for a in group:
                now = int(time.time() * 1000)
                recs = []
                for d in range(self.devices):
                    if rnd.random() < 0.05:
                        states[a][d] = rnd.choice(("in_use", "idle", "off"))
                    recs.append(
                        {
                            "type": "state",
                            "seq": seqs[a] + d,
                            "ts": format_ts(now),
                            "device": f"a{a}-d{d}",
                            "state": states[a][d],
                            "valid_s": int(self.every_s * 3),
                        }
                    )
                seqs[a] += self.devices
                body = dumps({"v": 1, "agent": f"a{a}", "school": f"s{a // AGENTS_PER_SCHOOL}", "records": recs})
                last = c.publish(f"campus/v1/s{a // AGENTS_PER_SCHOOL}/a{a}/records", body, qos=1)
                with self.lock:
                    self.published += self.devices
                    if a == group[0]:
                        self.probes.append((f"a{a}", seqs[a] - 1, now))
        if last is not None:
            last.wait_for_publish(30)  # the client sends in order: the last acked, all were
        c.disconnect()
        c.loop_stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--every-s", type=float, default=10)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--smoke", action="store_true", help="a tiny run that only shows the bench still works")
    args = ap.parse_args()
    if args.smoke:
        args.agents, args.devices, args.every_s, args.minutes, args.connections = 20, 10, 1, 0.15, 4
    with scratch_database("cp_soak") as url:
        soak(Console(), args, url)


def soak(console: Console, args: argparse.Namespace, url: str) -> None:
    """The soak on the empty database at `url`."""
    engine = make_engine(url)
    work = Path(tempfile.mkdtemp(prefix="campuspulse-soak-"))
    (work / "broker").mkdir()
    broker = Mosquitto(work / "broker", extra_conf="persistence false\n")
    collector = None
    try:
        upgrade(engine)
        provision(engine, args.agents, args.devices)
        broker.start()
        cfg = work / "collector.yaml"
        cfg.write_text(
            f'mqtt: {{port: {broker.port}, protocol: "5"}}\nstore: {{url: "{url}"}}\n'
            "collector: {client_id: soak-collector, metrics_port: null}\n"
        )
        log = (work / "collector.log").open("w")
        collector = subprocess.Popen(
            [sys.executable, "-m", "campuspulse", "collector", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while "subscribed" not in (work / "collector.log").read_text():
            assert time.monotonic() < deadline and collector.poll() is None, (work / "collector.log").read_text()
            time.sleep(0.2)
        proc = psutil.Process(collector.pid)
        load = Load(broker.port, args.agents, args.devices, args.every_s, args.connections)
        threads = [threading.Thread(target=load.run, args=(g,), daemon=True) for g in load.groups]
        for t in threads:
            t.start()
        started, memory, latencies = time.monotonic(), [], []
        pending: list[tuple[str, int, int]] = []
        end = started + args.minutes * 60
        while time.monotonic() < end or pending or load.probes:
            if time.monotonic() >= end and not load.stop.is_set():
                load.stop.set()
            with load.lock:
                pending += load.probes
                load.probes = []
            with Session(engine) as s:
                marks = dict(s.execute(select(AgentProgress.agent, AgentProgress.watermark)).all())
            now = int(time.time() * 1000)
            still = []
            for agent, seq, observed in pending:
                if marks.get(agent, -1) >= seq:
                    latencies.append(now - observed)
                else:
                    still.append((agent, seq, observed))
            pending = still
            memory.append((time.monotonic() - started, proc.memory_info().rss / 2**20))
            if time.monotonic() > end + 120:
                break
            time.sleep(0.2)
        for t in threads:
            t.join(30)

        def settled_now() -> int:
            with Session(engine) as s:
                return sum(w + 1 for w in s.scalars(select(AgentProgress.watermark)))

        drain_deadline = time.monotonic() + 120
        while (settled := settled_now()) < load.published and time.monotonic() < drain_deadline:
            time.sleep(0.2)
        took = time.monotonic() - started
        with Session(engine) as s:
            lost = s.scalar(select(SeqGap).limit(1)) is not None
    finally:
        if collector is not None:
            collector.terminate()
            collector.wait(30)
        broker.stop()
        engine.dispose()
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [lat[0] if lat else 0] * 99
    table = Table(
        title=f"soak — {args.agents:,} agents × {args.devices} devices, a message per agent every "
        f"{args.every_s:g} s, {args.minutes:g} min, PostgreSQL store"
    )
    for col in ("measure", "value"):
        table.add_column(col, justify="right")
    table.add_row("records published", f"{load.published:,} ({load.published / took:,.0f}/s)")
    table.add_row(
        "records settled in the store",
        f"{settled:,} within 2 min of the load's end "
        f"({settled / load.published:.1%}; seq gaps: {'some' if lost else 'none'})",
    )
    table.add_row(
        "observation → settled, p50 / p99", f"{q[49] / 1000:.2f} s / {q[98] / 1000:.2f} s ({len(lat)} probes)"
    )
    rss = [m for _, m in memory]
    table.add_row("collector RSS first / max / last", f"{rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} MB")
    by_minute: dict[int, float] = {}
    for at, mb in memory:
        by_minute[int(at // 60)] = max(by_minute.get(int(at // 60), 0.0), mb)
    table.add_row("collector RSS, highest in each minute", " ".join(f"{mb:.0f}" for mb in by_minute.values()) + " MB")
    console.print(table)
    if args.smoke and settled != load.published:
        raise SystemExit(f"only {settled} of {load.published} records settled")


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "160")
    main()
