"""Agents that die: a private broker, a collector, a server with the alert service and a webhook channel to a local
receiver, and N agent processes (two simulated devices each) that can be SIGKILLed and started again. Shared by
the end-to-end test (`tests/chaos/test_alert_latency.py`) and the benchmark
(`python -m tests.bench.bench_alert_latency`).
"""

import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.collector.service import Collector
from campuspulse.collector.settings import CollectorSettings
from campuspulse.server.alerts.channels import ChannelSettings
from campuspulse.server.alerts.rules import RuleIn, put_rule
from campuspulse.server.alerts.service import AlertSettings
from campuspulse.server.app import create_app
from campuspulse.server.inventory import service as inventory
from campuspulse.settings import MqttSettings
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.store.schema import Agent, StateSegment
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.receivers import HttpReceiver, http_receiver
from tests.support.waiting import wait_until

KEEPALIVE_S = 5  # the broker delivers an agent's last will 1.5 keepalives after it last heard it
OFFLINE_AFTER_S = 20  # the rule's silence timeout
DEVICE_AFTER_S = 20  # a device unknown this long in a teaching period is silent
SECRET = "rig-webhook-secret"


@dataclass
class AlertRig:
    """The running pieces, and when each agent was killed."""

    tmp: Path
    agents: list[str]
    hook: HttpReceiver
    engine: object
    log: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    killed_at: dict[str, float] = field(default_factory=dict)

    def start_agent(self, agent: str) -> None:
        """Start one agent process."""
        with self.log.open("a") as log:
            self.procs[agent] = subprocess.Popen(
                [sys.executable, "-m", "campuspulse", "agent", "-c", str(self.tmp / f"{agent}.yaml")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def online(self) -> set[str]:
        """The agents the store holds online."""
        with Session(self.engine) as s:  # type: ignore[call-overload]
            return set(s.scalars(select(Agent.id).where(Agent.online.is_(True))))

    def reporting(self) -> int:
        """How many devices have a state in the store."""
        with Session(self.engine) as s:  # type: ignore[call-overload]
            return len(set(s.execute(select(StateSegment.school, StateSegment.device)).all()))

    def kill_all(self) -> None:
        """SIGKILL every agent, noting when."""
        for agent, proc in self.procs.items():
            proc.send_signal(signal.SIGKILL)
            self.killed_at[agent] = time.time()
        for proc in self.procs.values():
            proc.wait(10)

    def notices(self, event: str, prefix: str = "agent:") -> dict[str, float]:
        """Subject → when the receiver first got `event` for it."""
        seen: dict[str, float] = {}
        for r in list(self.hook.requests):
            body = r.json
            subject = body["alert"]["subject"]
            if body["event"] == event and subject.startswith(prefix):
                seen.setdefault(subject, r.at)
        return seen

    def latencies(self) -> list[float]:
        """Seconds from each kill to its agent's alert at the receiver."""
        opened = self.notices("opened")
        return [opened[f"agent:{a}"] - self.killed_at[a] for a in self.agents if f"agent:{a}" in opened]


def summary(latencies: list[float]) -> str:
    """p50, p99 and max of the detection latencies."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.1f} s, p99 {p99:.1f} s, max {ordered[-1]:.1f} s over {len(ordered)}"


@contextmanager
def alert_rig(tmp: Path, n_agents: int) -> Iterator[AlertRig]:
    """Everything up, the agents started and online in the store."""
    with ExitStack() as stack:
        broker = Mosquitto(tmp / "broker")
        (tmp / "broker").mkdir()
        broker.start()
        stack.callback(broker.stop)
        hook = stack.enter_context(http_receiver())
        channel = ChannelSettings(name="ops", kind="webhook", url=f"{hook.url}/alerts", secret=SECRET)
        app = create_app(
            f"sqlite:///{tmp / 'store.db'}", alerts=AlertSettings(enabled=True, tick_s=0.5, channels=[channel])
        )
        engine = app.state.engine
        agents = [f"a{i:02d}" for i in range(n_agents)]
        with Session(engine) as s, s.begin():
            s.info["actor"] = "rig"
            inventory.put_school(s, "s1", {"name": "S1", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
            s.flush()
            for agent in agents:
                inventory.put_agent(s, agent, "s1")
                s.flush()
                for d in range(2):
                    inventory.put_device(s, "s1", f"{agent}-dev{d}", {"agent": agent, "room": "lab", "kind": "pc"})
            put_rule(
                s,
                "1",
                RuleIn(
                    code="agent-offline",
                    kind="agent_offline",
                    severity="critical",
                    after_s=OFFLINE_AFTER_S,
                    clear_after_s=5,
                    every_s=1,
                ),
            )
            put_rule(s, "1", RuleIn(code="device-silent", kind="device_silent", after_s=DEVICE_AFTER_S, every_s=1))
        writer = TelemetryWriter(engine)
        collector = Collector(MqttSettings(port=broker.port), writer, options=CollectorSettings(client_id="rig-coll"))
        collector.start()
        assert collector.connected.wait(10)
        stack.callback(collector.stop)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 30, "the server to start")

        def stop_server() -> None:
            server.should_exit = True
            thread.join(10)
            engine.dispose()

        stack.callback(stop_server)
        source = '{driver: simulated, use_share: 0.5, jitter_min: 0, open_hours: ["00:00", "24:00"]}'
        for agent in agents:
            devices = "\n".join(
                f"    - {{id: {agent}-dev{d}, poll_s: 1, reading_every_s: 5, source: {source}}}" for d in range(2)
            )
            (tmp / f"{agent}.yaml").write_text(
                f"mqtt: {{port: {broker.port}, keepalive_s: {KEEPALIVE_S}}}\nagent:\n  id: {agent}\n  school: s1\n"
                f"  queue_path: {tmp / agent}.db\n  valid_s: 3\n  heartbeat_s: 1\n  status_every_s: 2\n"
                f"  devices:\n{devices}\n"
            )
        rig = AlertRig(tmp, agents, hook, engine, tmp / "agents.log")

        def stop_agents() -> None:
            for proc in rig.procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)

        stack.callback(stop_agents)
        for agent in agents:
            rig.start_agent(agent)
        wait_until(lambda: rig.online() >= set(agents), 120, "every agent online in the store")
        wait_until(lambda: rig.reporting() >= 2 * len(agents), 120, "every device's state in the store")
        local = datetime.now(ZoneInfo("Asia/Shanghai"))
        with Session(engine) as s, s.begin():  # teaching from now on, with every device reporting
            s.info["actor"] = "rig"
            inventory.put_calendar_day(s, "s1", local.date().isoformat(), [[local.strftime("%H:%M"), "23:59"]])
        yield rig
