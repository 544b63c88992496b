"""Databases of a test's or benchmark's own on the real PostgreSQL, created empty (or from a template) and
dropped afterwards."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("CAMPUSPULSE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _admin(statement: str, server: str) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(statement))
    finally:
        admin.dispose()


def create_database(prefix: str, template: str | None = None, server: str = PG_URL) -> tuple[str, str]:
    """(name, URL) of a new database on `server`, empty or a copy of `template`."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""), server)
    return name, make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str, server: str = PG_URL) -> None:
    """Drop a database, closing whatever still holds it open."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server)


@contextmanager
def scratch_database(prefix: str, server: str = PG_URL) -> Iterator[str]:
    """The URL of a new empty database, dropped when the block ends."""
    name, url = create_database(prefix, server=server)
    try:
        yield url
    finally:
        drop_database(name, server)
