"""Runs the demo: amqtt broker, simulated agents, the collector and the server, in one process."""

import asyncio
import contextlib
import secrets
import shutil
import signal
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import uvicorn
from amqtt.broker import Broker
from rich.console import Console
from rich.live import Live
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from campuspulse.collector.service import Collector, CollectorCounters
from campuspulse.demo.campus import TZ, SimSchool, build_campus, live_periods, local_now, teaching_days
from campuspulse.demo.campus_data import provision_campus
from campuspulse.drivers.simulated import SimulatedDevice
from campuspulse.edge.agent import EdgeAgent
from campuspulse.edge.settings import AgentSettings, DeviceSettings
from campuspulse.server.access.principals import Scope
from campuspulse.server.alerts.rules import put_rule, read_rules
from campuspulse.server.alerts.service import AlertSettings
from campuspulse.server.app import create_app
from campuspulse.server.inventory.standards import list_standards
from campuspulse.server.metrics.available_time import local_ms
from campuspulse.server.metrics.compliance_service import compliance
from campuspulse.server.metrics.service import GroupBy, utilization
from campuspulse.server.web.charts import percent
from campuspulse.settings import MqttSettings

VALID_S, HEARTBEAT_S, POLL_S, READING_S = 60, 20.0, 5.0, 30.0
HISTORY_STEP_S = 60


@dataclass
class DemoOptions:
    """What `campuspulse demo` was asked for."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    broker_port: int = 1884
    history_days: int = 7
    duration_s: float = 0.0
    token: str | None = None
    compressed_day: bool = False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _agent_settings(
    sc: SimSchool, room_index: int, data_dir: Path, today: str, today_periods: list[tuple[str, str]]
) -> AgentSettings:
    room = sc.rooms[room_index]
    return AgentSettings(
        id=room.agent,
        school=sc.code,
        queue_path=data_dir / "agents" / f"{room.agent}.db",
        valid_s=VALID_S,
        heartbeat_s=HEARTBEAT_S,
        batch_size=1000,
        devices=[
            DeviceSettings.model_validate(
                {
                    "id": d.id,
                    "poll_s": POLL_S,
                    "reading_every_s": READING_S,
                    "source": {
                        "driver": "simulated",
                        "tz": TZ,
                        "periods": [list(p) for p in sc.periods],
                        "use_share": d.use_share,
                        "seed": f"{sc.code}/{d.id}",
                        "open_hours": ["07:00", "18:00"],
                        "day_overrides": {today: [list(p) for p in today_periods]},
                    },
                }
            )
            for d in room.devices
        ],
    )


def _history_windows(days: list[str], now: datetime, first_today: str, tz: ZoneInfo) -> list[tuple[int, int]]:
    """When the agents ran before now: 07:00–18:00 of past teaching days, and today from before its first period."""
    windows = [(local_ms(d, "07:00", tz), local_ms(d, "18:00", tz)) for d in map(date.fromisoformat, days)]
    now_ms = int(now.timestamp() * 1000)
    windows.append((min(local_ms(now.date(), first_today, tz) - 30 * 60_000, now_ms), now_ms))
    return windows


def _backfill(agent: EdgeAgent, windows: list[tuple[int, int]]) -> int:
    """Feed the agent's monitors the simulated history, as if it had been running: records go to its queue."""
    count = 0
    for start, end in windows:
        for t in range(start, end, HISTORY_STEP_S * 1000):
            batch = []
            for _dev, driver, monitor in agent.devices:
                assert isinstance(driver, SimulatedDevice)
                batch += monitor.observe(driver.sample(t))
            agent.queue.append(batch)
            count += len(batch)
    return count


def _pct(v: object) -> str:
    return percent(v if isinstance(v, float | int) else None)


def _school_table(
    engine: Engine, campus: list[SimSchool], today: str, counters: CollectorCounters, queued: int
) -> Table:
    tomorrow = (datetime.fromisoformat(today) + timedelta(days=1)).date().isoformat()
    table = Table(title=f"campuspulse demo — today ({today}, {TZ}), refreshed {datetime.now():%H:%M:%S}")
    table.add_column("school", no_wrap=True)
    for col in ("devices used", "avail. h", "in use h", "util.", "coverage", "sessions", "R_item", "达标"):
        table.add_column(col, justify="right")
    with Session(engine) as s:
        rows = utilization(s, Scope.CITY, "", today, tomorrow, GroupBy.SCHOOL)
        equipped = {}
        for std in list_standards(s):
            for c in compliance(s, Scope.CITY, "", std.code, std.version)["schools"]:
                if c["applies"]:
                    equipped[c["school"]] = (_pct(c["r_item"]), "yes" if c["compliant"] else "no")
    for r in rows:
        table.add_row(
            str(r["key"]),
            f"{r['devices_used']}/{r['devices']}",
            f"{cast(float, r['available_s']) / 3600:.1f}",
            f"{cast(float, r['in_use_s']) / 3600:.1f}",
            _pct(r["utilization"]),
            _pct(r["coverage"]),
            str(r["sessions"]),
            *equipped.get(str(r["key"]), ("—", "—")),
        )
    table.caption = (
        f"records stored {counters.records_stored:,} · duplicates {counters.duplicates:,} · "
        f"dead letters {counters.dead_letters} · waiting in agent queues {queued:,}"
    )
    return table


ALERT_RULES = Path(__file__).parents[3] / "config" / "alerts" / "campus.yaml"


DEMO_ROLES = {
    "admin": "admin: everything, users at /ui/users",
    "hd-manager": "district manager of haidian",
    "auditor": "auditor: reads the whole city",
    "hd-teacher": "teacher at hd-junior-01: records experiments at /ui/teach (try it on a phone)",
}


def _load_alert_rules(engine: Engine) -> int:
    """The campus alert rules of the checkout, if the demo runs from one; how many."""
    if not ALERT_RULES.exists():
        return 0
    rule_file = read_rules(ALERT_RULES)
    with Session(engine) as s, s.begin():
        s.info["actor"] = "demo"
        for rule in rule_file.rules:
            put_rule(s, rule_file.version, rule)
    return len(rule_file.rules)


async def run_demo(opts: DemoOptions, console: Console | None = None) -> None:
    """Set up the simulated campus and run everything until interrupted (or for `duration_s`)."""
    console = console or Console()
    tz = ZoneInfo(TZ)
    if opts.data_dir.exists():
        shutil.rmtree(opts.data_dir)
    opts.data_dir.mkdir(parents=True)
    token = opts.token or secrets.token_urlsafe(24)
    now = local_now()
    today = now.date().isoformat()
    campus = build_campus()
    today_periods = {sc.code: live_periods(now, sc.periods, opts.compressed_day) for sc in campus}
    history = [d.isoformat() for d in teaching_days(now.date(), opts.history_days)]

    alerts = AlertSettings(enabled=True, tick_s=2)  # the alert centre of the dashboard; no channels
    app = create_app(f"sqlite:///{opts.data_dir / 'store.db'}", admin_token=token, rollup_every_s=30, alerts=alerts)
    engine = app.state.engine
    passwords = provision_campus(engine, campus, today_periods, history, today)

    mqtt = MqttSettings(host="127.0.0.1", port=opts.broker_port or _free_port())
    agents: list[EdgeAgent] = []
    for sc in campus:
        for i in range(len(sc.rooms)):
            agents.append(EdgeAgent(_agent_settings(sc, i, opts.data_dir, today, today_periods[sc.code]), mqtt))
    first_today = min(p[0][0] for p in today_periods.values())
    windows = _history_windows(history, now, first_today, tz)
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task(f"simulating {len(history)} teaching day(s) of history", total=len(agents))
        produced = 0
        for agent in agents:
            produced += _backfill(agent, windows)
            progress.advance(task)
    console.print(
        f"history: {produced:,} records queued by {len(agents)} agents for "
        f"{sum(len(r.devices) for sc in campus for r in sc.rooms)} devices"
    )

    anonymous = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{mqtt.port}"}}, "plugins": anonymous})
    await broker.start()
    collector = Collector(mqtt, app.state.writer, client_id="demo-collector")
    collector.start()
    if not await asyncio.to_thread(collector.connected.wait, 30):
        raise OSError(f"the demo's collector could not subscribe on 127.0.0.1:{mqtt.port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    agent_tasks = [asyncio.create_task(a.run(stop)) for a in agents]
    server = uvicorn.Server(uvicorn.Config(app, host=opts.host, port=opts.port, log_level="warning"))
    server_task = asyncio.create_task(server.serve())

    url = f"http://{opts.host}:{opts.port}"
    tomorrow = (now.date() + timedelta(days=1)).isoformat()
    console.print(f"\n[bold green]campuspulse demo is running:[/] dashboard {url}/ui/   (API docs: {url}/docs)")
    console.print(f"admin token: [bold]{token}[/]   MQTT broker: 127.0.0.1:{mqtt.port} (agents publish here)")
    console.print(
        f"try: curl -H 'Authorization: Bearer {token}' "
        f"'{url}/api/v1/utilization?scope=city&from={today}&to={tomorrow}&group_by=school'"
    )
    console.print(
        f"store: {opts.data_dir / 'store.db'} (SQLite); each school's equipment ledger is at "
        f"{url}/ui/manage (download, edit in Excel, upload)"
    )
    console.print(f"logins (dashboard {url}/ui/, or POST {url}/api/v1/auth/token):")
    for name, password in passwords.items():
        console.print(f"  [bold]{name:<11}[/] password [bold]{password}[/]   {DEMO_ROLES.get(name, '')}")
    if ALERT_RULES.exists():
        console.print(f"alerts: the rules of {ALERT_RULES} come into force once the agents have sent their history;")
        console.print(f"        the alert centre is {url}/ui/alerts")
    console.print("Ctrl-C stops it.\n")
    rules_loaded = False
    started = time.monotonic()
    try:
        with Live(console=console, refresh_per_second=1, transient=False) as live:
            while not stop.is_set():
                queued = sum(len(a.queue) for a in agents)
                if not queued and not rules_loaded:  # the history is in: alerts judge what really happened
                    await asyncio.to_thread(_load_alert_rules, engine)
                    rules_loaded = True
                live.update(_school_table(engine, campus, today, collector.counters, queued))
                if opts.duration_s and time.monotonic() - started >= opts.duration_s:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)
    finally:
        stop.set()
        await asyncio.gather(*agent_tasks, return_exceptions=True)
        collector.stop()
        server.should_exit = True
        await server_task
        await broker.shutdown()
        engine.dispose()
