"""Engines and migrations of the store: SQLite (WAL) by default, PostgreSQL in production."""

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url

from campuspulse.store import audit, equipment_history, stale_days  # noqa: F401  (listeners: audit, history, stale days)

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # a commit survives power loss: the broker is acked after it
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True)


def store_unavailable(error: BaseException) -> bool:
    """Whether an error says the store (or the disk under it) could not be reached or used right now, so that the
    same write may succeed later, rather than that this write can never succeed."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError | exc.TimeoutError | OSError
    )


def isolated(what: str, work: Callable[[], int]) -> int:
    """Run one piece of a background job (one agent's, one school's): a failure other than an unavailable store
    is logged and counts 0, so that it holds up none of the other pieces."""
    try:
        return work()
    except Exception as error:
        if store_unavailable(error):
            raise
        log.exception("%s failed; the rest goes on", what)
        return 0


# Replicas starting together migrate one after the other: the lock is held until the migration commits.
_MIGRATION_LOCK = 0x63700001


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema to `revision` (the newest migration by default)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def open_store(url: str) -> Engine:
    """An engine for `url` with the schema migrated to the newest version."""
    engine = make_engine(url)
    upgrade(engine)
    return engine
