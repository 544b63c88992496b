"""The agent's store-and-forward queue: SQLite on disk; `seq` assigned here, persisted across restarts.

A record is written here before any publish and leaves only after the broker acknowledged it.
With a disk bound, a full queue thins its oldest readings (state records are always kept): whole runs
of consecutive reading seqs are discarded, alternately, and their seq ranges are kept to be announced in
the status payload's `dropped` field, so the collector knows they were discarded on purpose.
"""

import logging
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)
MAX_ANNOUNCED_RANGES = 1000


# A batch's records stay well under the contract's payload limit (8 MiB), whatever batch_size says.
MAX_BATCH_BYTES = 4 * 1024 * 1024


class QueueUnavailable(RuntimeError):
    """The queue's file can be neither opened nor created."""


class RecordQueue:
    """Records waiting for the broker's PUBACK, in seq order."""

    def __init__(self, path: str | Path, max_bytes: int | None = None) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.dropped_records = 0
        self.dropped_changed = False
        # Acknowledged by the broker; rows up to here are gone, or waiting for a disk that can take the delete.
        self.acked_through = -1
        self.remove_failures = 0
        self.exclusive = False
        try:
            self.db = self._open(path, exclusive=False)
        except sqlite3.OperationalError as shared_failure:
            # A full disk cannot take the shared-memory index WAL readers need; held exclusively, the index
            # lives in this process's memory and the queue can still be read, published and written once
            # there is room again (other processes cannot read it meanwhile).
            try:
                self.db = self._open(path, exclusive=True)
            except sqlite3.OperationalError as exc:
                raise QueueUnavailable(
                    f"cannot open the agent's queue at {path}: {exc} (is its disk full or "
                    "read-only, or another agent using the same queue_path?)"
                ) from exc
            self.exclusive = True
            log.warning("agent queue at %s opened for this process only (%s: a full disk?)", path, shared_failure)
        self.path = path

    def share_again(self) -> bool:
        """Reopen a queue held exclusively for readers in other processes too, once the disk has room; whether
        it is shared now."""
        if not self.exclusive:
            return True
        self.db.close()  # the exclusive lock is held until the connection closes
        try:
            self.db = self._open(self.path, exclusive=False)
        except sqlite3.OperationalError:
            self.db = self._open(self.path, exclusive=True)
            return False
        self.exclusive = False
        log.info("agent queue at %s is shared with other processes again", self.path)
        return True

    @staticmethod
    def _open(path: str | Path, exclusive: bool) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            if exclusive:
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is None:
                # A new queue file (a new PC, a reimaged one, a lost or deleted queue): a new epoch, so that its
                # seqs, starting at 0 again, are never taken for the old queue's.
                db.execute("CREATE TABLE epoch (id TEXT NOT NULL)")
                db.execute("INSERT INTO epoch VALUES (?)", (secrets.token_urlsafe(12),))
            db.execute("CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS dropped (first INTEGER PRIMARY KEY, last INTEGER NOT NULL)")
            columns = {row[1] for row in db.execute("PRAGMA table_info(records)")}
            if "reading" not in columns:  # queues written by older agents: their records count as states
                db.execute("ALTER TABLE records ADD COLUMN reading INTEGER NOT NULL DEFAULT 0")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', 0)")
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    @property
    def epoch(self) -> str:
        """The incarnation of this queue file ("" for one made before epochs, whose seqs go on as they were)."""
        has = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='epoch'").fetchone()
        row = self.db.execute("SELECT id FROM epoch").fetchone() if has else None
        return str(row[0]) if row else ""

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
                "INSERT INTO records VALUES (?, ?, ?)",
                [
                    (s, orjson.dumps({**r, "seq": s}), int(r.get("type") == "reading"))
                    for s, r in zip(seqs, records, strict=True)
                ],
            )
            cur.execute("UPDATE meta SET value=? WHERE key='next_seq'", (first + len(records),))
            cur.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (a full disk)
                cur.execute("ROLLBACK")
            raise
        if self.max_bytes is not None and self.used_bytes() > self.max_bytes:
            self._thin_until_within_bound()
        return seqs

    def used_bytes(self) -> int:
        """Bytes the queue's pages hold (free pages left by removed records do not count)."""
        pages = (
            self.db.execute("PRAGMA page_count").fetchone()[0] - self.db.execute("PRAGMA freelist_count").fetchone()[0]
        )
        return pages * self.db.execute("PRAGMA page_size").fetchone()[0]

    def _thin_until_within_bound(self) -> None:
        assert self.max_bytes is not None
        while self.used_bytes() > self.max_bytes:
            if not self.thin():
                log.warning(
                    "agent queue over its bound of %d bytes with state records only; keeping them", self.max_bytes
                )
                return

    def thin(self) -> int:
        """Discard alternate runs of readings among the oldest half of the queued readings; the number discarded."""
        (count,) = self.db.execute(
            "SELECT count(*) FROM records WHERE reading = 1 AND seq > ?", (self.acked_through,)
        ).fetchone()
        if not count:
            return 0
        runs: list[tuple[int, int]] = []  # (first seq, last seq) of consecutive readings
        taken, limit, open_run = 0, max(count // 2, 1), False
        for seq, reading in self.db.execute(
            "SELECT seq, reading FROM records WHERE seq > ? ORDER BY seq", (self.acked_through,)
        ):
            if taken >= limit:
                break
            if not reading:
                open_run = False
                continue
            taken += 1
            if open_run and runs[-1][1] == seq - 1:
                runs[-1] = (runs[-1][0], seq)
            else:
                runs.append((seq, seq))
                open_run = True
        first, last = runs[0]
        victims = runs[1::2] if len(runs) > 1 else [((first + last + 1) // 2, last) if last > first else (first, last)]
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for lo, hi in victims:
                cur.execute("DELETE FROM records WHERE seq BETWEEN ? AND ?", (lo, hi))
                cur.execute("INSERT OR REPLACE INTO dropped VALUES (?, ?)", (lo, hi))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        discarded = sum(hi - lo + 1 for lo, hi in victims)
        self.dropped_records += discarded
        self.dropped_changed = True
        log.warning(
            "agent queue full: discarded %d readings in %d seq ranges (announced as dropped)", discarded, len(victims)
        )
        return discarded

    def sent_through(self) -> int:
        """The seq up to which every record has left the queue (acknowledged by the broker, or dropped); -1 if none."""
        (first,) = self.db.execute("SELECT min(seq) FROM records WHERE seq > ?", (self.acked_through,)).fetchone()
        return int(first) - 1 if first is not None else self.next_seq - 1

    def dropped_ranges(self) -> list[list[int]]:
        """The oldest discarded seq ranges (at most MAX_ANNOUNCED_RANGES), adjacent ones merged, to announce in the
        status payload: the store settles seqs in order, so the oldest hold it up first."""
        merged: list[list[int]] = []
        for first, last in self.db.execute("SELECT first, last FROM dropped ORDER BY first"):
            if merged and merged[-1][1] + 1 >= first:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        return merged[:MAX_ANNOUNCED_RANGES]

    def forget_dropped(self, announced: list[list[int]]) -> None:
        """Forget discarded ranges the broker has acknowledged in a status: the store has them from there. A disk
        that refuses the change leaves them to be announced again; ranges left over (more than one status holds)
        are announced in the next status, straight away."""
        try:
            self.db.executemany("DELETE FROM dropped WHERE first >= ? AND last <= ?", [tuple(r) for r in announced])
        except sqlite3.Error as exc:
            log.warning("agent queue: could not forget announced dropped ranges (%s); they are announced again", exc)
            return
        if self.db.execute("SELECT 1 FROM dropped LIMIT 1").fetchone():
            self.dropped_changed = True

    def peek(self, limit: int) -> list[dict[str, Any]]:
        """The oldest `limit` records, still queued."""
        rows = self.db.execute(
            "SELECT body FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (self.acked_through, limit)
        ).fetchall()
        return [orjson.loads(b) for (b,) in rows]

    def peek_raw(self, limit: int, max_bytes: int = MAX_BATCH_BYTES) -> tuple[int, list[bytes]] | None:
        """(last seq, the JSON of each record) of the oldest `limit` records, fewer if they would pass `max_bytes`
        (at least one), or None when the queue is empty."""
        rows = self.db.execute(
            "SELECT seq, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (self.acked_through, limit)
        ).fetchall()
        size = 0
        for n, (_, body) in enumerate(rows):
            size += len(body) + 1
            if size > max_bytes and n > 0:
                rows = rows[:n]
                break
        return (rows[-1][0], [b for _, b in rows]) if rows else None

    def remove_through(self, seq: int) -> None:
        """Drop every record up to `seq`: the broker has acknowledged them.

        On a full or failing disk the rows stay until a later removal succeeds; they are not published again
        by this process (a restart before then publishes them again, which the collector counts as duplicates).
        """
        self.acked_through = max(self.acked_through, seq)
        try:
            self.db.execute("DELETE FROM records WHERE seq <= ?", (self.acked_through,))
        except sqlite3.OperationalError as exc:
            self.remove_failures += 1
            if self.remove_failures == 1 or self.remove_failures % 100 == 0:
                log.error(
                    "agent queue: cannot remove acknowledged records through seq %d (%s); retrying with "
                    "the next acknowledgement",
                    self.acked_through,
                    exc,
                )
            return
        self.remove_failures = 0

    def oldest_ts(self) -> str | None:
        """The `ts` of the oldest queued record (how far behind publishing is)."""
        row = self.db.execute(
            "SELECT body FROM records WHERE seq > ? ORDER BY seq LIMIT 1", (self.acked_through,)
        ).fetchone()
        return orjson.loads(row[0])["ts"] if row else None

    def __len__(self) -> int:
        """Records not yet acknowledged by the broker."""
        return self.db.execute("SELECT count(*) FROM records WHERE seq > ?", (self.acked_through,)).fetchone()[0]

    @property
    def next_seq(self) -> int:
        """The seq the next appended record will get."""
        return self.db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self.db.close()
