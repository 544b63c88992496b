"""Region-wide utilization from school rollups: one aggregate query over a row per school and month (a row
per day at the range's ragged ends) instead of a row per device and day.

A school qualifies when the query covers whole local days that are all rolled up and current; every other
school goes through the per-device path. Sums are pooled per key; sessions that continue from the previous
teaching day are subtracted except on the school's first day in the range; devices used anywhere in the
range come from OR-ing the days' device bitmaps (in the database on PostgreSQL).
"""

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from campuspulse.server.metrics.available_time import local_date, local_ms
from campuspulse.server.metrics.month_rollups import ADDITIVE, of_schools, or_bits, range_rows
from campuspulse.server.metrics.utilization import UtilizationFigures
from campuspulse.store.rollup_schema import RollupCoverage, SchoolDayRollup, StaleDay
from campuspulse.store.schema import Device


@dataclass(slots=True)
class Pooled:
    """Figures per key with device counts (devices, devices used) kept apart from the additive parts."""

    figures: dict[str, UtilizationFigures]
    devices: dict[str, int]
    used: dict[str, int]


def whole_days(f_ms: int, t_ms: int, tz: ZoneInfo) -> tuple[date, date] | None:
    """(first, last) local days if [f_ms, t_ms) is exactly whole days in `tz`, else None."""
    first, last_excl = local_date(f_ms, tz), local_date(t_ms, tz)
    if last_excl <= first or local_ms(first, "00:00", tz) != f_ms or local_ms(last_excl, "00:00", tz) != t_ms:
        return None
    return first, last_excl - timedelta(days=1)


def rolled_schools(s: Session, schools: list[str], first: date, last: date, everyone: bool = False) -> set[str]:
    """The schools whose every day from `first` to `last` is rolled up and not stale (`everyone`: the schools
    are all the schools there are)."""
    a, b = first.isoformat(), last.isoformat()
    codes = None if everyone else schools
    c = RollupCoverage
    covered = set(s.scalars(select(c.school).where(of_schools(c.school, codes), c.first_day <= a, c.last_day >= b)))
    stale_q = of_schools(StaleDay.school, codes) & (StaleDay.day >= a) & (StaleDay.day <= b)
    stale = set(s.scalars(select(StaleDay.school).where(stale_q).distinct()))
    return (covered - stale) & set(schools)


def pool_school_days(
    s: Session,
    schools: dict[str, Any],
    first: date,
    last: date,
    key_of: Any,
    bucket: Callable[[str], str] | None,
    everyone: bool = False,
) -> Pooled:
    """Pooled figures of these schools from their school-day rollups from `first` to `last` (keyed by `key_of`
    of the school, or by the time `bucket` of the day); `everyone`: the schools are all there are."""
    if bucket is not None:
        return _pool_by_time(s, list(schools), first, last, bucket)
    codes = list(schools)
    p = range_rows(s, None if everyone else codes, first, last).c
    out = Pooled(defaultdict(UtilizationFigures), defaultdict(int), defaultdict(int))
    if s.get_bind().dialect.name == "postgresql":  # devices used and the first row's continued in the same pass
        totals = [func.sum(getattr(p, name)) for name in ADDITIVE]
        rows: Sequence[Any] = s.execute(
            select(
                p.school,
                *totals,
                func.max(p.devices),
                func.bit_count(func.bit_or(p.used_bits)),
                func.array_agg(aggregate_order_by(p.first_continued, p.day))[1],
            ).group_by(p.school)
        ).all()
    else:
        rows = _aggregate(s.execute(select(*p)).all())
    seen: set[str] = set()
    for code, *totals, devices, used, first_continued in rows:
        if code not in schools:
            continue
        key = key_of(schools[code])
        parts = dict(zip(ADDITIVE, (int(v) for v in totals), strict=True))
        parts["sessions"] += int(first_continued or 0) - parts.pop("continued")
        out.figures[key].add(UtilizationFigures(**parts))
        out.devices[key] += int(devices)
        out.used[key] += int(used)
        seen.add(code)
    missing = [c for c in codes if c not in seen]  # no teaching day in the range: the devices still count
    if missing:
        for code, n in s.execute(
            select(Device.school, func.count()).where(Device.school.in_(missing)).group_by(Device.school)
        ):
            key = key_of(schools[code])
            out.figures[key]
            out.devices[key] += int(n)
    return out


def _aggregate(rows: Sequence[Row[Any]]) -> list[tuple[Any, ...]]:
    """The PostgreSQL aggregate of `pool_school_days`, in Python (for SQLite)."""
    by_school: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        by_school[row.school].append(row)
    out = []
    for code, parts in by_school.items():
        parts.sort(key=lambda r: r.day)
        sums = [sum(int(getattr(r, name)) for r in parts) for name in ADDITIVE]
        used = or_bits([str(r.used_bits) for r in parts]).count("1")
        out.append((code, *sums, max(int(r.devices) for r in parts), used, parts[0].first_continued))
    return out


def _pool_by_time(s: Session, codes: list[str], first: date, last: date, bucket: Callable[[str], str]) -> Pooled:
    """School-day rows pooled per time key; a session continuing from the previous teaching day counts once
    when that day has the same key, and devices used are OR-ed over the key's days per school."""
    r = SchoolDayRollup
    out = Pooled(defaultdict(UtilizationFigures), defaultdict(int), defaultdict(int))
    q = (
        select(r.school, r.day, *(getattr(r, name) for name in ADDITIVE), r.devices, r.used_bits)
        .where(r.school.in_(codes), r.day >= first.isoformat(), r.day <= last.isoformat())
        .order_by(r.school, r.day)
    )
    prev: tuple[str, str] | None = None
    bits: dict[tuple[str, str], list[str]] = defaultdict(list)
    devices: dict[tuple[str, str], int] = {}
    for code, day, *totals, n, used_bits in s.execute(q):
        key = bucket(day)
        same = prev is not None and prev[0] == code and bucket(prev[1]) == key
        parts = dict(zip(ADDITIVE, (int(v) for v in totals), strict=True))
        continued = parts.pop("continued")
        parts["sessions"] -= continued if same else 0
        out.figures[key].add(UtilizationFigures(**parts))
        bits[(code, key)].append(str(used_bits))
        devices[(code, key)] = max(devices.get((code, key), 0), int(n))
        prev = (code, day)
    for (code, key), maps in bits.items():
        out.devices[key] += devices[(code, key)]
        out.used[key] += or_bits(maps).count("1")
    return out
