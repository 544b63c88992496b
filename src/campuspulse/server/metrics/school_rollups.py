"""Region-wide utilization from school-day rollups: one aggregate query instead of a row per device and day.

A school qualifies when the query covers whole local days that are all rolled up and current; every other
school goes through the per-device path. Sums are pooled per key; sessions that continue from the previous
teaching day are subtracted except on the school's first day in the range; devices used anywhere in the
range come from OR-ing the days' device bitmaps (in the database on PostgreSQL).
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from campuspulse.server.ledger.rollup_schema import RollupCoverage, SchoolDayRollup, StaleDay
from campuspulse.server.ledger.schema import Device, School
from campuspulse.server.metrics.available_time import local_date, local_ms
from campuspulse.server.metrics.utilization import UtilizationFigures


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


def _of(column: Any, codes: list[str] | None) -> Any:
    """`column IN codes`, or no condition at all for every school (a long IN list costs more than it saves)."""
    return true() if codes is None else column.in_(codes)


def rolled_schools(s: Session, schools: list[str], first: date, last: date, everyone: bool = False) -> set[str]:
    """The schools whose every day from `first` to `last` is rolled up and not stale (`everyone`: the schools
    are all the schools there are)."""
    a, b = first.isoformat(), last.isoformat()
    codes = None if everyone else schools
    c = RollupCoverage
    covered = set(s.scalars(select(c.school).where(_of(c.school, codes), c.first_day <= a, c.last_day >= b)))
    stale_q = _of(StaleDay.school, codes) & (StaleDay.day >= a) & (StaleDay.day <= b)
    stale = set(s.scalars(select(StaleDay.school).where(stale_q).distinct()))
    return (covered - stale) & set(schools)


def _popcount_or(bitmaps: list[str]) -> int:
    acc = 0
    for bits in bitmaps:
        acc |= int(bits or "0", 2)
    return acc.bit_count()


def pool_school_days(
    s: Session, schools: dict[str, School], first: date, last: date, key_of: Any,
    bucket: Callable[[str], str] | None, everyone: bool = False,
) -> Pooled:  # fmt: skip
    """Pooled figures of these schools from their school-day rollups from `first` to `last` (keyed by `key_of`
    of the school, or by the time `bucket` of the day); `everyone`: the schools are all there are."""
    if bucket is not None:
        return _pool_by_time(s, list(schools), first, last, bucket)
    r = SchoolDayRollup
    a, b = first.isoformat(), last.isoformat()
    codes = list(schools)
    within = _of(r.school, None if everyone else codes) & (r.day >= a) & (r.day <= b)
    out = Pooled(defaultdict(UtilizationFigures), defaultdict(int), defaultdict(int))
    sums = [func.sum(c) for c in (r.available_ms, r.in_use_ms, r.known_ms, r.sessions, r.used_periods,
                                  r.available_periods, r.continued)] + [func.max(r.devices)]  # fmt: skip
    pg = s.get_bind().dialect.name == "postgresql"
    if pg:  # devices used and the first day's continued sessions in the same pass
        extra = [func.bit_count(func.bit_or(r.used_bits)),
                 func.array_agg(aggregate_order_by(r.continued, r.day))[1]]  # fmt: skip
    else:
        extra = [func.min(r.school), func.min(r.school)]
    q = select(r.school, *sums, *extra).where(within).group_by(r.school)
    first_continued: dict[str, int] = {}
    bitmaps: dict[str, list[str]] = defaultdict(list)
    if not pg:
        firsts = select(r.school, func.min(r.day).label("day")).where(within).group_by(r.school).subquery()
        first_continued = dict(s.execute(select(r.school, r.continued).join(
            firsts, (firsts.c.school == r.school) & (firsts.c.day == r.day))).all())  # fmt: skip
        for code, bits in s.execute(select(r.school, r.used_bits).where(within)):
            bitmaps[code].append(bits)
    seen: set[str] = set()
    for code, avail, in_use, known, sessions, used_p, avail_p, continued, devices, used, first in s.execute(q):
        if code not in schools:
            continue
        if pg:
            first_continued[code] = int(first or 0)
        key = key_of(schools[code])
        sessions = int(sessions) - int(continued) + first_continued.get(code, 0)
        out.figures[key].add(UtilizationFigures(
            available_ms=int(avail), in_use_ms=int(in_use), known_ms=int(known), used_periods=int(used_p),
            available_periods=int(avail_p), sessions=sessions))  # fmt: skip
        out.devices[key] += int(devices)
        out.used[key] += int(used) if pg else _popcount_or(bitmaps[code])
        seen.add(code)
    missing = [c for c in codes if c not in seen]  # no teaching day in the range: the devices still count
    if missing:
        for code, n in s.execute(select(Device.school, func.count()).where(Device.school.in_(missing))
                                 .group_by(Device.school)):  # fmt: skip
            key = key_of(schools[code])
            out.figures[key]
            out.devices[key] += int(n)
    return out


def _pool_by_time(s: Session, codes: list[str], first: date, last: date, bucket: Callable[[str], str]) -> Pooled:
    """School-day rows pooled per time key; a session continuing from the previous teaching day counts once
    when that day has the same key, and devices used are OR-ed over the key's days per school."""
    r = SchoolDayRollup
    out = Pooled(defaultdict(UtilizationFigures), defaultdict(int), defaultdict(int))
    q = (select(r.school, r.day, r.available_ms, r.in_use_ms, r.known_ms, r.sessions, r.used_periods,
                r.available_periods, r.continued, r.devices, r.used_bits)
         .where(r.school.in_(codes), r.day >= first.isoformat(), r.day <= last.isoformat())
         .order_by(r.school, r.day))  # fmt: skip
    prev: tuple[str, str] | None = None
    bits: dict[tuple[str, str], list[str]] = defaultdict(list)
    devices: dict[tuple[str, str], int] = {}
    for code, day, avail, in_use, known, sessions, used_p, avail_p, continued, n, used_bits in s.execute(q):
        key = bucket(day)
        same = prev is not None and prev[0] == code and bucket(prev[1]) == key
        out.figures[key].add(UtilizationFigures(
            available_ms=int(avail), in_use_ms=int(in_use), known_ms=int(known), used_periods=int(used_p),
            available_periods=int(avail_p), sessions=int(sessions) - (int(continued) if same else 0)))  # fmt: skip
        bits[(code, key)].append(str(used_bits))
        devices[(code, key)] = max(devices.get((code, key), 0), int(n))
        prev = (code, day)
    for (code, key), maps in bits.items():
        out.devices[key] += devices[(code, key)]
        out.used[key] += _popcount_or(maps)
    return out
