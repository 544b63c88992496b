"""What the broker was told is stored survives a power loss: SQLite commits are synced to disk before the ack."""

from sqlalchemy import text

from campuspulse.collector.timeseries import TimeSeriesSink
from campuspulse.store.db import open_store

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_the_sqlite_store_syncs_every_commit(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == FULL
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_the_time_series_spool_syncs_every_commit(tmp_path):
    sink = TimeSeriesSink("http://127.0.0.1:9", "", "org", "bucket", tmp_path / "spool.db", 100, 1000)
    try:
        assert sink._db.execute("PRAGMA synchronous").fetchone()[0] == FULL
    finally:
        sink.close()
