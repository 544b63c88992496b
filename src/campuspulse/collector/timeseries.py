"""The time-series sink: line protocol to InfluxDB's v2 write API (InfluxDB 2/3, VictoriaMetrics) via influxdb-client.

Lines are first appended to a spool on disk, in the same step that precedes the MQTT ack, so a
crash or an outage of the time-series server loses nothing the store has; a sender thread ships
the spool in batches and retries with backoff. The spool is bounded: beyond `max_spool_lines`
the oldest lines are discarded and counted (the store keeps every figure regardless).
Writes are idempotent on the server side: a point is its series and timestamp, so a line sent
twice is stored once (InfluxDB overwrites; run VictoriaMetrics with `-dedup.minScrapeInterval=1ms`).
"""

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from campuspulse.backoff import delays

log = logging.getLogger(__name__)
# Answers that retrying can cure: bad credentials or bucket (fixed by configuration), timeouts, rate limits, size.
_RETRIED = frozenset({401, 403, 404, 408, 413, 429})


def refused_for_good(error: BaseException) -> bool:
    """Whether the server refused these lines themselves (a 4xx that retrying cannot cure)."""
    status = getattr(error, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in _RETRIED


@dataclass(slots=True)
class SinkCounters:
    """What the sink has done since it started."""

    lines_spooled: int = 0
    lines_written: int = 0
    lines_discarded: int = 0
    write_errors: int = 0
    spool_lines: int = 0
    lines_set_aside: int = 0


class TimeSeriesSink:
    """Durable, bounded, retrying shipper of line-protocol lines."""

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        spool_path: Path,
        batch_lines: int = 5000,
        max_spool_lines: int = 5_000_000,
        timeout_s: float = 10.0,
    ) -> None:
        self.bucket, self.org, self.batch_lines, self.max_spool_lines = bucket, org, batch_lines, max_spool_lines
        self.counters = SinkCounters()
        spool_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(spool_path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # spooled lines survive power loss: the broker is acked after
        self._db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, body BLOB)")
        # Lines the server refused for good (a 4xx other than auth, rate or size trouble), kept with its answer.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS set_aside (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, body BLOB, reason TEXT,"
            " at TEXT DEFAULT CURRENT_TIMESTAMP)"
        )
        self._lock = threading.Lock()
        self.counters.spool_lines = self._db.execute("SELECT coalesce(sum(n), 0) FROM spool").fetchone()[0]
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout_s * 1000))
        self._write = self._client.write_api(write_options=SYNCHRONOUS)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._ship, name="timeseries-sink", daemon=True)

    def start(self) -> None:
        """Start shipping the spool."""
        self._thread.start()

    def spool(self, lines: list[str]) -> None:
        """Append lines durably (to disk, not yet to the server); cheap enough to call before each MQTT ack."""
        if not lines:
            return
        with self._lock:
            self._db.execute("INSERT INTO spool (n, body) VALUES (?, ?)", (len(lines), "\n".join(lines).encode()))
            self.counters.lines_spooled += len(lines)
            self.counters.spool_lines += len(lines)
            while self.counters.spool_lines > self.max_spool_lines:
                row = self._db.execute("SELECT id, n FROM spool ORDER BY id LIMIT 1").fetchone()
                if row is None:
                    break
                self._db.execute("DELETE FROM spool WHERE id = ?", (row[0],))
                self.counters.spool_lines -= row[1]
                self.counters.lines_discarded += row[1]
                log.error("time-series spool full (%d lines): discarded %d oldest lines", self.max_spool_lines, row[1])
        self._wake.set()

    def _next_rows(self) -> list[tuple[int, int, bytes]]:
        """The oldest spool rows, as many as make a batch (at least one)."""
        with self._lock:
            rows = self._db.execute("SELECT id, n, body FROM spool ORDER BY id LIMIT 200").fetchall()
        out: list[tuple[int, int, bytes]] = []
        n = 0
        for rid, count, body in rows:
            if out and n + count > self.batch_lines:
                break
            out.append((rid, count, body))
            n += count
        return out

    def _send(self, rows: list[tuple[int, int, bytes]]) -> None:
        body = b"\n".join(body for _, _, body in rows)
        self._write.write(bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.MS)  # type: ignore[arg-type]  # the client types its own constant as str

    def _done(self, rows: list[tuple[int, int, bytes]], reason: str | None = None) -> None:
        """Take shipped rows out of the spool; with a reason, keep them set aside."""
        ids = [rid for rid, _, _ in rows]
        with self._lock:  # rows may have been discarded meanwhile: count what is really removed
            marks = ",".join("?" * len(ids))
            gone = self._db.execute(f"SELECT coalesce(sum(n), 0) FROM spool WHERE id IN ({marks})", ids).fetchone()[0]
            if reason is not None:
                self._db.executemany(
                    "INSERT INTO set_aside (n, body, reason) VALUES (?, ?, ?)", [(n, b, reason) for _, n, b in rows]
                )
            self._db.execute(f"DELETE FROM spool WHERE id IN ({marks})", ids)
            self.counters.spool_lines -= gone
        if reason is None:
            self.counters.lines_written += gone
        else:
            self.counters.lines_set_aside += gone

    def _ship(self) -> None:
        backoff = delays(0.5, 30.0)
        while not self._stop.is_set():
            rows = self._next_rows()
            if not rows:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._send(rows)
            except Exception as exc:  # the client raises urllib3, socket and ApiException errors alike
                self.counters.write_errors += 1
                if refused_for_good(exc) and self._set_aside_refused(rows):
                    continue
                wait = next(backoff)
                lines = sum(n for _, n, _ in rows)
                log.warning("time-series write of %d lines failed (%s); retrying in %.1f s", lines, exc, wait)
                self._stop.wait(wait)
                continue
            backoff = delays(0.5, 30.0)
            self._done(rows)

    def _set_aside_refused(self, rows: list[tuple[int, int, bytes]]) -> bool:
        """Send the rows of a refused batch one by one and set aside those refused on their own, so that one bad
        line never blocks the spool; False if the server failed otherwise meanwhile (the rest is retried)."""
        for row in rows:
            try:
                self._send([row])
            except Exception as exc:
                if not refused_for_good(exc):
                    return False
                reason = f"{getattr(exc, 'status', '')} {getattr(exc, 'body', None) or exc}".strip()[:2000]
                log.error("time-series server refused %d lines for good (%s); set aside in the spool", row[1], reason)
                self._done([row], reason)
            else:
                self._done([row])
        return True

    def drained(self) -> bool:
        """True when everything spooled has been written."""
        return self.counters.spool_lines == 0

    def close(self) -> None:
        """Stop shipping (what is left stays in the spool for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(15)
        self._client.close()
        self._db.close()
