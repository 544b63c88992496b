"""Metrics engine at city scale on PostgreSQL: the daily rollup beside a bare read of the same segment rows,
and the latency of `GET /utilization` at school, district and city scope over a term of rollups.

Data come from a seeded generator: `--schools` × `--devices` devices (the issue's city: 1,000 × 500), one
teaching day with ~20 state changes per device (segments written with COPY), then a term of rollup rows.
"bare read" fetches exactly the rows the rollup reads (same query, all columns, per school) and does nothing
with them; "rollup" is `metrics rebuild` for that day.

    python -m tests.bench.bench_metrics [--schools 100] [--devices 500] [--term-days 90] [--smoke]
"""

import argparse
import random
import statistics
import time
from datetime import date, timedelta

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.orm import Session

from campuspulse.server.app import create_app
from campuspulse.server.metrics.available_time import local_ms
from campuspulse.server.metrics.month_rollups import refresh_all_months
from campuspulse.server.metrics.rollups import rebuild, school_segments
from campuspulse.store.db import make_engine, upgrade
from tests.support.campus import AUTH, TOKEN
from tests.support.scratch_db import scratch_database

DAY = date(2026, 3, 2)  # a spring term that has ended: every day of it is rolled up
PERIODS = [
    ["08:00", "08:45"],
    ["08:55", "09:40"],
    ["10:00", "10:45"],
    ["10:55", "11:40"],
    ["14:00", "14:45"],
    ["14:55", "15:40"],
    ["15:50", "16:35"],
]
SCHOOLS_PER_DISTRICT = 50


def _copy(engine, table: str, columns: list[str], rows) -> int:
    n = 0
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        raw.commit()
    finally:
        raw.close()
    return n


def populate(engine, schools: int, devices: int, changes: int, seed: int = 11) -> int:
    """Schools, devices, the day's calendar and ~`changes` state changes per device; returns the segment count."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    rnd = random.Random(seed)
    codes = [f"sch{i:04d}" for i in range(schools)]
    _copy(
        engine,
        "schools",
        ["code", "name", "district", "stage", "tz", "classes", "parallel_classes", "students", "max_class_size"],
        (
            (c, c, f"dist{i // SCHOOLS_PER_DISTRICT:02d}", "junior", "Asia/Shanghai", 24, 8, 1000, 45)
            for i, c in enumerate(codes)
        ),
    )
    _copy(engine, "agents", ["id", "school"], ((f"{c}-a", c) for c in codes))
    device_rows = ((c, f"d{j:04d}", f"{c}-a", f"room{j // 20:02d}", "lab_pc") for c in codes for j in range(devices))
    _copy(engine, "devices", ["school", "device", "agent", "room", "kind"], device_rows)
    start, end = local_ms(DAY, "07:00", tz), local_ms(DAY, "18:00", tz)

    def segments():
        for c in codes:
            for j in range(devices):
                cuts = sorted(rnd.randrange(start, end) for _ in range(changes))
                bounds = [start, *cuts, end]
                for k in range(len(bounds) - 1):
                    a, b = bounds[k], bounds[k + 1]
                    if b > a:
                        state = rnd.choice(("in_use", "idle", "idle", "off"))
                        yield (c, f"d{j:04d}", state, a, b, b - 60_000, f"{c}-a", k, k, 1)

    return _copy(
        engine,
        "state_segments",
        ["school", "device", "state", "start_ms", "end_ms", "last_ts_ms", "agent", "first_seq", "last_seq", "records"],
        segments(),
    )


def term_days(n: int) -> list[date]:
    """`n` weekdays from DAY on."""
    out, d = [], DAY
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def populate_term(engine, schools: int, devices: int, days: list[date], seed: int = 5) -> int:
    """A term of calendar days and rollup rows (as the rollup would write them), for the latency runs."""
    rnd = random.Random(seed)
    codes = [f"sch{i:04d}" for i in range(schools)]
    import json

    _copy(
        engine,
        "calendar_days",
        ["school", "day", "periods"],
        ((c, d.isoformat(), json.dumps(PERIODS)) for c in codes for d in days if d != DAY),
    )
    available = 7 * 45 * 60_000

    def rows():
        for c in codes:
            for d in days:
                if d == DAY:
                    continue
                for j in range(devices):
                    u = rnd.randrange(0, available)
                    yield (
                        c,
                        d.isoformat(),
                        f"d{j:04d}",
                        available,
                        u,
                        available,
                        rnd.randrange(0, 5),
                        rnd.randrange(0, 8),
                        7,
                        None,
                    )

    n = _copy(
        engine,
        "device_day_rollups",
        [
            "school",
            "day",
            "device",
            "available_ms",
            "in_use_ms",
            "known_ms",
            "sessions",
            "used_periods",
            "available_periods",
            "continues_from",
        ],
        rows(),
    )
    with engine.begin() as conn:  # the school-day rows the rollup derives from its device rows
        conn.execute(
            text(
                "INSERT INTO school_day_rollups SELECT school, day, sum(available_ms), sum(in_use_ms), sum(known_ms),"
                " sum(sessions), sum(used_periods), sum(available_periods), count(continues_from), count(*),"
                " string_agg(CASE WHEN in_use_ms > 0 THEN '1' ELSE '0' END, '' ORDER BY device)::varbit"
                " FROM device_day_rollups WHERE day <> :d GROUP BY school, day"
            ),
            {"d": DAY.isoformat()},
        )
        refresh_all_months(Session(bind=conn))
        conn.execute(text("DELETE FROM rollup_coverage"))
        conn.execute(
            text("INSERT INTO rollup_coverage SELECT code, :a, :b FROM schools"),
            {"a": days[0].isoformat(), "b": days[-1].isoformat()},
        )
    every = [days[0] + timedelta(days=i) for i in range((days[-1] - days[0]).days + 1)]  # weekends are rolled too
    _copy(
        engine,
        "rolled_days",
        ["school", "day", "computed_at"],
        ((c, d.isoformat(), "2026-12-01T00:00:00+00:00") for c in codes for d in every if d != DAY),
    )
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=int, default=100)
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--term-days", type=int, default=90)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--smoke", action="store_true", help="a tiny run that only shows the bench still works")
    args = ap.parse_args()
    if args.smoke:
        args.schools, args.devices, args.term_days, args.requests = 4, 20, 5, 3
    console = Console()
    with scratch_database("cp_bench") as url:
        run(console, args, url)


def run(console: Console, args: argparse.Namespace, url: str) -> None:
    """The benchmark on the empty database at `url`."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        t = time.perf_counter()
        n_segments = populate(engine, args.schools, args.devices, args.changes)
        with engine.begin() as conn:
            import json

            conn.execute(
                text("INSERT INTO calendar_days (school, day, periods) SELECT code, :d, :p FROM schools"),
                {"d": DAY.isoformat(), "p": json.dumps(PERIODS)},
            )
            conn.execute(text("ANALYZE"))
        console.print(
            f"generated {n_segments:,} segments of {args.schools * args.devices:,} devices "
            f"in {time.perf_counter() - t:.0f} s"
        )
        codes = [f"sch{i:04d}" for i in range(args.schools)]
        from zoneinfo import ZoneInfo

        tz = ZoneInfo("Asia/Shanghai")
        lo, hi = local_ms(DAY - timedelta(days=3), "00:00", tz), local_ms(DAY + timedelta(days=1), "00:00", tz)
        t = time.perf_counter()
        read = 0
        with Session(engine) as s:
            for code in codes:
                read += sum(len(v.intervals) for v in school_segments(s, code, lo, hi).values())
        bare = time.perf_counter() - t
        t = time.perf_counter()
        rebuild(engine, DAY, DAY, codes)
        roll = time.perf_counter() - t

        days = term_days(args.term_days)
        t = time.perf_counter()
        n_rollups = populate_term(engine, args.schools, args.devices, days)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        console.print(
            f"generated {n_rollups:,} rollup rows ({len(days)} teaching days) in {time.perf_counter() - t:.0f} s"
        )
        app = create_app(engine, admin_token=TOKEN)
        latencies: dict[str, list[float]] = {}
        term = {"from": days[0].isoformat(), "to": (days[-1] + timedelta(days=1)).isoformat()}
        with TestClient(app) as client:
            for scope, ident in (("school", codes[0]), ("district", "dist00"), ("city", "")):
                times = []
                for _ in range(args.requests):
                    t = time.perf_counter()
                    r = client.get("/api/v1/utilization", params={"scope": scope, "id": ident, **term}, headers=AUTH)
                    times.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
                latencies[scope] = times
        table = Table(title=f"metrics engine — {args.schools} schools × {args.devices} devices, PostgreSQL")
        for col in ("measure", "value", "rate", "beside baseline"):
            table.add_column(col, justify="right")
        table.add_row("bare read of the day's segments", f"{bare:.2f} s", f"{read / bare:,.0f} segments/s", "1.00×")
        table.add_row(
            "daily rollup of the same segments",
            f"{roll:.2f} s",
            f"{read / roll:,.0f} segments/s",
            f"{roll / bare:.2f}× (target ≤ 2×)",
        )
        for scope, times in latencies.items():
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
            table.add_row(
                f"GET /utilization scope={scope}, a term",
                f"p95 {p95 * 1000:.0f} ms",
                f"median {statistics.median(times) * 1000:.0f} ms",
                "target ≤ 100 ms",
            )
        console.print(table)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
