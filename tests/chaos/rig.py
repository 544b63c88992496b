"""The chaos rig: a private broker, a store with a collector (in this process or one of its own), optionally a
VictoriaMetrics time-series store, a bare witness subscriber, and one agent with 50 simulated devices as a process
of its own; `account()` ends a scenario with an exact accounting table."""

import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.collector.service import Collector
from campuspulse.collector.settings import CollectorSettings
from campuspulse.collector.timeseries import TimeSeriesSink
from campuspulse.edge.queue import RecordQueue
from campuspulse.server.inventory import service as inventory
from campuspulse.settings import MqttSettings
from campuspulse.store.db import make_engine, upgrade
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.store.schema import AgentProgress, PendingRecord, SeqGap
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.progress import settled_through
from tests.support.tcp_proxy import TcpProxy
from tests.support.victoria import Victoria
from tests.support.waiting import wait_until

DEVICES = 50


class Arrivals:
    """A bare QoS 1 subscriber with a persistent session, noting every record's (device, seq) as it arrives, per
    epoch, and the seq ranges the agent's statuses announce as dropped (statuses it cannot read are skipped)."""

    def __init__(self, port: int) -> None:
        self.seen: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self.dropped: dict[str, set[int]] = defaultdict(set)
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"witness-{port}", clean_session=False)
        self.client.on_connect = lambda c, *_: c.subscribe([("campus/v1/+/+/records", 1), ("campus/v1/+/+/status", 1)])
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.2, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        status = msg.topic.endswith("/status")
        try:
            body = orjson.loads(msg.payload)
            epoch = str(body.get("epoch", ""))
            if status:
                ranges = [range(int(a), int(b) + 1) for a, b in body.get("dropped") or []]
            else:
                records = [(r["device"], r["seq"]) for r in body["records"]]
        except (ValueError, TypeError, KeyError, AttributeError):
            return  # a poison message the scenario sent: the collector's business, not the witness's
        with self.lock:
            if status:
                for r in ranges:
                    self.dropped[epoch].update(r)
            else:
                self.seen[epoch] += records

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def scrape(port: int, name: str) -> float:
    """One unlabelled metric of a process serving Prometheus /metrics on `port`."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (name, f"{name}_total"):
                return sample.value
    raise KeyError(name)


class Rig:
    """Broker, store with a collector, the witness, and the agent as a process of its own."""

    def __init__(
        self,
        tmp: Path,
        store_url: str | None = None,
        agent_env: dict[str, str] | None = None,
        via_proxy: bool = False,
        queue_dir: Path | None = None,
        collector_process: bool = False,
        timeseries: bool = False,
        collectors: int = 1,
        queue_max_mb: float | None = None,
        reorder_window_s: float = 300.0,
    ) -> None:
        """`agent_env`: more environment for the agent (e.g. libfaketime's); `via_proxy`: the agent reaches the
        broker through a TcpProxy (`self.proxy`) that can partition it; `queue_dir`: where the agent's queue lives
        (a disk of its own); `collector_process`: the collector runs as `campuspulse collector` (to be killed);
        `timeseries`: the collector also writes to a VictoriaMetrics (`self.victoria`); `collectors`: that many
        collectors in this process sharing the subscription (`self.collectors`); `queue_max_mb`: the agent's queue
        bound (full: readings thinned and announced as dropped); `reorder_window_s`: the store's."""
        self.tmp, self.agent_env = tmp, agent_env or {}
        self.broker = Mosquitto(tmp / "broker")
        (tmp / "broker").mkdir()
        self.broker.start()
        self.proxy = TcpProxy(self.broker.port) if via_proxy else None
        self.log = (tmp / "processes.log").open("a")
        self.engine = make_engine(store_url or f"sqlite:///{tmp / 'store.db'}")
        upgrade(self.engine)
        with Session(self.engine) as s, s.begin():
            s.info["actor"] = "test"
            inventory.put_school(s, "s1", {"name": "S1", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
            inventory.put_agent(s, "a1", "s1")
            s.flush()
            for i in range(DEVICES):
                inventory.put_device(s, "s1", f"dev{i:02d}", {"agent": "a1", "room": f"r{i // 10}", "kind": "pc"})
        self.victoria = Victoria(tmp / "vm") if timeseries else None
        if self.victoria is not None:
            self.victoria.start()
        self.collector: Collector | None = None
        self.collectors: list[Collector] = []
        self.collector_proc: subprocess.Popen[bytes] | None = None
        self.collector_port = free_port()
        if collector_process:
            self.collector_config = tmp / "collector.yaml"
            series = ""
            if self.victoria is not None:
                spool = tmp / "spool.db"
                series = f"timeseries: {{url: '{self.victoria.url}', spool_path: '{spool}', batch_lines: 500}}\n"
            self.collector_config.write_text(
                f"mqtt: {{port: {self.broker.port}}}\nstore: {{url: '{self.engine.url.render_as_string(False)}'}}\n"
                f"collector: {{client_id: chaos-coll, metrics_port: {self.collector_port}}}\n{series}"
            )
            self.start_collector()
        else:
            sink = None
            if self.victoria is not None:
                sink = TimeSeriesSink(self.victoria.url, "", "campuspulse", "campuspulse", tmp / "spool.db", 500)
            self.sink, self.reorder_window_s = sink, reorder_window_s
            self.start_collectors(collectors)
        self.witness = Arrivals(self.broker.port)
        self.queue_path = (queue_dir or tmp) / "agent-queue.db"
        self.metrics_port = free_port()
        self.config = tmp / "agent.yaml"
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        source = (
            '{driver: simulated, use_share: 0.5, jitter_min: 0, open_hours: ["00:00", "24:00"], '
            f'day_overrides: {{"{today}": [["00:00", "24:00"]]}}}}'
        )
        devices = "\n".join(
            f"    - {{id: dev{i:02d}, poll_s: 0.5, reading_every_s: 1, source: {source}}}" for i in range(DEVICES)
        )
        agent_port = self.proxy.port if self.proxy else self.broker.port
        self.config.write_text(
            f"mqtt: {{port: {agent_port}}}\nagent:\n  id: a1\n  school: s1\n"
            f"  queue_path: {self.queue_path}\n  valid_s: 3\n  heartbeat_s: 1\n  batch_size: 100\n"
            f"  metrics_port: {self.metrics_port}\n"
            + (f"  queue_max_mb: {queue_max_mb}\n" if queue_max_mb else "")
            + f"  devices:\n{devices}\n"
        )
        self.agent: subprocess.Popen[bytes] | None = None

    def start_agent(self) -> None:
        """Start the agent process and wait until it serves its metrics."""
        self.agent = subprocess.Popen(
            [sys.executable, "-m", "campuspulse", "agent", "-c", str(self.config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.agent_env},
        )

        def serving() -> bool:
            assert self.agent is not None and self.agent.poll() is None, self.log_tail()
            try:
                return self.agent_metric("campuspulse_agent_queue_records") >= 0
            except httpx.TransportError:
                return False

        wait_until(serving, 30, "the agent to start")

    def log_tail(self) -> str:
        """The end of the processes' log."""
        self.log.flush()
        return (self.tmp / "processes.log").read_text()[-3000:]

    def agent_metric(self, name: str) -> float:
        """One unlabelled metric of the agent process."""
        return scrape(self.metrics_port, name)

    def start_collector(self) -> None:
        """Start the collector process and wait until it is subscribed."""
        self.collector_proc = subprocess.Popen(
            [sys.executable, "-m", "campuspulse", "collector", "-c", str(self.collector_config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def subscribed() -> bool:
            assert self.collector_proc is not None and self.collector_proc.poll() is None, self.log_tail()
            try:
                return scrape(self.collector_port, "campuspulse_collector_connected") == 1
            except httpx.TransportError:
                return False

        wait_until(subscribed, 30, "the collector to subscribe")

    def start_collectors(self, n: int) -> None:
        """Start `n` collectors in this process (sharing the subscription if more than one) and wait until each is
        subscribed."""
        group = "chaos" if n > 1 else None
        for i in range(n):
            options = CollectorSettings(client_id=f"chaos-coll-{i}", shared_group=group)
            writer = TelemetryWriter(self.engine, reorder_window_s=self.reorder_window_s)
            c = Collector(MqttSettings(port=self.broker.port), writer, options=options, sink=self.sink)
            c.start()
            assert c.connected.wait(10)
            self.collectors.append(c)
        self.collector = self.collectors[0]

    def stop_collectors(self) -> None:
        """Stop the collectors of this process (their broker sessions stay)."""
        for c in self.collectors:
            c.stop()
        self.collectors = []

    def kill_collector(self) -> None:
        """SIGKILL the collector process."""
        assert self.collector_proc is not None
        self.collector_proc.kill()
        self.collector_proc.wait(10)

    def queued(self) -> int:
        return len(RecordQueue(self.queue_path))

    def produced(self) -> int:
        return RecordQueue(self.queue_path).next_seq

    def epoch(self) -> str:
        """The epoch of the agent's queue file as it is now."""
        return RecordQueue(self.queue_path).epoch

    def stop_agent(self) -> None:
        assert self.agent is not None
        self.agent.send_signal(signal.SIGTERM)
        assert self.agent.wait(20) == 0, self.log_tail()

    def gaps(self, epoch: str) -> dict[str, set[int]]:
        """The seqs of the epoch's gaps in the store, per reason (lost, dropped)."""
        out: dict[str, set[int]] = defaultdict(set)
        with Session(self.engine) as s:
            q = select(SeqGap.reason, SeqGap.first_seq, SeqGap.last_seq).where(
                SeqGap.agent == "a1", SeqGap.epoch == epoch
            )
            for reason, first, last in s.execute(q):
                out[reason].update(range(first, last + 1))
        return out

    def account(self, scenario: str, lost_ok: bool = False, **extra: int) -> dict[str, int]:
        """Wait until everything the agent's current epoch produced is settled, then count (with `extra` columns);
        asserts the exact accounting: every seq reached the subscriber or was announced as dropped, the store
        settled each once and declared exactly the announced ones dropped, none arrived out of order. `lost_ok`:
        the scenario loses records past the broker; the store must then declare them lost, none silently missing."""
        epoch, produced = self.epoch(), self.produced()
        wait_until(lambda: self.queued() == 0, 60, "the agent's queue to drain")
        wait_until(lambda: self.settled(epoch) == (produced - 1, 0), 60, f"the store to settle {produced} records")
        with self.witness.lock:
            seen = list(self.witness.seen[epoch])
            dropped = set(self.witness.dropped[epoch])
        out_of_order = 0
        last: dict[str, int] = defaultdict(lambda: -1)
        seen_once: set[int] = set()
        for device, seq in seen:  # first arrivals, per device, must come in seq order
            if seq in seen_once:
                continue
            seen_once.add(seq)
            out_of_order += seq < last[device]
            last[device] = seq
        gaps = self.gaps(epoch)
        row = {
            "produced": produced,
            "at subscriber": len(seen_once),
            "announced dropped": len(dropped),
            "delivered twice": len(seen) - len(seen_once),
            "settled in the store": self.settled(epoch)[0] + 1,
            "lost": produced - len(seen_once | dropped),
            "gaps lost": len(gaps["lost"]),
            "gaps dropped": len(gaps["dropped"]),
            "out of order": out_of_order,
        }
        if self.victoria is not None:
            stored = produced - len(dropped)
            wait_until(lambda: len(self.series_seqs()[0]) >= stored, 90, "the time series to hold every record")
            seqs, samples = self.series_seqs()
            row |= {"in time series": len(seqs), "twice in time series": samples - len(seqs)}
        row |= extra
        table = Table(title=f"chaos: {scenario}")
        for k in row:
            table.add_column(k, justify="right")
        table.add_row(*(f"{v:,}" for v in row.values()))
        Console(force_terminal=False, width=160).print(table)
        assert seen_once | dropped == set(range(produced)), "every seq produced reached the subscriber or was dropped"
        assert not seen_once & dropped, "no seq both delivered and announced as dropped"
        assert row["settled in the store"] == produced and out_of_order == 0
        assert gaps["dropped"] == dropped, "the store declared exactly the announced drops"
        assert lost_ok or not gaps["lost"], f"{len(gaps['lost'])} seqs declared lost"
        if self.victoria is not None:
            assert row["in time series"] == produced - len(dropped) and row["twice in time series"] == 0
        return row

    def series_seqs(self) -> tuple[set[int], int]:
        """(the seqs the time-series store holds, its number of samples) over states and readings."""
        assert self.victoria is not None
        seqs: set[int] = set()
        samples = 0
        for metric in ("equipment_state_seq", "equipment_reading_seq"):
            for points in self.victoria.series(metric).values():
                seqs.update(int(v) for _, v in points)
                samples += len(points)
        return seqs, samples

    def settled(self, epoch: str | None = None) -> tuple[int, int]:
        """(the agent's highest seq settled in the store, records waiting behind a gap), in `epoch` (default: the
        agent's newest epoch in the store)."""
        with Session(self.engine) as s:
            pending = s.scalar(select(func.count()).select_from(PendingRecord))
            if epoch is None:
                return settled_through(s, "a1"), int(pending or 0)
            row = s.get(AgentProgress, ("a1", epoch))
            return (row.watermark if row is not None else -1), int(pending or 0)

    def close(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.kill()
        self.witness.close()
        for c in self.collectors:
            c.stop()
        if self.collector_proc is not None and self.collector_proc.poll() is None:
            self.collector_proc.terminate()
            self.collector_proc.wait(20)
        if self.victoria is not None:
            self.victoria.stop()
        if self.proxy is not None:
            self.proxy.close()
        self.broker.stop()
        self.engine.dispose()
        self.log.close()
