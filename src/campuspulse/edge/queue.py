"""The agent's store-and-forward queue: SQLite on disk; `seq` assigned here, persisted across restarts.

A record is written here before any publish and leaves only after the broker acknowledged it.
"""

import sqlite3
from pathlib import Path
from typing import Any

import orjson


class RecordQueue:
    """Records waiting for the broker's PUBACK, in seq order."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', 0)")

    def append(self, records: list[dict[str, Any]]) -> list[int]:
        """Give each record the next seq and store them durably; returns the seqs."""
        if not records:
            return []
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            (first,) = cur.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
            seqs = list(range(first, first + len(records)))
            cur.executemany(
                "INSERT INTO records VALUES (?, ?)",
                [(s, orjson.dumps({**r, "seq": s})) for s, r in zip(seqs, records, strict=True)],
            )
            cur.execute("UPDATE meta SET value=? WHERE key='next_seq'", (first + len(records),))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return seqs

    def peek(self, limit: int) -> list[dict[str, Any]]:
        """The oldest `limit` records, still queued."""
        rows = self.db.execute("SELECT body FROM records ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [orjson.loads(b) for (b,) in rows]

    def remove_through(self, seq: int) -> None:
        """Drop every record up to `seq`: the broker has acknowledged them."""
        self.db.execute("DELETE FROM records WHERE seq <= ?", (seq,))

    def oldest_ts(self) -> str | None:
        """The `ts` of the oldest queued record (how far behind publishing is)."""
        row = self.db.execute("SELECT body FROM records ORDER BY seq LIMIT 1").fetchone()
        return orjson.loads(row[0])["ts"] if row else None

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM records").fetchone()[0]

    @property
    def next_seq(self) -> int:
        """The seq the next appended record will get."""
        return self.db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self.db.close()
