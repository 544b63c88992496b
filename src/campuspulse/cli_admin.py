"""`campuspulse admin …` and `campuspulse import …`: store administration from the command line.

They write straight to the store named by `--store` (or `CAMPUSPULSE_STORE__URL`), as actor `cli:<login>`.
"""

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress

from campuspulse.config_files import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from campuspulse.server.access.principals import Role, ScopeKind

admin_app = typer.Typer(help="Users and tokens.", no_args_is_help=True)
import_app = typer.Typer(help="Load standards and ledgers from files.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        "--ledger",
        envvar=["CAMPUSPULSE_STORE__URL", "CAMPUSPULSE_LEDGER__URL"],
        help="the store's URL (default: the SQLite file)",
    ),
]


@contextmanager
def store_session(store: str | None) -> "Iterator[Session]":
    """A session on the store of `--store` (default: the SQLite file) in one transaction, acting as `cli:<login>`."""
    from sqlalchemy.orm import Session  # the agent's process, which shares this CLI, never loads SQLAlchemy

    from campuspulse.store.db import open_store
    from campuspulse.store.settings import StoreSettings

    engine = open_store(store or StoreSettings().url)
    try:
        with Session(engine) as s, s.begin():
            s.info["actor"] = f"cli:{getpass.getuser()}"
            yield s
    finally:
        engine.dispose()


def _read_all(files: list[Path], read: Callable[[Path], T]) -> list[T]:
    """Every file read, or exit 2 after printing every problem of the first file that has any."""
    try:
        return [read(f) for f in files]
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]error[/] {problem}", highlight=False)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error[/] {message}", highlight=False)
    raise typer.Exit(code)


@admin_app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="admin, district_manager, school_manager or auditor")],
    scope: Annotated[str, typer.Option(help="all, region:<code> or school:<code>")] = "all",
    store: StoreOpt = None,
    password_env: Annotated[
        str | None, typer.Option(help="read the password from this environment variable instead of prompting")
    ] = None,
    machine: Annotated[bool, typer.Option(help="no password: the user logs in with API tokens only")] = False,
) -> None:
    """Create a user with a role over a scope."""
    from campuspulse.server.access.credentials import create_user as create

    role_v, kind_v, ident = _role_and_scope(role, scope)
    password = None if machine else _new_password(password_env)
    try:
        with store_session(store) as s:
            create(s, username, role_v, kind_v, ident, password)
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"created {username} ({role_v.value} over {scope})")


def _new_password(password_env: str | None) -> str:
    password = os.environ.get(password_env) if password_env else None
    if not password_env:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password or len(password) < 10:
        _fail("the password must have at least 10 characters")
    return password


def _role_and_scope(role: str, scope: str) -> "tuple[Role, ScopeKind, str]":
    from campuspulse.server.access.principals import Role, ScopeKind

    kind, _, ident = scope.partition(":")
    try:
        return Role(role), ScopeKind(kind), ident
    except ValueError as exc:
        _fail(f"{exc}; roles: {', '.join(Role)}; scopes: all, region:<code>, school:<code>")


def _on_user(store: str | None, change: "Callable[[Session], object]") -> None:
    """Apply a change to a user in one transaction; exit 2 saying why if there is no such user or it is refused."""
    try:
        with store_session(store) as s:
            change(s)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))


@admin_app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help="the user to change")],
    role: Annotated[str, typer.Option(help="admin, district_manager, school_manager or auditor")],
    scope: Annotated[str, typer.Option(help="all, region:<code> or school:<code>")] = "all",
    store: StoreOpt = None,
) -> None:
    """Give a user another role or scope; their sessions end (audited)."""
    from campuspulse.server.access.credentials import set_role as change

    role_v, kind_v, ident = _role_and_scope(role, scope)
    _on_user(store, lambda s: change(s, username, role_v, kind_v, ident))
    console.print(f"{username} is now {role_v.value} over {scope}; their sessions have ended")


@admin_app.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument(help="the user whose password is set")],
    store: StoreOpt = None,
    password_env: Annotated[
        str | None, typer.Option(help="read the password from this environment variable instead of prompting")
    ] = None,
) -> None:
    """Set a user's password; every session of theirs ends (audited)."""
    from campuspulse.server.access.credentials import set_password

    password = _new_password(password_env)
    _on_user(store, lambda s: set_password(s, username, password))
    console.print(f"{username}'s password is set; their sessions have ended")


@admin_app.command("disable-user")
def disable_user(
    username: Annotated[str, typer.Argument(help="the user to disable (or enable with --enable)")],
    store: StoreOpt = None,
    enable: Annotated[bool, typer.Option(help="enable the user again")] = False,
) -> None:
    """Disable a user: every token and session of theirs is refused at once (audited)."""
    from campuspulse.server.access.credentials import set_disabled

    _on_user(store, lambda s: set_disabled(s, username, not enable))
    console.print(f"{username} {'enabled' if enable else 'disabled'}")


@admin_app.command("delete-user")
def delete_user(
    username: Annotated[str, typer.Argument(help="the user to delete")],
    store: StoreOpt = None,
) -> None:
    """Delete a user and revoke their API tokens; their sessions die too, even if the name is reused (audited)."""
    from campuspulse.server.access.credentials import delete_user as delete

    _on_user(store, lambda s: delete(s, username))
    console.print(f"{username} deleted; their API tokens are revoked")


@admin_app.command("create-token")
def create_token(
    username: Annotated[str, typer.Argument(help="the user the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for")],
    store: StoreOpt = None,
    ttl_days: Annotated[int | None, typer.Option(help="expires after this many days (default: never)")] = None,
    agent: Annotated[str | None, typer.Option(help="bind the token to this agent: it posts its records only")] = None,
) -> None:
    """Create an API token for a machine; it is printed once."""
    from datetime import timedelta

    from campuspulse.server.access.credentials import BadCredentials, create_api_token
    from campuspulse.server.access.principals import Forbidden

    try:
        with store_session(store) as s:
            ttl = timedelta(days=ttl_days) if ttl_days else None
            _, secret = create_api_token(s, username, name, ttl, agent)
    except (BadCredentials, Forbidden) as exc:
        _fail(str(exc))
    console.print(secret, highlight=False)


@import_app.command("standards")
def import_standards(
    files: Annotated[list[Path], typer.Argument(help="standard files (YAML), e.g. config/standards/*.yaml")],
    store: StoreOpt = None,
) -> None:
    """Load or replace equipment standards from their files (all files, or none if one is wrong)."""
    from campuspulse.server.inventory.standards import load_standard_file, put_standard

    parsed = _read_all(files, load_standard_file)
    with store_session(store) as s, Progress(console=console) as progress:
        task = progress.add_task("standards", total=len(parsed))
        for code, version, body in parsed:
            created = put_standard(s, code, version, body)
            progress.console.print(f"{'created' if created else 'replaced'} {code} {version} ({len(body.items)} items)")
            progress.advance(task)


@import_app.command("alert-rules")
def import_alert_rules(
    files: Annotated[list[Path], typer.Argument(help="alert rule files (YAML), e.g. config/alerts/*.yaml")],
    store: StoreOpt = None,
) -> None:
    """Load alert rules from their files, each rule under the file's version (all files, or none if one is wrong)."""
    from campuspulse.server.alerts.rules import put_rule, read_rules

    parsed = _read_all(files, read_rules)
    with store_session(store) as s:
        for rule_file in parsed:
            for rule in rule_file.rules:
                created = put_rule(s, rule_file.version, rule)
                console.print(f"{'created' if created else 'replaced'} {rule.code} {rule_file.version} ({rule.kind})")


@import_app.command("equipment")
def import_equipment(
    school: Annotated[str, typer.Argument(help="school code")],
    file: Annotated[Path, typer.Argument(help="equipment ledger .xlsx (layout: GET /api/v1/templates/equipment.xlsx)")],
    store: StoreOpt = None,
    replace: Annotated[bool, typer.Option(help="also delete the school's lines the file lacks")] = False,
) -> None:
    """Import a school's equipment ledger; with any problem nothing is written and every problem is listed."""
    from campuspulse.server.errors import NotFound
    from campuspulse.server.inventory.equipment_ledger import import_ledger
    from campuspulse.server.inventory.excel import SheetRejected

    try:
        with store_session(store) as s:
            result = import_ledger(s, school, file.read_bytes(), "replace" if replace else "upsert")
    except SheetRejected as exc:
        for p in exc.problems:
            err.print(f"[red]error[/] {file}: row {p.row}: {p.column}: {p.message}", highlight=False)
        _fail(str(exc))
    except (NotFound, OSError) as exc:
        _fail(str(exc))
    console.print(f"{school}: {result.created} created, {result.updated} updated, {result.deleted} deleted")


@import_app.command("calendars")
def import_calendars(
    files: Annotated[list[Path], typer.Argument(help="calendar files (YAML), e.g. config/calendars/*.yaml")],
    store: StoreOpt = None,
) -> None:
    """Load or replace calendars and day schedules; schools that follow them are recompiled."""
    from campuspulse.server.inventory import timetables
    from campuspulse.server.inventory.calendar_files import load_calendar_file

    parsed = _read_all(files, load_calendar_file)
    with store_session(store) as s:
        for f in parsed:
            for code, schedule in f.schedules.items():
                _, n = timetables.put_schedule(s, code, schedule)
                console.print(f"schedule {code}: {len(schedule.periods_by_weekday())} weekdays, {n} schools recompiled")
            for code, calendar in f.calendars.items():
                _, n = timetables.put_calendar(s, code, calendar)
                console.print(f"calendar {code}: {len(calendar.terms)} terms, {n} schools recompiled")


@import_app.command("experiments")
def import_experiments(
    files: Annotated[list[Path], typer.Argument(help="experiment catalog CSV files, e.g. config/experiments/*.csv")],
    store: StoreOpt = None,
) -> None:
    """Load or replace experiments of the catalog (all files, or none if one is wrong)."""
    from campuspulse.server.inventory.experiments import load_catalog_csv, put_catalog_item

    parsed = list(zip(files, _read_all(files, load_catalog_csv), strict=True))
    with store_session(store) as s, Progress(console=console) as progress:
        task = progress.add_task("experiments", total=sum(len(items) for _, items in parsed))
        for f, items in parsed:
            created = 0
            for item in items:
                created += put_catalog_item(s, item)
                progress.advance(task)
            progress.console.print(f"{f}: {created} created, {len(items) - created} replaced")


metrics_app = typer.Typer(help="Daily rollups behind the figures.", no_args_is_help=True)


@metrics_app.command("rebuild")
def rebuild(
    from_: Annotated[str, typer.Option("--from", help="first local day, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="last local day, YYYY-MM-DD (inclusive)")],
    school: Annotated[list[str] | None, typer.Option(help="only these schools (repeatable)")] = None,
    store: StoreOpt = None,
) -> None:
    """Recompute the daily rollups of every school (or the given ones) from --from to --to."""
    from datetime import date

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from campuspulse.server.metrics.rollups import rebuild as rebuild_rollups
    from campuspulse.store.db import open_store
    from campuspulse.store.schema import School
    from campuspulse.store.settings import StoreSettings

    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        _fail(f"--from and --to take dates such as 2026-09-01 ({exc})")
    if last < first:
        _fail("--to is before --from")
    engine = open_store(store or StoreSettings().url)
    try:
        with Session(engine) as s:
            codes = school or list(s.scalars(select(School.code).order_by(School.code)))
        rows = 0
        with Progress(console=console) as progress:
            task = progress.add_task(f"rollups {first}..{last}", total=len(codes))

            def advance(_code: str, n: int) -> None:
                nonlocal rows
                rows += n
                progress.advance(task)

            rebuild_rollups(engine, first, last, codes, advance)
    finally:
        engine.dispose()
    console.print(f"{len(codes)} schools, {rows:,} device-days rolled up")
