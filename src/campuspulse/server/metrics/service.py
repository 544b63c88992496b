"""Utilization queries against the store: scope → devices, calendar → available time, pooled rows."""

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Scope, region_districts
from campuspulse.server.errors import NotFound
from campuspulse.server.metrics.available_time import bound_ms, local_date
from campuspulse.server.metrics.daily import ROLLUP_THRESHOLD, DeviceSegments, device_day, teaching_days
from campuspulse.server.metrics.month_rollups import DAY_FIGURES
from campuspulse.server.metrics.rollups import school_segments, trusted_days
from campuspulse.server.metrics.school_rollups import Pooled, pool_school_days, rolled_schools, whole_days
from campuspulse.server.metrics.utilization import UtilizationFigures
from campuspulse.store.rollup_schema import DeviceDayRollup
from campuspulse.store.schema import CalendarDay, Device, School


class GroupBy(StrEnum):
    """How rows are keyed."""

    DEVICE = "device"
    ROOM = "room"
    SCHOOL = "school"
    DISTRICT = "district"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TERM = "term"


def time_bucket(group_by: GroupBy | None) -> Callable[[str], str] | None:
    """For time groupings, the key of a local day: `2026-09-07`, ISO week `2026-W37`, `2026-09`, or the term
    `2026-1` (autumn, August–January) / `2026-2` (spring of the 2026–27 school year)."""
    match group_by:
        case GroupBy.DAY:
            return lambda day: day
        case GroupBy.WEEK:
            return lambda day: "{}-W{:02d}".format(*date.fromisoformat(day).isocalendar()[:2])
        case GroupBy.MONTH:
            return lambda day: day[:7]
        case GroupBy.TERM:
            return term_of
    return None


def term_of(day: str) -> str:
    """The school term a local day falls in: `2026-1` (August–January) or `2026-2` (February–July)."""
    year, month = int(day[:4]), int(day[5:7])
    if month >= 8:
        return f"{year}-1"
    return f"{year - 1}-1" if month == 1 else f"{year - 1}-2"


@dataclass(frozen=True, slots=True)
class _Dev:
    school: "School | SchoolRef"
    device: str
    room: str


def devices_in_scope(s: Session, scope: Scope, ident: str, only: set[str] | None = None) -> list[_Dev]:
    """The devices of a scope (of the schools `only`, if given), with their school; NotFound if none."""
    q = select(Device, School).join(School, School.code == Device.school)
    if only is not None:
        q = q.where(Device.school.in_(only))
    if scope in (Scope.ROOM, Scope.DEVICE):
        school, _, rest = ident.partition("/")
        if not rest:
            raise NotFound(f"id {ident!r} should be '<school>/<{scope.value}>' for scope={scope.value}")
        column = Device.room if scope is Scope.ROOM else Device.device
        q = q.where(Device.school == school, column == rest)
    elif scope is Scope.SCHOOL:
        q = q.where(Device.school == ident)
    elif scope is Scope.DISTRICT:
        q = q.where(School.district == ident)
    elif ident:
        q = q.where(School.district.in_(region_districts(s, ident)))
    rows = [_Dev(sc, d.device, d.room) for d, sc in s.execute(q.order_by(Device.school, Device.device))]
    if not rows and only is None and (scope is not Scope.CITY or ident):
        raise NotFound(f"no devices in {scope.value} {ident!r}")
    return rows


def _key(group_by: GroupBy | None, scope: Scope, ident: str, dev: _Dev) -> str:
    match group_by:
        case None:
            return ident if scope is not Scope.CITY else "city"
        case GroupBy.DEVICE:
            return f"{dev.school.code}/{dev.device}"
        case GroupBy.ROOM:
            return f"{dev.school.code}/{dev.room}"
        case GroupBy.SCHOOL:
            return dev.school.code
        case GroupBy.DISTRICT:
            return dev.school.district
    raise AssertionError(group_by)


def _rollup_figures(
    s: Session,
    school: str,
    devices: list[str],
    days: list[str],
    first_counted: str,
    bucket: Callable[[str], str] | None,
) -> list[tuple[str, str | None, UtilizationFigures]]:
    """(device, time key or None, figures) from the rollups of `days`. A session that continues from a
    teaching day ≥ `first_counted` is counted once when both days fall under the same key."""
    r = DeviceDayRollup
    if bucket is None:
        continued = func.sum(case((r.continues_from >= first_counted, 1), else_=0))
        cols = [r.device, *(func.sum(getattr(r, name)) for name in DAY_FIGURES), continued]
        q = select(*cols).where(r.school == school, r.device.in_(devices), r.day.in_(days)).group_by(r.device)
        rows = [(row[0], None, *row[1:], None) for row in s.execute(q)]
    else:
        cols = [r.device, r.day, *(getattr(r, name) for name in DAY_FIGURES), literal(0), r.continues_from]
        rows = list(s.execute(select(*cols).where(r.school == school, r.device.in_(devices), r.day.in_(days))))
    out = []
    for device, day, *figures, cont, continues_from in rows:
        if bucket is not None:
            cont = int(
                continues_from is not None and continues_from >= first_counted and bucket(continues_from) == bucket(day)
            )
        fig = UtilizationFigures(**dict(zip(DAY_FIGURES, (int(v) for v in figures), strict=True)))
        fig.sessions -= int(cont or 0)
        out.append((device, bucket(day) if bucket is not None else None, fig))
    return out


@dataclass(slots=True)
class _Fast:
    pooled: Pooled
    rest: set[str]  # schools left to the per-device path


def _from_school_days(
    s: Session, scope: Scope, ident: str, from_: str, to: str, group_by: GroupBy | None, threshold: float, now_ms: int
) -> _Fast | None:
    """The part of a region-wide query that school-day rollups answer, and the schools they cannot."""
    if scope not in (Scope.SCHOOL, Scope.DISTRICT, Scope.CITY) or threshold != ROLLUP_THRESHOLD:
        return None
    if group_by in (GroupBy.DEVICE, GroupBy.ROOM):
        return None
    schools = {sc.code: sc for sc in school_refs_in_scope(s, scope, ident)}
    if scope is not Scope.CITY or ident:
        _devices_exist(s, scope, ident, list(schools))
    by_range: dict[tuple[date, date], list[str]] = defaultdict(list)
    rest = set(schools)
    spans: dict[str, tuple[date, date] | None] = {}
    for code, sc in schools.items():
        if sc.tz not in spans:  # schools share a handful of zones
            tz = ZoneInfo(sc.tz)
            f_ms, t_ms = bound_ms(from_, tz), bound_ms(to, tz)
            spans[sc.tz] = None if t_ms > now_ms else whole_days(f_ms, t_ms, tz)
        if (span := spans[sc.tz]) is not None:
            by_range[span].append(code)
    citywide = scope is Scope.CITY and not ident
    pooled = Pooled(defaultdict(UtilizationFigures), defaultdict(int), defaultdict(int))

    def key_of(sc: SchoolRef) -> str:
        return _key(group_by, scope, ident, _Dev(sc, "", ""))

    for (first, last), codes in by_range.items():
        everyone = citywide and len(codes) == len(schools)
        ready = rolled_schools(s, codes, first, last, everyone)
        if not ready:
            continue
        part = pool_school_days(
            s,
            {c: schools[c] for c in ready},
            first,
            last,
            key_of,
            time_bucket(group_by),
            everyone and len(ready) == len(schools),
        )
        for key, fig in part.figures.items():
            pooled.figures[key].add(fig)
            pooled.devices[key] += part.devices[key]
            pooled.used[key] += part.used[key]
        rest -= ready
    return _Fast(pooled, rest)


def _devices_exist(s: Session, scope: Scope, ident: str, schools: list[str]) -> None:
    if s.scalar(select(Device.device).where(Device.school.in_(schools)).limit(1)) is None:
        raise NotFound(f"no devices in {scope.value} {ident!r}")


def utilization(
    s: Session,
    scope: Scope,
    ident: str,
    from_: str,
    to: str,
    group_by: GroupBy | None = None,
    period_threshold: float = 0.5,
    now_ms: int | None = None,
) -> list[dict[str, object]]:
    """Pooled utilization rows for the devices in scope over [from, to) (domain.md).

    Time after `now_ms` (default: now) is not available yet: a figure for today covers the day so far.
    Whole past days come from the daily rollups where they are current; every other day is computed
    from the segments, day by day with the same arithmetic, so both give the same figures.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    bucket = time_bucket(group_by)
    fast = _from_school_days(s, scope, ident, from_, to, group_by, period_threshold, now_ms)
    devices = devices_in_scope(s, scope, ident, None if fast is None else fast.rest)
    by_school: dict[str, list[_Dev]] = defaultdict(list)
    for d in devices:
        by_school[d.school.code].append(d)
    pooled: dict[str, UtilizationFigures] = defaultdict(UtilizationFigures)
    members: dict[str, set[str]] = defaultdict(set)
    used: dict[str, set[str]] = defaultdict(set)

    def pool(key: str, dev: _Dev, fig: UtilizationFigures) -> None:
        pooled[key].add(fig)
        members[key].add(f"{dev.school.code}/{dev.device}")
        if fig.in_use_ms > 0:
            used[key].add(f"{dev.school.code}/{dev.device}")

    for code, devs in by_school.items():
        school = devs[0].school
        tz = ZoneInfo(school.tz)
        f_ms, t_ms = bound_ms(from_, tz), min(bound_ms(to, tz), now_ms)
        keys = {d.device: _key(group_by, scope, ident, d) for d in devs} if bucket is None else {}
        for d in devs:
            if bucket is None:
                pool(keys[d.device], d, UtilizationFigures())
        if t_ms <= f_ms:
            continue
        first, last = local_date(f_ms, tz), local_date(t_ms - 1, tz)
        calendar = {
            c.day: c.periods
            for c in s.scalars(
                select(CalendarDay).where(
                    CalendarDay.school == code,
                    CalendarDay.day >= (first - timedelta(days=1)).isoformat(),
                    CalendarDay.day <= last.isoformat(),
                )
            )
        }
        tds = teaching_days(calendar, tz, first, last, clip=(f_ms, t_ms))
        if not tds:
            continue
        first_counted = tds[0].day
        whole = [td.day for td in tds if f_ms <= td.start_ms and td.end_ms <= t_ms]
        rolled: set[str] = set()
        if whole and period_threshold == ROLLUP_THRESHOLD:
            rolled = {day for _, day in trusted_days(s, [code], whole[0], whole[-1])} & set(whole)
        by_name = {d.device: d for d in devs}
        if rolled:
            for device, key, fig in _rollup_figures(s, code, list(by_name), sorted(rolled), first_counted, bucket):
                pool(key if key is not None else keys[device], by_name[device], fig)
        live = [td for td in tds if td.day not in rolled]
        if not live:
            continue
        few = list(by_name) if scope in (Scope.ROOM, Scope.DEVICE) else None
        segs = school_segments(s, code, min(td.lower_ms for td in live), max(td.end_ms for td in live), few)
        empty = DeviceSegments.of([])
        for dev in devs:
            dsegs = segs.get(dev.device, empty)
            for td in live:
                fig, continues = device_day(dsegs, td, period_threshold)
                if continues is not None and continues >= first_counted:
                    fig.sessions -= bucket is None or bucket(continues) == bucket(td.day)
                pool(bucket(td.day) if bucket is not None else keys[dev.device], dev, fig)
    for key, fig in pooled.items():
        fig.devices, fig.devices_used = len(members[key]), len(used[key])
    if fast is not None:
        for key, fig in fast.pooled.figures.items():
            fig.devices, fig.devices_used = fast.pooled.devices[key], fast.pooled.used[key]
            pooled[key].add(fig)
    return [pooled[k].as_row(k) for k in sorted(pooled)]


def schools_in_scope(s: Session, scope: Scope, ident: str) -> Sequence[School]:
    """The schools of a school, district or city scope (a city without id: every school)."""
    rows = s.scalars(select(School).where(*_school_filter(s, scope, ident)).order_by(School.code)).all()
    if not rows and (scope is not Scope.CITY or ident):
        raise NotFound(f"no schools in {scope.value} {ident!r}")
    return rows


@dataclass(frozen=True, slots=True)
class SchoolRef:
    """What region-wide figures need of a school (lighter than the mapped row, for thousands of schools)."""

    code: str
    district: str
    tz: str


def school_refs_in_scope(s: Session, scope: Scope, ident: str) -> list[SchoolRef]:
    """`schools_in_scope`, as SchoolRefs."""
    q = select(School.code, School.district, School.tz).where(*_school_filter(s, scope, ident)).order_by(School.code)
    rows = [SchoolRef(*row) for row in s.execute(q)]
    if not rows and (scope is not Scope.CITY or ident):
        raise NotFound(f"no schools in {scope.value} {ident!r}")
    return rows


def _school_filter(s: Session, scope: Scope, ident: str) -> list[Any]:
    if scope is Scope.SCHOOL:
        return [School.code == ident]
    if scope is Scope.DISTRICT:
        return [School.district == ident]
    if scope is Scope.CITY:
        return [School.district.in_(region_districts(s, ident))] if ident else []
    raise NotFound(f"this figure is computed for scope school, district or city, not {scope.value}")
