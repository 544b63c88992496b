"""The `campuspulse` command: agent, collector, server, demo, check-config."""

import asyncio
import logging
import re
import signal
import sys
import threading
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from campuspulse.cli_admin import admin_app, import_app, metrics_app
from campuspulse.cli_audit import audit_app
from campuspulse.heap import settle_heap
from campuspulse.settings import ConfigError, ConfigProblem, ProcessSettings, S, read_settings

if TYPE_CHECKING:
    from campuspulse.edge.settings import AgentSettings

app = typer.Typer(
    help="Equipment usage, compliance and experiment offering, measured from the equipment.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)
app.add_typer(admin_app, name="admin")
app.add_typer(import_app, name="import")
app.add_typer(metrics_app, name="metrics")
app.add_typer(audit_app, name="audit")
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config file", exists=False)]


def _fail(exc: ConfigError) -> NoReturn:
    for problem in exc.problems:
        err.print(f"[red]error[/] {problem}", highlight=False)
    raise typer.Exit(2) from None


def _load(path: Path, model: type[S]) -> S:
    try:
        settings, warnings = read_settings(path, model)
    except ConfigError as exc:
        _fail(exc)
    for warning in warnings:
        err.print(f"[yellow]warning[/] {warning} (the old name still works)", highlight=False)
    return settings


# the extra whose libraries each command needs
EXTRA_OF = {
    "agent": "agent",
    "collector": "collector",
    "server": "server",
    "demo": "demo",
    "admin": "server",
    "audit": "server",
    "import": "server",
    "metrics": "server",
}


def main() -> None:
    """The `campuspulse` command; a library that a command needs but this install lacks names the extra to add."""
    try:
        app()
    except ModuleNotFoundError as exc:
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
        if exc.name is None or exc.name.startswith("campuspulse") or command not in EXTRA_OF:
            raise
        extra = EXTRA_OF[command]
        needs = f"`campuspulse {command}` needs {exc.name.split('.')[0]}, which this install lacks"
        err.print(f"[red]error[/] {escape(needs)}: pip install " + escape(f"'campuspulse[{extra}]'"), highlight=False)
        raise SystemExit(2) from None


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the agent's loop on uvloop where there is one (a fraction of asyncio's overhead per wake-up for
    hundreds of pollers), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:  # Windows
        asyncio.run(main)
        return
    uvloop.run(main)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command("check-config")
def check_config(file: Annotated[Path, typer.Argument(help="the YAML file to check")]) -> None:
    """Validate a config file for every role it configures: print each problem with file, line and field; exit 2
    if there is one."""
    from campuspulse.config_files import read_yaml
    from campuspulse.settings import SECTIONS

    try:
        data, _ = read_yaml(file, "sections")
    except ConfigError as exc:
        _fail(exc)
    models: list[type[ProcessSettings]] = []
    if "agent" in data:  # the agent's settings load its drivers, which only an agent's install has
        from campuspulse.edge.settings import AgentRoleSettings

        models.append(AgentRoleSettings)
    from campuspulse.collector.settings import CollectorRoleSettings
    from campuspulse.server.settings import ServerRoleSettings

    models += [CollectorRoleSettings, ServerRoleSettings]
    errors: dict[str, ConfigProblem] = {}  # by text: the roles share sections, and so their problems
    warnings: dict[str, ConfigProblem] = {}
    for model in models:
        try:
            warnings |= {str(w): w for w in read_settings(file, model)[1]}
        except ConfigError as exc:
            errors |= {str(p): p for p in exc.problems}
    for text in warnings:
        err.print(f"[yellow]warning[/] {text}", highlight=False)
    for text in errors:
        err.print(f"[red]error[/] {text}", highlight=False)
    if errors:
        raise typer.Exit(2)
    sections = [name for name in SECTIONS if name in data or (name == "store" and "ledger" in data)]
    console.print(f"{file}: OK ({', '.join(sections) or 'defaults only'})")


@app.command("check-standard")
def check_standard(file: Annotated[Path, typer.Argument(help="the standard's YAML file")]) -> None:
    """Validate an equipment standard's file (and its CSV); name the 基本 items without a reference price, with
    which R_val cannot be computed for any school. Exit 2 on an error, 1 if items lack a price."""
    from campuspulse.server.inventory.standards import load_standard_file, unpriced_items

    try:
        code, version, body = load_standard_file(file)
    except ConfigError as exc:
        _fail(exc)
    basic = [i for i in body.items if i.category == "基本" and not i.consumable]
    unpriced = unpriced_items(body)
    for item in unpriced:
        text = f"{file}: 基本 item {item.code} ({item.name}) has no reference_price"
        err.print(f"[yellow]warning[/] {text}", highlight=False)
    console.print(
        f"{file}: {code} {version}, {len(body.items)} items ({len(basic)} 基本 counted in the rates); "
        + (f"R_val will be null until {len(unpriced)} reference price(s) are given" if unpriced else "R_val computable")
    )
    if unpriced:
        raise typer.Exit(1)


agent_app = typer.Typer(
    help="Run an edge agent (`campuspulse agent -c FILE`), or provision one.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(agent_app, name="agent")


@agent_app.callback()
def agent(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file")] = None,
    verbose: bool = False,
) -> None:
    """Run an edge agent: poll its devices, queue records on disk, publish them over MQTT."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        err.print("[red]error[/] give the agent's config: campuspulse agent -c FILE (or: campuspulse agent provision)")
        raise typer.Exit(2)
    from campuspulse.edge.agent import EdgeAgent
    from campuspulse.edge.metrics import serve_metrics
    from campuspulse.edge.queue import QueueUnavailable
    from campuspulse.edge.settings import AgentRoleSettings

    settings = _load(config, AgentRoleSettings)
    agent_settings = settings.agent
    if agent_settings is None:
        err.print(f"[red]error[/] {config}: no `agent:` section; see config/examples/agent-simulated.yaml")
        raise typer.Exit(2)
    _logging(verbose)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def reread() -> "AgentSettings":
            fresh = read_settings(config, AgentRoleSettings)[0].agent
            if fresh is None:
                raise ValueError(f"{config}: no `agent:` section")
            return fresh

        try:
            runner = EdgeAgent(agent_settings, settings.mqtt, reload=reread)
        except QueueUnavailable as exc:
            err.print(f"[red]error[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        settle_heap()
        if agent_settings.metrics_port:
            serve_metrics(runner, agent_settings.metrics_port)
        await runner.run(stop)

    _run_loop(main())


@agent_app.command("discover")
def agent_discover(
    broker: Annotated[str, typer.Option(help="the campus broker the plugs publish to, host[:port]")],
    seconds: Annotated[float, typer.Option(min=1, max=600, help="how long to listen")] = 15.0,
    pjlink: Annotated[
        list[str] | None, typer.Option(help="a projector's address to probe, host[:port] (repeat for more)")
    ] = None,
    username: Annotated[str | None, typer.Option(help="the broker's username, if it asks for one")] = None,
    password: Annotated[str | None, typer.Option(envvar="CAMPUSPULSE_MQTT__PASSWORD", help="its password")] = None,
    write: Annotated[Path | None, typer.Option(help="write the found devices' config sections here")] = None,
) -> None:
    """Find Tasmota and Shelly plugs announcing themselves on the broker, and PJLink projectors at the addresses
    given (no other address is probed); print them and write device sections to review."""
    from rich.progress import Progress
    from rich.table import Table

    from campuspulse.edge.discovery import device_sections, listen, probe_pjlink

    host, _, port_text = broker.partition(":")
    if port_text and not port_text.isdigit():
        err.print(f"[red]error[/] --broker {broker!r}: expected host or host:port")
        raise typer.Exit(2)

    async def find() -> list:
        found = await listen(host, int(port_text or 1883), seconds, username, password)
        for address in pjlink or []:
            projector = await probe_pjlink(address)
            if projector is None:
                err.print(f"[yellow]warning[/] {address}: no PJLink greeting there", highlight=False)
            else:
                found.append(projector)
        return found

    with Progress(transient=True, console=err) as progress:
        progress.add_task(f"listening on {broker} for {seconds:.0f} s", total=None)
        try:
            found = asyncio.run(find())
        except OSError as exc:
            err.print(f"[red]error[/] cannot reach the broker at {broker}: {exc}", highlight=False)
            raise typer.Exit(1) from None
    table = Table(title=f"{len(found)} device(s) found")
    for column in ("family", "device", "model", "channels", "metering", "note"):
        table.add_column(column)
    for f in found:
        metering = {True: "yes", False: "no", None: "?"}[f.metered]
        table.add_row(f.family, f.ident, f.model, str(f.channels), metering, f.note if f.family == "pjlink" else "")
    console.print(table)
    if write is not None and found:
        write.write_text(device_sections(found))
        console.print(f"device sections written to {write}: review them, then add them under `agent: devices:`")


@agent_app.command("provision")
def agent_provision(
    agent_id: Annotated[str, typer.Option("--id", help="the agent's id (its MQTT username)")],
    school: Annotated[str, typer.Option(help="the school the agent belongs to")],
    host: Annotated[str, typer.Option(help="the broker's host name, as the agent reaches it")],
    passwd_file: Annotated[Path, typer.Option(help="Mosquitto password_file to add the agent to")],
    acl_file: Annotated[Path, typer.Option(help="Mosquitto acl_file to add the agent's rules to")],
    out: Annotated[Path, typer.Option(help="where to write the agent's config")],
    port: int = 8883,
    ca_file: Annotated[Path | None, typer.Option(help="the CA the agent checks the broker's certificate with")] = None,
    queue_path: Path = Path("/var/lib/campuspulse/queue.db"),
) -> None:
    """Create (or renew) an agent's broker credentials: a password, ACL rules confining it to its own topics,
    and its config file with TLS; then reload Mosquitto (SIGHUP) to apply them."""
    from campuspulse.broker_accounts import provision
    from campuspulse.telemetry.topics import ID_PATTERN

    for name, value in (("--id", agent_id), ("--school", school)):
        if not re.fullmatch(ID_PATTERN, value):
            err.print(f"[red]error[/] {name} {value!r}: expected 1 to 64 letters, digits, '_' or '-'")
            raise typer.Exit(2)
    provision(agent_id, school, passwd_file, acl_file, out, host, port, ca_file, queue_path)
    console.print(
        f"agent {agent_id} of {school}: password set in {passwd_file}, rules in {acl_file}, config in "
        f"{out} (mode 600); reload the broker: systemctl reload mosquitto"
    )


@app.command()
def collector(config: ConfigOpt, verbose: bool = False) -> None:
    """Run the collector: MQTT → validation → dedup → store (and the time-series store, if configured)."""
    from campuspulse.collector.metrics import serve_metrics
    from campuspulse.collector.service import YOUNG_GC_THRESHOLD, Collector
    from campuspulse.collector.settings import CollectorRoleSettings
    from campuspulse.collector.timeseries import TimeSeriesSink
    from campuspulse.store.db import open_store
    from campuspulse.store.ingest import TelemetryWriter

    settings = _load(config, CollectorRoleSettings)
    _logging(verbose)
    opts, store = settings.collector, settings.store
    writer = TelemetryWriter(open_store(store.url), store.reorder_window_s, store.max_future_skew_s)
    ts = settings.timeseries
    sink = None
    if ts is not None:
        sink = TimeSeriesSink(
            ts.url, ts.token.get_secret_value(), ts.org, ts.bucket, ts.spool_path, ts.batch_lines, ts.max_spool_lines
        )
    col = Collector(settings.mqtt, writer, opts.client_id, opts, sink)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    settle_heap(YOUNG_GC_THRESHOLD)
    col.start()
    if opts.metrics_port:
        serve_metrics(col, opts.metrics_port)
    stop.wait()
    col.stop()


@app.command()
def server(config: ConfigOpt, verbose: bool = False) -> None:
    """Run the HTTP server (API under /api/v1, OpenAPI at /docs)."""
    import uvicorn

    from campuspulse.server.app import create_app
    from campuspulse.server.settings import ServerRoleSettings

    settings = _load(config, ServerRoleSettings)
    _logging(verbose)
    token = settings.server.admin_token.get_secret_value() if settings.server.admin_token else None
    opts = settings.server
    checkpointer = None
    if opts.audit_checkpoints:
        from campuspulse.server.audit_checkpoints import CheckpointError, open_checkpointer, public_key_text

        try:
            checkpointer, created = open_checkpointer(opts.audit_key_file, opts.audit_checkpoints)
        except CheckpointError as exc:
            err.print(f"[red]error[/] {exc} (server.audit_key_file)", highlight=False)
            raise typer.Exit(2) from None
        if created:
            console.print(
                f"made the audit checkpoint key {opts.audit_key_file}; its public key, for `campuspulse audit verify "
                f"--public-key`: {public_key_text(checkpointer.key.public_key())}",
                soft_wrap=True,
            )
    web = create_app(
        settings.store.url,
        admin_token=token,
        reorder_window_s=settings.store.reorder_window_s,
        max_future_skew_s=settings.store.max_future_skew_s,
        jwt_secret=opts.jwt_secret.get_secret_value() if opts.jwt_secret else None,
        access_token_ttl=timedelta(minutes=opts.access_token_minutes),
        rollup_every_s=opts.rollup_every_s if opts.scheduler else None,
        login_attempts=opts.login_attempts,
        login_window=timedelta(seconds=opts.login_window_s),
        cors_origins=opts.cors_origins,
        ui_timezone=opts.ui_timezone,
        live_every_s=opts.live_every_s,
        readings_url=opts.readings_url,
        api_docs=opts.api_docs,
        checkpointer=checkpointer,
        checkpoint_every_s=opts.audit_checkpoint_every_s,
        alerts=settings.alerts,
        agent_broker=opts.agent_broker,
    )
    proxies = opts.forwarded_allow_ips
    uvicorn.run(
        web,
        host=opts.host,
        port=opts.port,
        proxy_headers=bool(proxies),  # uvicorn would otherwise trust 127.0.0.1
        forwarded_allow_ips=proxies or None,
    )


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="HTTP port of the server")] = 8000,
    host: Annotated[str, typer.Option(help="address the server listens on")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option(help="where the demo keeps its store and agent queues")] = Path("var/demo"),
    history_days: Annotated[int, typer.Option(help="calendar days of simulated history before today")] = 7,
    duration: Annotated[float, typer.Option(help="stop after this many seconds (0: run until Ctrl-C)")] = 0,
    token: Annotated[str | None, typer.Option(envvar="CAMPUSPULSE_ADMIN_TOKEN", help="admin API token")] = None,
    compressed_day: Annotated[
        bool, typer.Option(help="make today a day of 20-minute periods around now, even during school hours")
    ] = False,
) -> None:
    """Run a simulated campus end to end on this machine: broker, agents, collector, server."""
    from campuspulse.demo.run import DemoOptions, run_demo

    logging.basicConfig(level=logging.ERROR)
    opts = DemoOptions(
        data_dir=data_dir,
        host=host,
        port=port,
        broker_port=0,
        history_days=history_days,
        duration_s=duration,
        token=token,
        compressed_day=compressed_day,
    )
    try:
        asyncio.run(run_demo(opts, console))
    except OSError as exc:
        err.print(f"[red]error[/] {exc}. Is port {port} taken? Try: campuspulse demo --port {port + 1}")
        raise typer.Exit(1) from None
