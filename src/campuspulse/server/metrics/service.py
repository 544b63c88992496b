"""Utilization queries against the ledger: scope → devices, calendar → available time, pooled rows."""

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import region_districts
from campuspulse.server.errors import NotFound
from campuspulse.server.ledger.schema import CalendarDay, Device, School, StateSegment
from campuspulse.server.metrics.available_time import bound_ms, local_date, teaching_periods
from campuspulse.server.metrics.utilization import Interval, UtilizationFigures, device_utilization


class Scope(StrEnum):
    """Levels of the region tree a figure can be asked for."""

    CITY = "city"
    DISTRICT = "district"
    SCHOOL = "school"
    ROOM = "room"
    DEVICE = "device"


class GroupBy(StrEnum):
    """How rows are keyed."""

    DEVICE = "device"
    ROOM = "room"
    SCHOOL = "school"
    DISTRICT = "district"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class _Dev:
    school: School
    device: str
    room: str


def _devices(s: Session, scope: Scope, ident: str) -> list[_Dev]:
    q = select(Device, School).join(School, School.code == Device.school)
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
    if not rows and (scope is not Scope.CITY or ident):
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
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    devices = _devices(s, scope, ident)
    by_school: dict[str, list[_Dev]] = defaultdict(list)
    for d in devices:
        by_school[d.school.code].append(d)
    pooled: dict[str, UtilizationFigures] = defaultdict(UtilizationFigures)
    for code, devs in by_school.items():
        school = devs[0].school
        tz = ZoneInfo(school.tz)
        f_ms, t_ms = bound_ms(from_, tz), min(bound_ms(to, tz), now_ms)
        lo, hi = local_date(f_ms, tz) - timedelta(days=1), local_date(t_ms, tz) + timedelta(days=1)
        days = {
            c.day: c.periods
            for c in s.scalars(
                select(CalendarDay).where(
                    CalendarDay.school == code, CalendarDay.day >= lo.isoformat(), CalendarDay.day <= hi.isoformat()
                )
            )
        }
        periods = teaching_periods(days, tz, f_ms, t_ms)
        segs: dict[str, list[Interval]] = defaultdict(list)
        for seg in s.execute(
            select(StateSegment.device, StateSegment.start_ms, StateSegment.end_ms, StateSegment.state)
            .where(
                StateSegment.school == code,
                StateSegment.device.in_([d.device for d in devs]),
                StateSegment.start_ms < t_ms,
                StateSegment.end_ms > f_ms,
            )
            .order_by(StateSegment.start_ms)
        ):
            segs[seg.device].append(Interval(seg.start_ms, seg.end_ms, seg.state))
        for dev in devs:
            if group_by is GroupBy.DAY:
                per_day: dict[str, list[tuple[int, int]]] = defaultdict(list)
                for day, p0, p1 in periods:
                    per_day[day].append((p0, p1))
                for day, ps in per_day.items():
                    pooled[day].add(device_utilization(segs[dev.device], ps, period_threshold))
            else:
                key = _key(group_by, scope, ident, dev)
                pooled[key].add(
                    device_utilization(segs[dev.device], [(p0, p1) for _, p0, p1 in periods], period_threshold)
                )
    return [pooled[k].as_row(k) for k in sorted(pooled)]


def schools_in_scope(s: Session, scope: Scope, ident: str) -> Sequence[School]:
    """The schools of a school, district or city scope (a city without id: every school)."""
    q = select(School).order_by(School.code)
    if scope is Scope.SCHOOL:
        q = q.where(School.code == ident)
    elif scope is Scope.DISTRICT:
        q = q.where(School.district == ident)
    elif scope is Scope.CITY and ident:
        q = q.where(School.district.in_(region_districts(s, ident)))
    elif scope is not Scope.CITY:
        raise NotFound(f"this figure is computed for scope school, district or city, not {scope.value}")
    rows = s.scalars(q).all()
    if not rows and (scope is not Scope.CITY or ident):
        raise NotFound(f"no schools in {scope.value} {ident!r}")
    return rows
