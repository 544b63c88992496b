"""The edge agent under load: CPU share and RSS of an agent process watching 200 simulated devices at a reading
a second, and the replay of an hour's outage (720,000 records) beside a bare paho publisher sending the same
batches to the same broker, in one run.

    python -m tests.bench.bench_agent [--devices 200] [--seconds 60] [--backlog 720000] [--smoke]
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from campuspulse.edge.queue import RecordQueue
from campuspulse.telemetry import format_ts
from tests.support.mosquitto import Mosquitto

BATCH = 500


def config(work: Path, port: int, devices: int, queue: Path) -> Path:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    source = (
        '{driver: simulated, use_share: 0.5, jitter_min: 0, open_hours: ["00:00", "24:00"], '
        f'day_overrides: {{"{today}": [["00:00", "24:00"]]}}}}'
    )
    lines = "\n".join(
        f"    - {{id: d{i:03d}, poll_s: 1, reading_every_s: 0.9, source: {source}}}" for i in range(devices)
    )
    path = work / f"agent-{queue.stem}.yaml"
    path.write_text(
        f"mqtt: {{port: {port}}}\nagent:\n  id: a1\n  school: s1\n  queue_path: {queue}\n"
        f"  valid_s: 180\n  batch_size: {BATCH}\n  devices:\n{lines}\n"
    )
    return path


def start_agent(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "campuspulse", "agent", "-c", str(cfg)], stdout=log.open("a"), stderr=subprocess.STDOUT
    )


def steady_load(work: Path, port: int, devices: int, seconds: float) -> tuple[float, float, float, int]:
    """(user and system CPU % of one core, peak RSS in MB, records produced) of an agent over `seconds` after
    warm-up."""
    queue = work / "steady.db"
    proc = start_agent(config(work, port, devices, queue), work / "steady.log")
    ps = psutil.Process(proc.pid)
    time.sleep(min(10.0, seconds / 3))  # imports, first polls, connection
    first_seq = RecordQueue(queue).next_seq
    cpu0, t0 = ps.cpu_times(), time.monotonic()
    rss = 0
    while time.monotonic() - t0 < seconds:
        rss = max(rss, ps.memory_info().rss)
        time.sleep(1)
    cpu1, took = ps.cpu_times(), time.monotonic() - t0
    user, system = (cpu1.user - cpu0.user) / took * 100, (cpu1.system - cpu0.system) / took * 100
    produced = RecordQueue(queue).next_seq - first_seq
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    return user, system, rss / 2**20, produced


def backlog_records(n: int, devices: int) -> list[dict]:
    t0 = int(time.time() * 1000) - 3600_000
    return [
        {
            "type": "reading",
            "ts": format_ts(t0 + (i // devices) * 1000),
            "device": f"d{i % devices:03d}",
            "values": {"power_w": float(i % 97)},
        }
        for i in range(n)
    ]


def replay(work: Path, port: int, devices: int, n: int) -> float:
    """Seconds for an agent to publish a backlog of `n` queued records (each batch acked by the broker)."""
    queue = work / "replay.db"
    q = RecordQueue(queue)
    for i in range(0, n, 50_000):
        q.append(backlog_records(min(50_000, n - i), devices))
    q.close()
    proc = start_agent(config(work, port, devices, queue), work / "replay.log")
    t0 = time.monotonic()
    while True:
        head = RecordQueue(queue).peek(1)
        if not head or head[0]["seq"] >= n:
            break
        time.sleep(0.05)
    took = time.monotonic() - t0
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    return took


def bare_publisher(port: int, devices: int, n: int) -> float:
    """Seconds for a bare paho client to publish the same batches at QoS 1 and get every PUBACK."""
    records = backlog_records(n, devices)
    bodies = [
        orjson.dumps(
            {
                "v": 1,
                "agent": "a1",
                "school": "s1",
                "records": [{**r, "seq": s} for s, r in enumerate(records[i : i + BATCH], i)],
            }
        )
        for i in range(0, n, BATCH)
    ]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bare-publisher")
    c.max_inflight_messages_set(20)
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0 = time.monotonic()
    infos = [c.publish("campus/v1/s1/a1/records", body, qos=1) for body in bodies]
    for info in infos:
        info.wait_for_publish(120)
    took = time.monotonic() - t0
    c.disconnect()
    c.loop_stop()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--backlog", type=int, default=720_000)
    ap.add_argument("--smoke", action="store_true", help="a tiny run that only shows the bench still works")
    args = ap.parse_args()
    if args.smoke:
        args.devices, args.seconds, args.backlog = 20, 3, 5_000
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "broker").mkdir()
        broker = Mosquitto(work / "broker", extra_conf="persistence false\n")
        broker.start()
        try:
            user, system, rss, produced = steady_load(work, broker.port, args.devices, args.seconds)
            agent_s = replay(work, broker.port, args.devices, args.backlog)
            bare_s = bare_publisher(broker.port, args.devices, args.backlog)
        finally:
            broker.stop()
    table = Table(title=f"edge agent — {args.devices} simulated devices, a reading a second each")
    for col in ("measure", "value", "target"):
        table.add_column(col, justify="right")
    table.add_row("CPU, share of one core", f"{user + system:.1f} % (user {user:.1f}, system {system:.1f})", "≤ 5 %")
    table.add_row("peak RSS", f"{rss:.0f} MB", "≤ 80 MB")
    table.add_row("records produced", f"{produced / args.seconds:,.0f} /s over {args.seconds:.0f} s", "")
    table.add_row(
        f"replay of {args.backlog:,} queued records", f"{args.backlog / agent_s:,.0f} records/s", "≥ 50,000 records/s"
    )
    table.add_row(
        "bare paho publisher, same batches",
        f"{args.backlog / bare_s:,.0f} records/s",
        f"agent at {bare_s / agent_s:.0%} of it",
    )
    console.print(table)


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "160")
    main()
