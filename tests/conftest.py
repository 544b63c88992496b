"""Shared fixtures: stores on SQLite and on the real PostgreSQL, a private Mosquitto per session."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from campuspulse.store.db import make_engine, upgrade
from tests.support.mosquitto import Mosquitto
from tests.support.scratch_db import create_database, drop_database

# CLI output is printed by rich at the terminal's width (80 columns without one): wide enough here that the long
# paths of a parallel worker's temporary directories are not wrapped mid-name in the messages tests read.
os.environ["COLUMNS"] = "240"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database on the real PostgreSQL; tests clone it."""
    name, url = create_database("cp_tmpl")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated store: a SQLite file, or a new database on the real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    name, url = create_database("cp_t", request.getfixturevalue("pg_template"))
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free port for this test session."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()
