"""Ingest latency while a school imports a 100,000-line equipment ledger, beside ingest latency without an import,
in one run.

An ingest loop stores a 50-record batch every 100 ms through the store's writer (as the collector does) while
another process imports the workbook through the function the API and the CLI call (as the server does). The
store is the embedded SQLite file (one writer at a time: the hardest case) or, with `--pg`, a scratch database
on PostgreSQL.

    python -m tests.bench.bench_import [--lines 100000] [--pg] [--smoke]
"""

import argparse
import multiprocessing
import statistics
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from campuspulse.server.inventory import service
from campuspulse.server.inventory.equipment_ledger import COLUMNS, SHEET, import_ledger
from campuspulse.server.inventory.excel import write_workbook
from campuspulse.store.db import open_store
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.telemetry import format_ts, parse_records_payload
from campuspulse.telemetry.codec import dumps
from tests.support.scratch_db import scratch_database

DEVICES = 10
START_MS = 1_788_739_200_000  # 2026-09-07T00:00Z


def workbook(lines: int) -> bytes:
    rows = [
        {
            "item": f"item-{i:06d}",
            "catalog_code": f"{i % 900:04d}",
            "name": "电子天平",
            "room": None,
            "quantity": 1 + i % 7,
            "unit": "台",
            "unit_value": f"{100 + i % 5000}.50",
            "status": ("完好", "待修", "报废")[i % 3],
            "purchase_date": "2024-09-01",
        }
        for i in range(lines)
    ]
    return write_workbook(SHEET, COLUMNS, rows, "")


def provision(engine) -> None:
    with Session(engine) as s, s.begin():
        s.info["actor"] = "bench"
        service.put_school(s, "s1", {"name": "s1", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
        service.put_agent(s, "a1", "s1")
        for d in range(DEVICES):
            service.put_device(s, "s1", f"d{d}", {"agent": "a1", "room": "lab", "kind": "pc"})


class IngestLoop:
    """Stores a batch every `every_s` and keeps how long each took."""

    def __init__(self, writer: TelemetryWriter, every_s: float = 0.1) -> None:
        self.writer, self.every_s, self.seq = writer, every_s, 0
        self.latencies: list[float] = []
        self.failures = 0

    def run_until(self, done: threading.Event) -> list[float]:
        self.latencies = []
        while not done.is_set():
            records = []
            for _ in range(50):
                ts = format_ts(START_MS + self.seq * 1000)
                device = f"d{self.seq % DEVICES}"
                records.append({"type": "state", "seq": self.seq, "ts": ts, "device": device, "state": "in_use"})
                self.seq += 1
            batch = parse_records_payload(dumps({"v": 1, "agent": "a1", "school": "s1", "records": records}))
            started = time.perf_counter()
            try:
                self.writer.ingest(batch, "bench")
            except Exception:
                self.failures += 1
            self.latencies.append(time.perf_counter() - started)
            done.wait(self.every_s)
        return self.latencies


def _import(url: str, data: bytes) -> None:
    engine = open_store(url)
    with Session(engine) as s, s.begin():
        s.info["actor"] = "bench"
        import_ledger(s, "s1", data)
    engine.dispose()


def run(url: str, data: bytes, lines: int, baseline_s: float) -> dict[str, object]:
    """Ingest alone for `baseline_s`, then during the import, which runs in a process of its own as the server's
    does beside the collector's."""
    engine = open_store(url)
    provision(engine)
    loop = IngestLoop(TelemetryWriter(engine))
    quiet = threading.Event()
    threading.Timer(baseline_s, quiet.set).start()
    without = loop.run_until(quiet)
    importer = multiprocessing.get_context("spawn").Process(target=_import, args=(url, data))
    started = time.perf_counter()
    importer.start()
    importing = threading.Event()
    threading.Thread(target=lambda: (importer.join(), importing.set()), daemon=True).start()
    during = loop.run_until(importing)
    took = time.perf_counter() - started
    assert importer.exitcode == 0, f"the import failed (exit code {importer.exitcode})"
    engine.dispose()
    return {"without": without, "during": during, "import_s": took, "failures": loop.failures, "lines": lines}


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="on a scratch PostgreSQL database instead of SQLite")
    parser.add_argument("--smoke", action="store_true", help="a small run that only proves the bench works")
    args = parser.parse_args()
    lines = 2_000 if args.smoke else args.lines
    console = Console()
    with console.status(f"writing a workbook of {lines:,} lines"):
        data = workbook(lines)
    with ExitStack() as stack:
        if args.pg:
            url = stack.enter_context(scratch_database("cp_bench_import"))
        else:
            url = f"sqlite:///{Path(stack.enter_context(TemporaryDirectory())) / 'store.db'}"
        with console.status(f"ingest alone, then during the import of {lines:,} lines"):
            got = run(url, data, lines, 2.0 if args.smoke else 10.0)
    table = Table(title=f"ingest latency, 50-record batches every 100 ms ({'PostgreSQL' if args.pg else 'SQLite'})")
    for col in ("while", "batches", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right")
    for label, key in (("no import", "without"), (f"importing {lines:,} lines", "during")):
        lat = sorted(got[key])  # type: ignore[call-overload]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        table.add_row(
            label, str(len(lat)), f"{statistics.median(lat) * 1000:.1f}", f"{p99 * 1000:.1f}", f"{lat[-1] * 1000:.1f}"
        )
    console.print(table)
    took = float(got["import_s"])  # type: ignore[arg-type]
    console.print(f"import: {took:.1f} s ({lines / took:,.0f} lines/s); failed ingest batches: {got['failures']}")


if __name__ == "__main__":
    main()
