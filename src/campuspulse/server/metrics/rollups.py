"""Daily rollups: per device and local teaching day, kept current incrementally.

Whatever changes a school's figures for a day (a segment written by ingest, a calendar day changed) marks
that (school, day) stale in the same transaction. `refresh_stale` recomputes stale days that have ended;
`roll_up` computes any days (the rebuild command). Queries use a day's rollups only when it is rolled up
and not stale; every other day is computed live from the segments, with the same per-day arithmetic.
"""

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, delete, insert, or_, select
from sqlalchemy.orm import Session

from campuspulse.server.metrics.available_time import local_date
from campuspulse.server.metrics.daily import DeviceSegments, TeachingDay, device_day, teaching_days
from campuspulse.server.metrics.month_rollups import DAY_FIGURES, refresh_months
from campuspulse.server.metrics.utilization import Interval
from campuspulse.store.db import isolated
from campuspulse.store.rollup_schema import (
    DeviceDayRollup,
    RolledDay,
    RollupCoverage,
    SchoolDayRollup,
    StaleDay,
)
from campuspulse.store.schema import CalendarDay, Device, School, StateSegment


def _calendar(s: Session, school: str) -> dict[str, list[list[str]]]:
    return {c.day: c.periods for c in s.scalars(select(CalendarDay).where(CalendarDay.school == school))}


def school_segments(
    s: Session, school: str, lo: int, hi: int, devices: list[str] | None = None
) -> dict[str, DeviceSegments]:
    """A school's segments (of `devices`, default all) that end at or after `lo` and start before `hi`."""
    per_device: dict[str, list[Interval]] = defaultdict(list)
    q = (
        select(
            StateSegment.device,
            StateSegment.start_ms,
            StateSegment.end_ms,
            StateSegment.state,
            StateSegment.approx_start_ms,
            StateSegment.approx_end_ms,
        )
        .where(StateSegment.school == school, StateSegment.end_ms >= lo, StateSegment.start_ms < hi)
        .order_by(StateSegment.device, StateSegment.start_ms)
    )
    if devices is not None:
        q = q.where(StateSegment.device.in_(devices))
    for device, start, end, state, approx_start, approx_end in s.execute(q):
        per_device[device].append(Interval(start, end, state, approx_start, approx_end))
    return {d: DeviceSegments.of(v) for d, v in per_device.items()}


def day_rows(school: str, devices: list[str], segs: dict[str, DeviceSegments], td: TeachingDay) -> list[dict[str, Any]]:
    """Rollup rows of every device for one teaching day."""
    empty = DeviceSegments.of([])
    rows = []
    for device in devices:
        fig, continues = device_day(segs.get(device, empty), td)
        rows.append(
            {
                "school": school,
                "day": td.day,
                "device": device,
                "available_ms": fig.available_ms,
                "in_use_ms": fig.in_use_ms,
                "known_ms": fig.known_ms,
                "approximate_ms": fig.approximate_ms,
                "sessions": fig.sessions,
                "used_periods": fig.used_periods,
                "available_periods": fig.available_periods,
                "continues_from": continues,
            }
        )
    return rows


def school_day(school: str, day: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The school-day row of one day's device rows (which come in the order of device ids)."""
    out: dict[str, Any] = {
        "school": school,
        "day": day,
        "devices": len(rows),
        "continued": sum(r["continues_from"] is not None for r in rows),
        "used_bits": "".join("1" if r["in_use_ms"] > 0 else "0" for r in rows),
    }
    for name in DAY_FIGURES:
        out[name] = sum(r[name] for r in rows)
    return out


def roll_up(s: Session, school: str, days: list[str]) -> int:
    """Recompute the rollups of these local days of a school; the number of device-day rows written."""
    if not days:
        return 0
    row = s.get(School, school)
    if row is None:
        return 0
    tz = ZoneInfo(row.tz)
    ordered = sorted(set(days))
    tds = teaching_days(_calendar(s, school), tz, date.fromisoformat(ordered[0]), date.fromisoformat(ordered[-1]))
    tds = [td for td in tds if td.day in set(ordered)]
    devices = list(s.scalars(select(Device.device).where(Device.school == school).order_by(Device.device)))
    rows: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    if tds and devices:
        segs = school_segments(s, school, min(td.lower_ms for td in tds), max(td.end_ms for td in tds))
        for td in tds:
            day = day_rows(school, devices, segs, td)
            rows += day
            totals.append(school_day(school, td.day, day))
    for table in (DeviceDayRollup, SchoolDayRollup):
        s.execute(delete(table).where(table.school == school, table.day.in_(ordered)))
    if rows:
        s.execute(insert(DeviceDayRollup), rows)
        s.execute(insert(SchoolDayRollup), totals)
    refresh_months(s, school, [day[:7] for day in ordered])
    s.execute(delete(RolledDay).where(RolledDay.school == school, RolledDay.day.in_(ordered)))
    now = datetime.now(UTC)
    s.execute(insert(RolledDay), [{"school": school, "day": d, "computed_at": now} for d in ordered])
    return len(rows)


def refresh_stale(engine: Engine, now_ms: int | None = None, limit: int = 500) -> int:
    """Recompute stale days that have ended (up to `limit` school-days); the number recomputed."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    with Session(engine) as s:
        stale = s.execute(
            select(StaleDay.school, StaleDay.day, StaleDay.marked)
            .order_by(StaleDay.school, StaleDay.day)
            .limit(limit * 4)
        ).all()
    by_school: dict[str, list[tuple[str, int]]] = defaultdict(list)
    tzs: dict[str, ZoneInfo] = {}
    done = 0
    with Session(engine) as s:
        for school, day, marked in stale:
            if school not in tzs:
                row = s.get(School, school)
                tzs[school] = ZoneInfo(row.tz) if row else ZoneInfo("UTC")
            if day < local_date(now_ms, tzs[school]).isoformat():  # the open day is always computed live
                by_school[school].append((day, marked))
    for school, items in by_school.items():
        for i in range(0, len(items), 50):
            chunk = items[i : i + 50][: max(limit - done, 0)]
            if not chunk:
                return done
            done += isolated(f"recomputing stale days of school {school}", partial(_refresh, engine, school, chunk))
    return done


def _refresh(engine: Engine, school: str, chunk: list[tuple[str, int]]) -> int:
    with Session(engine) as s, s.begin():
        roll_up(s, school, [d for d, _ in chunk])
        seen = [and_(StaleDay.school == school, StaleDay.day == d, StaleDay.marked == m) for d, m in chunk]
        s.execute(delete(StaleDay).where(or_(*seen)))
    return len(chunk)


def rebuild(
    engine: Engine,
    first: date,
    last: date,
    schools: list[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Recompute every school's rollups from `first` to `last`; calls `progress(school, rows)` per school."""
    with Session(engine) as s:
        codes = schools or list(s.scalars(select(School.code).order_by(School.code)))
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    total = 0
    for code in codes:
        with Session(engine) as s, s.begin():
            n = roll_up(s, code, days)
            s.execute(delete(StaleDay).where(StaleDay.school == code, StaleDay.day.in_(days)))
            extend_coverage(s, code, first, last)
        total += n
        if progress:
            progress(code, n)
    return total


def extend_coverage(s: Session, school: str, first: date, last: date) -> None:
    """Record that every day of `school` from `first` to `last` is rolled up (joined to what was covered)."""
    row = s.get(RollupCoverage, school, with_for_update=True)
    a, b = first.isoformat(), last.isoformat()
    if row is None:
        s.add(RollupCoverage(school=school, first_day=a, last_day=b))
        return
    old_first, old_last = date.fromisoformat(row.first_day), date.fromisoformat(row.last_day)
    if first <= old_last + timedelta(days=1) and last >= old_first - timedelta(days=1):
        row.first_day, row.last_day = min(row.first_day, a), max(row.last_day, b)
    elif last > old_last:  # a later range with a hole before it: keep the recent one
        row.first_day, row.last_day = a, b


def advance(engine: Engine, now_ms: int | None = None, max_days: int = 31) -> int:
    """Roll up, for every school, the days that ended since its coverage (at most `max_days` at a time), so that
    days on which nothing changed are covered too; the number of school-days rolled up."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    with Session(engine) as s:
        schools = s.execute(select(School.code, School.tz)).all()
        covered = dict(s.execute(select(RollupCoverage.school, RollupCoverage.last_day)).all())
    done = 0
    for code, tz in schools:
        yesterday = local_date(now_ms, ZoneInfo(tz)) - timedelta(days=1)
        start = date.fromisoformat(covered[code]) + timedelta(days=1) if code in covered else yesterday
        if start > yesterday:
            continue
        end = min(yesterday, start + timedelta(days=max_days - 1))
        done += isolated(f"rolling up the days of school {code}", partial(_advance, engine, code, start, end))
    return done


def _advance(engine: Engine, school: str, start: date, end: date) -> int:
    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    with Session(engine) as s, s.begin():
        roll_up(s, school, days)
        s.execute(delete(StaleDay).where(StaleDay.school == school, StaleDay.day.in_(days)))
        extend_coverage(s, school, start, end)
    return len(days)


def trusted_days(s: Session, schools: list[str], first: str, last: str) -> set[tuple[str, str]]:
    """(school, day) pairs from `first` to `last` whose rollups are complete and current."""
    rolled = set(
        s.execute(
            select(RolledDay.school, RolledDay.day).where(
                RolledDay.school.in_(schools), RolledDay.day >= first, RolledDay.day <= last
            )
        ).all()
    )
    stale = set(
        s.execute(
            select(StaleDay.school, StaleDay.day).where(
                StaleDay.school.in_(schools), StaleDay.day >= first, StaleDay.day <= last
            )
        ).all()
    )
    return {(a, b) for a, b in rolled} - {(a, b) for a, b in stale}
