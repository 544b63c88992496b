"""Marking the local days whose rollups a change invalidates, in the transaction that makes the change."""

import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, event, func, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from campuspulse.store.rollup_schema import RolledDay, StaleDay
from campuspulse.store.schema import CalendarDay, Device, School


def _local_date(ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / 1000, tz).date()


def local_days(start_ms: int, end_ms: int, tz: ZoneInfo) -> list[str]:
    """The local dates an interval `[start, end)` touches (at least the start's)."""
    first, last = _local_date(start_ms, tz), _local_date(max(end_ms - 1, start_ms), tz)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def day_window(day: str, tz: ZoneInfo) -> tuple[int, int]:
    """`[local midnight, next local midnight)` of a day, in ms."""
    d = date.fromisoformat(day)
    start = datetime.combine(d, clock(), tzinfo=tz)
    end = datetime.combine(d + timedelta(days=1), clock(), tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def mark_stale(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Mark (school, day) pairs stale; a pair already marked gets a newer mark."""
    rows = [{"school": school, "day": day, "marked": time.time_ns()} for school, day in sorted(set(pairs))]
    if not rows:
        return
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(StaleDay)
    conn.execute(
        ins.on_conflict_do_update(index_elements=["school", "day"], set_={"marked": ins.excluded.marked}), rows
    )


def _next_teaching_day(conn: Connection, school: str, day: str) -> str | None:
    q = select(func.min(CalendarDay.day)).where(CalendarDay.school == school, CalendarDay.day > day)
    return conn.execute(q).scalar()


@event.listens_for(Session, "after_flush")
def _inventory_changed(session: Session, _ctx: object) -> None:
    """Calendar days, devices and time zones change figures: mark the rolled-up days they touch stale."""
    pairs: set[tuple[str, str]] = set()
    whole: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, CalendarDay):
            pairs.add((obj.school, obj.day))  # and the next teaching day, whose sessions may continue from it
        elif isinstance(obj, Device) and (obj in session.new or obj in session.deleted):
            whole.add(obj.school)
        elif isinstance(obj, School) and inspect(obj).attrs.tz.history.has_changes():
            whole.add(obj.code)
    if not pairs and not whole:
        return
    conn = session.connection()
    for school, day in list(pairs):
        if (after := _next_teaching_day(conn, school, day)) is not None:
            pairs.add((school, after))
    if whole:
        pairs |= set(conn.execute(select(RolledDay.school, RolledDay.day).where(RolledDay.school.in_(whole))).all())
    mark_stale(conn, pairs)
