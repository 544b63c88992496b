"""Calendars, day schedules and school timetables; they compile into the calendar days of contract.md."""

import asyncio
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict

from campuspulse.server.access.principals import require_admin, require_read, require_write
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.provisioning import answer
from campuspulse.server.api.schemas import IdPath
from campuspulse.server.deps import Db
from campuspulse.server.inventory import timetables
from campuspulse.server.inventory.calendar_files import events_from_csv, events_from_ics
from campuspulse.server.inventory.calendars import CalendarIn, ScheduleIn
from campuspulse.server.inventory.service import row_dict

router = APIRouter(tags=["calendars"])


class TimetableIn(BaseModel):
    """`PUT /schools/{school}/timetable`."""

    model_config = ConfigDict(extra="forbid")
    calendar: str
    schedule: str


@router.get("/calendars", response_model=answers.Calendars)
def list_calendars(db: Db, _: Caller) -> dict[str, object]:
    """Every calendar (code and name)."""
    return {"calendars": [{"code": c.code, "name": c.name} for c in timetables.list_calendars(db)]}


@router.get("/calendars/{code}", response_model=answers.CalendarOut)
def get_calendar(code: IdPath, db: Db, _: Caller) -> dict[str, object]:
    """A calendar: terms, holidays, make-up days."""
    return {"code": code, **timetables.get_calendar(db, code).model_dump(mode="json")}


@router.put("/calendars/{code}", response_model=answers.Recompiled)
def put_calendar(code: IdPath, body: CalendarIn, db: Db, response: Response, caller: Caller) -> dict[str, object]:
    """Create or replace a calendar (admins); schools that follow it are recompiled."""
    require_admin(caller, "change calendars shared by schools")
    created, schools = timetables.put_calendar(db, code, body)
    return answer(created, response, {"code": code, "schools_recompiled": schools})


@router.post("/calendars/{code}/import", response_model=answers.CalendarImport)
async def import_calendar(
    code: IdPath,
    file: UploadFile,
    db: Db,
    caller: Caller,
    format: Annotated[str | None, Query(pattern="^(ics|csv)$", description="default: from the file name")] = None,
) -> dict[str, object]:
    """Add holidays, make-up days and terms from an iCalendar (.ics) or CSV file to a calendar (admins)."""
    data = await file.read()
    kind = format or PurePath(file.filename or "").suffix.lstrip(".").lower()

    def run() -> dict[str, object]:
        require_admin(caller, "change calendars shared by schools")
        events = events_from_csv(data) if kind == "csv" else events_from_ics(data)
        body, schools = timetables.import_events(db, code, events)
        return {"code": code, "events": len(events), "schools_recompiled": schools, **body.model_dump(mode="json")}

    return await asyncio.to_thread(run)


@router.get("/schedules", response_model=answers.Schedules)
def list_schedules(db: Db, _: Caller) -> dict[str, object]:
    """Every day schedule."""
    return {"schedules": [row_dict(s) for s in timetables.list_schedules(db)]}


@router.get("/schedules/{code}", response_model=answers.ScheduleOut)
def get_schedule(code: IdPath, db: Db, _: Caller) -> dict[str, object]:
    """A day schedule: the periods of each weekday."""
    return {"code": code, **timetables.get_schedule(db, code).model_dump(mode="json")}


@router.put("/schedules/{code}", response_model=answers.Recompiled)
def put_schedule(code: IdPath, body: ScheduleIn, db: Db, response: Response, caller: Caller) -> dict[str, object]:
    """Create or replace a day schedule (admins); schools that follow it are recompiled."""
    require_admin(caller, "change day schedules shared by schools")
    created, schools = timetables.put_schedule(db, code, body)
    return answer(created, response, {"code": code, "schools_recompiled": schools})


@router.get("/schools/{school}/timetable", response_model=answers.Timetable)
def get_timetable(school: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """The calendar and schedule a school follows."""
    require_read(db, caller, school)
    tt = timetables.get_timetable(db, school)
    return {"school": school, "calendar": tt.calendar, "schedule": tt.schedule}


@router.put("/schools/{school}/timetable", response_model=answers.TimetableSet)
def put_timetable(school: IdPath, body: TimetableIn, db: Db, caller: Caller) -> dict[str, object]:
    """Make a school follow a calendar and a schedule; its teaching days inside the calendar are rewritten."""
    require_write(db, caller, school)
    days = timetables.set_timetable(db, school, body.calendar, body.schedule)
    return {"school": school, "calendar": body.calendar, "schedule": body.schedule, "teaching_days": days}
