"""Calendars, day schedules and school timetables in the store; a timetable compiles into calendar days."""

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.inventory.calendar_files import Event
from campuspulse.server.inventory.calendars import CalendarIn, ScheduleIn, compile_days, merge_events, span
from campuspulse.server.inventory.service import require_school
from campuspulse.store.inventory_schema import CalendarDef, DaySchedule, SchoolTimetable
from campuspulse.store.schema import CalendarDay


def _put(s: Session, model: type[Any], code: str, fields: dict[str, Any]) -> bool:
    row = s.get(model, code)
    if row is None:
        s.add(model(code=code, **fields))
    else:
        for k, v in fields.items():
            setattr(row, k, v)
    s.flush()
    return row is None


def _using(s: Session, column: Any, code: str) -> list[str]:
    return list(s.scalars(select(SchoolTimetable.school).where(column == code).order_by(SchoolTimetable.school)))


def put_calendar(s: Session, code: str, body: CalendarIn) -> tuple[bool, int]:
    """Create or replace a calendar and recompile the schools that use it; (created, schools recompiled)."""
    created = _put(s, CalendarDef, code, {"name": body.name, "definition": body.model_dump(mode="json")})
    schools = _using(s, SchoolTimetable.calendar, code)
    for school in schools:
        recompile(s, school)
    return created, len(schools)


def get_calendar(s: Session, code: str) -> CalendarIn:
    """A calendar's definition."""
    row = s.get(CalendarDef, code)
    if row is None:
        raise NotFound(f"no calendar {code!r}; PUT /api/v1/calendars/{code} or import one")
    return CalendarIn.model_validate(row.definition)


def list_calendars(s: Session) -> Sequence[CalendarDef]:
    """Every calendar."""
    return s.scalars(select(CalendarDef).order_by(CalendarDef.code)).all()


def import_events(s: Session, code: str, events: list[Event]) -> tuple[CalendarIn, int]:
    """Merge imported holidays, make-up days and terms into a calendar (created if new); recompile its schools."""
    row = s.get(CalendarDef, code)
    definition: dict[str, Any] = dict(row.definition) if row else {"name": code, "terms": []}
    merge_events(definition, events)
    try:
        body = CalendarIn.model_validate(definition)
    except ValidationError as exc:
        raise Conflict(f"calendar {code!r} after the import: {exc.errors()[0]['msg']}") from None
    _, schools = put_calendar(s, code, body)
    return body, schools


def put_schedule(s: Session, code: str, body: ScheduleIn) -> tuple[bool, int]:
    """Create or replace a day schedule and recompile the schools that use it."""
    fields = {"name": body.name, "stage": body.stage, "weekdays": body.model_dump(mode="json")["weekdays"]}
    created = _put(s, DaySchedule, code, fields)
    schools = _using(s, SchoolTimetable.schedule, code)
    for school in schools:
        recompile(s, school)
    return created, len(schools)


def get_schedule(s: Session, code: str) -> ScheduleIn:
    """A day schedule."""
    row = s.get(DaySchedule, code)
    if row is None:
        raise NotFound(f"no schedule {code!r}; PUT /api/v1/schedules/{code} or import one")
    return ScheduleIn.model_validate({"name": row.name, "stage": row.stage, "weekdays": row.weekdays})


def list_schedules(s: Session) -> Sequence[DaySchedule]:
    """Every day schedule."""
    return s.scalars(select(DaySchedule).order_by(DaySchedule.code)).all()


def set_timetable(s: Session, school: str, calendar: str, schedule: str) -> int:
    """Give a school its calendar and schedule and compile them; the number of teaching days written."""
    require_school(s, school)
    get_calendar(s, calendar), get_schedule(s, schedule)
    row = s.get(SchoolTimetable, school)
    if row is None:
        s.add(SchoolTimetable(school=school, calendar=calendar, schedule=schedule))
    else:
        row.calendar, row.schedule = calendar, schedule
    s.flush()
    return recompile(s, school)


def get_timetable(s: Session, school: str) -> SchoolTimetable:
    """The calendar and schedule a school follows."""
    row = s.get(SchoolTimetable, school)
    if row is None:
        raise NotFound(f"school {school!r} has no timetable; PUT /api/v1/schools/{school}/timetable")
    return row


def recompile(s: Session, school: str) -> int:
    """Rewrite the school's calendar days inside its calendar's span; days outside it are left alone."""
    tt = get_timetable(s, school)
    calendar = get_calendar(s, tt.calendar)
    days = {d.isoformat(): p for d, p in compile_days(calendar, get_schedule(s, tt.schedule)).items()}
    first, last = (d.isoformat() for d in span(calendar))
    existing = {
        c.day: c
        for c in s.scalars(
            select(CalendarDay).where(CalendarDay.school == school, CalendarDay.day >= first, CalendarDay.day <= last)
        )
    }
    for day, periods in days.items():
        row = existing.pop(day, None)
        if row is None:
            s.add(CalendarDay(school=school, day=day, periods=periods))
        elif row.periods != periods:
            row.periods = periods
    for row in existing.values():
        s.delete(row)
    s.flush()
    return len(days)
