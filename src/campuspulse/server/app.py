"""The FastAPI application."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from campuspulse import __version__
from campuspulse.server.api import figures, operations, provisioning, telemetry
from campuspulse.server.ledger.db import make_engine, upgrade
from campuspulse.server.ledger.ingest import Ledger

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)


def _gap_settler(ledger: Ledger, every_s: float) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Records sent over HTTP wait behind seq gaps too: settle stale gaps while the server runs."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every_s)
                try:
                    await asyncio.to_thread(ledger.settle_stale_gaps)
                except Exception:
                    log.exception("settling seq gaps failed")

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


def create_app(
    ledger_url: str | Engine,
    admin_token: str | None = None,
    reorder_window_s: float = 300,
    settle_every_s: float = 30,
) -> FastAPI:
    """The server on a ledger URL or an open engine; the schema is migrated on start."""
    engine = make_engine(ledger_url) if isinstance(ledger_url, str) else ledger_url
    upgrade(engine)
    ledger = Ledger(engine, reorder_window_s)
    app = FastAPI(
        lifespan=_gap_settler(ledger, settle_every_s),
        title="campuspulse",
        version=__version__,
        description="Equipment usage, compliance and experiment offering, measured from the equipment.",
    )
    app.state.engine = engine
    app.state.ledger = ledger
    app.state.admin_token = admin_token or os.environ.get("CAMPUSPULSE_ADMIN_TOKEN")
    for module in (provisioning, telemetry, figures, operations):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
