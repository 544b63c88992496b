"""The FastAPI application."""

import os

from fastapi import FastAPI
from sqlalchemy import Engine

from campuspulse import __version__
from campuspulse.server.api import figures, operations, provisioning, telemetry
from campuspulse.server.ledger.db import make_engine, upgrade
from campuspulse.server.ledger.ingest import Ledger

API_PREFIX = "/api/v1"


def create_app(ledger_url: str | Engine, admin_token: str | None = None, reorder_window_s: float = 300) -> FastAPI:
    """The server on a ledger URL or an open engine; the schema is migrated on start."""
    engine = make_engine(ledger_url) if isinstance(ledger_url, str) else ledger_url
    upgrade(engine)
    app = FastAPI(
        title="campuspulse",
        version=__version__,
        description="Equipment usage, compliance and experiment offering, measured from the equipment.",
    )
    app.state.engine = engine
    app.state.ledger = Ledger(engine, reorder_window_s)
    app.state.admin_token = admin_token or os.environ.get("CAMPUSPULSE_ADMIN_TOKEN")
    for module in (provisioning, telemetry, figures, operations):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
