"""The FastAPI application."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campuspulse import __version__
from campuspulse.heap import settle_heap
from campuspulse.server.access.credentials import signing_key
from campuspulse.server.access.principals import Forbidden
from campuspulse.server.alerts.service import AlertService, AlertSettings
from campuspulse.server.api import alerts as alerts_api
from campuspulse.server.api import (
    audit,
    calendars,
    experiments,
    figures,
    insights,
    inventory,
    kinds,
    operations,
    provisioning,
    reports,
    standards,
    telemetry,
    users,
)
from campuspulse.server.api_docs import add_api_docs, describe_refusals
from campuspulse.server.audit_checkpoints import Checkpointer, CheckpointError, record_public_key
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.inventory.excel import SheetRejected
from campuspulse.server.metrics.readings import ReadingsStore
from campuspulse.server.scheduler import start_scheduler
from campuspulse.server.settings import AgentBrokerSettings
from campuspulse.server.web import (
    accounts,
    agent_setup,
    alert_centre,
    audit_console,
    console,
    pages,
    reports_console,
    school_admin,
    school_console,
    table_xlsx,
    teaching,
)
from campuspulse.server.web.session import LoginRequired, to_login
from campuspulse.store.db import make_engine, upgrade
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.telemetry import ContractError

API_PREFIX = "/api/v1"
INGEST_PATHS = ("/ingest/records",)


def _nul_refused(where: str) -> Response:
    detail = f"{where} holds a NUL character (\\u0000), which no field accepts"
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
log = logging.getLogger(__name__)


def _background(
    writer: TelemetryWriter,
    every_s: float,
    rollup_every_s: float | None,
    tz: str,
    checkpoints: tuple[Checkpointer, float] | None,
    alerts: tuple[AlertService, float] | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """While the server runs: settle stale seq gaps (records sent over HTTP wait behind gaps too), if asked, run
    the scheduler that keeps the daily rollups current, and publish checkpoints of the audit chain."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settle_heap()
        scheduler = start_scheduler(writer.engine, rollup_every_s, tz) if rollup_every_s else None

        async def loop() -> None:
            while True:
                await asyncio.sleep(every_s)
                try:
                    await asyncio.to_thread(writer.settle_stale_gaps)
                except Exception:
                    log.exception("settling seq gaps failed")

        async def checkpoint_loop(checkpointer: Checkpointer, period_s: float) -> None:
            while True:
                try:
                    cp = await asyncio.to_thread(checkpointer.run_once, writer.engine)
                    if cp is not None:
                        log.info("audit: checkpoint of entry %d published to %s", cp.seq, checkpointer.target)
                except CheckpointError as exc:
                    log.error("audit: %s; retrying in %.0f s", exc, min(period_s, 60))
                    await asyncio.sleep(min(period_s, 60))
                    continue
                except Exception:
                    log.exception("audit: publishing a checkpoint failed")
                await asyncio.sleep(period_s)

        async def alert_loop(service: AlertService, tick_s: float) -> None:
            while True:
                try:
                    await asyncio.to_thread(service.evaluate)
                    await asyncio.to_thread(service.deliver)
                except Exception:
                    log.exception("alerts: evaluation or delivery failed")
                await asyncio.sleep(tick_s)

        tasks = [asyncio.create_task(loop())]
        if checkpoints is not None:
            tasks.append(asyncio.create_task(checkpoint_loop(*checkpoints)))
        if alerts is not None:
            tasks.append(asyncio.create_task(alert_loop(*alerts)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if scheduler is not None:
                scheduler.shutdown(wait=False)

    return lifespan


def _answer_with(code: int) -> Callable[[Request, Exception], JSONResponse]:
    def handler(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


def _sheet_rejected(_request: Request, exc: Exception) -> JSONResponse:
    problems = exc.problems if isinstance(exc, SheetRejected) else []
    body = {"detail": str(exc), "problems": [p.as_dict() for p in problems]}
    return JSONResponse(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _jwt_key(engine: Engine, configured: str | None) -> str:
    """The configured key, or the one every replica shares through the store (made by the first)."""
    for _ in range(2):
        try:
            with Session(engine) as s, s.begin():
                s.info["actor"] = "server"
                return signing_key(s, configured)
        except IntegrityError:  # another replica made it at the same moment
            continue
    raise RuntimeError("could not read the JWT signing key from the store")


def create_app(
    store_url: str | Engine,
    admin_token: str | None = None,
    reorder_window_s: float = 300,
    max_future_skew_s: float = 300,
    settle_every_s: float = 30,
    jwt_secret: str | None = None,
    access_token_ttl: timedelta = timedelta(hours=8),
    rollup_every_s: float | None = None,
    login_attempts: int = 10,
    login_window: timedelta = timedelta(minutes=15),
    cors_origins: list[str] | None = None,
    ui_timezone: str = "Asia/Shanghai",
    live_every_s: float = 2,
    readings_url: str | None = None,
    api_docs: bool = True,
    checkpointer: Checkpointer | None = None,
    checkpoint_every_s: float = 3600,
    alerts: AlertSettings | None = None,
    agent_broker: AgentBrokerSettings | None = None,
) -> FastAPI:
    """The server on a store URL or an open engine; the schema is migrated on start.

    `rollup_every_s` runs the rollup scheduler in this process (give it to one replica only); `checkpointer`
    publishes signed checkpoints of the audit chain every `checkpoint_every_s` (its public key is recorded in the
    store, so that a change of key is audited); `alerts`, when enabled, evaluates the alert rules and delivers
    their notifications; `agent_broker` is the broker named in the agent configs the dashboard hands out (and,
    with its password and ACL files, where it sets their credentials).
    """
    engine = make_engine(store_url) if isinstance(store_url, str) else store_url
    upgrade(engine)
    alert_service = AlertService(engine, alerts.channels) if alerts and alerts.enabled else None
    writer = TelemetryWriter(engine, reorder_window_s, max_future_skew_s)
    app = FastAPI(
        lifespan=_background(
            writer,
            settle_every_s,
            rollup_every_s,
            ui_timezone,
            (checkpointer, checkpoint_every_s) if checkpointer else None,
            (alert_service, alerts.tick_s) if alert_service and alerts else None,
        ),
        title="campuspulse",
        version=__version__,
        description="Equipment usage, compliance and experiment offering, measured from the equipment.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    describe_refusals(app)
    if api_docs:
        add_api_docs(app)
    app.state.engine = engine
    app.state.writer = writer
    app.state.admin_token = admin_token or os.environ.get("CAMPUSPULSE_ADMIN_TOKEN")
    app.state.jwt_key = _jwt_key(engine, jwt_secret)
    app.state.checkpointer = checkpointer
    app.state.alerts = alert_service
    if checkpointer is not None:
        with Session(engine) as s, s.begin():
            s.info["actor"] = "server"
            record_public_key(s, checkpointer.key.public_key())
    app.state.access_token_ttl = access_token_ttl
    app.state.login_limit = (login_attempts, login_window)
    app.state.ui_tz, app.state.live_every_s = ui_timezone, live_every_s
    app.state.agent_broker = agent_broker
    app.state.readings = ReadingsStore(readings_url) if readings_url else None
    if cors_origins:  # closed unless origins are named
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """A NUL character in a path, a query or a JSON or form body is refused at the door (422): no field of the
        store can hold one (PostgreSQL refuses it in text). Ingest bodies follow the contract's own rules."""
        if "\x00" in request.url.path or b"%00" in request.scope.get("query_string", b""):
            return _nul_refused("the address")
        kind = request.headers.get("content-type", "")
        if kind.startswith(("application/json", "application/x-www-form-urlencoded")) and not request.url.path.endswith(
            INGEST_PATHS
        ):
            body = await request.body()
            encoded = b"%00" if kind.startswith("application/x-www-form-urlencoded") else b"\\u0000"
            if b"\x00" in body or encoded in body:
                return _nul_refused("the body")
        return await call_next(request)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(API_PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
        elif request.url.path.startswith("/ui/"):
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            if not request.url.path.startswith("/ui/static/"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response

    for module in (
        users,
        provisioning,
        inventory,
        kinds,
        calendars,
        standards,
        experiments,
        telemetry,
        figures,
        insights,
        reports,
        operations,
        audit,
        alerts_api,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    for exc_type, code in (
        (Forbidden, status.HTTP_403_FORBIDDEN),
        (NotFound, status.HTTP_404_NOT_FOUND),
        (Conflict, status.HTTP_409_CONFLICT),
        (ContractError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    ):
        app.add_exception_handler(exc_type, _answer_with(code))
    app.add_exception_handler(SheetRejected, _sheet_rejected)
    app.include_router(pages.router)
    app.include_router(accounts.router)
    app.include_router(alert_centre.router)
    app.include_router(teaching.router)
    app.include_router(console.router)
    app.include_router(reports_console.router)
    app.include_router(audit_console.router)
    app.include_router(school_console.router)
    app.include_router(table_xlsx.router)
    app.include_router(agent_setup.router)
    app.include_router(school_admin.router)
    app.mount("/ui/static", StaticFiles(directory=pages.STATIC_DIR), name="ui-static")
    app.add_exception_handler(LoginRequired, to_login)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=status.HTTP_303_SEE_OTHER)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
