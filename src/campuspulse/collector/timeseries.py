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


@dataclass(slots=True)
class SinkCounters:
    """What the sink has done since it started."""

    lines_spooled: int = 0
    lines_written: int = 0
    lines_discarded: int = 0
    write_errors: int = 0
    spool_lines: int = 0


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

    def _next_batch(self) -> tuple[int, int, bytes] | None:
        with self._lock:
            rows = self._db.execute("SELECT id, n, body FROM spool ORDER BY id LIMIT 200").fetchall()
        if not rows:
            return None
        last, n, bodies = rows[0][0], 0, list[bytes]()
        for rid, count, body in rows:
            if bodies and n + count > self.batch_lines:
                break
            last, n = rid, n + count
            bodies.append(body)
        return last, n, b"\n".join(bodies)

    def _ship(self) -> None:
        backoff = delays(0.5, 30.0)
        while not self._stop.is_set():
            batch = self._next_batch()
            if batch is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            last, n, body = batch
            try:
                self._write.write(bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.MS)  # type: ignore[arg-type]  # the client types its own constant as str
            except Exception as exc:  # the client raises urllib3, socket and ApiException errors alike
                self.counters.write_errors += 1
                wait = next(backoff)
                log.warning("time-series write of %d lines failed (%s); retrying in %.1f s", n, exc, wait)
                self._stop.wait(wait)
                continue
            backoff = delays(0.5, 30.0)
            with self._lock:  # rows may have been discarded meanwhile: count what is really removed
                gone = self._db.execute("SELECT coalesce(sum(n), 0) FROM spool WHERE id <= ?", (last,)).fetchone()[0]
                self._db.execute("DELETE FROM spool WHERE id <= ?", (last,))
                self.counters.spool_lines -= gone
            self.counters.lines_written += n

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
