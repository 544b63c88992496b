"""Provisioning endpoints of contract.md: idempotent PUTs of schools, agents, devices and calendar days."""

from datetime import date

from fastapi import APIRouter, HTTPException, Response, status

from campuspulse.server.access.principals import Forbidden, Role, require_write
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.schemas import AgentIn, CalendarDayIn, DeviceIn, IdPath
from campuspulse.server.deps import Db
from campuspulse.server.inventory import service
from campuspulse.server.inventory.dates import SupportedDate
from campuspulse.server.inventory.school_fields import SchoolIn

router = APIRouter(tags=["provisioning"])


def answer(created: bool, response: Response, body: dict[str, object]) -> dict[str, object]:
    """201 for a created resource, 200 for a replaced one."""
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return body


@router.put("/schools/{school}", response_model=answers.SchoolPut)
def put_school(school: IdPath, body: SchoolIn, db: Db, response: Response, caller: Caller) -> dict[str, object]:
    """Create or replace a school (admins, and district managers within their region)."""
    if caller.role is Role.SCHOOL_MANAGER:
        raise Forbidden(f"{caller.name} is a school manager: schools are created and moved by district managers")
    require_write(db, caller, school, body.district)
    created = service.put_school(db, school, body.model_dump())
    return answer(created, response, {"school": school, **body.model_dump()})


@router.put("/agents/{agent}", response_model=answers.AgentPut)
def put_agent(agent: IdPath, body: AgentIn, db: Db, response: Response, caller: Caller) -> dict[str, object]:
    """Register an agent to a school."""
    require_write(db, caller, body.school)
    if (current := service.agent_school(db, agent)) is not None:
        require_write(db, caller, current)
    created = service.put_agent(db, agent, body.school)
    return answer(created, response, {"agent": agent, "school": body.school})


@router.put("/schools/{school}/devices/{device}", response_model=answers.DevicePut)
def put_device(
    school: IdPath, device: IdPath, body: DeviceIn, db: Db, response: Response, caller: Caller
) -> dict[str, object]:
    """Create or replace a device and bind it to an agent of the same school."""
    require_write(db, caller, school)
    created = service.put_device(db, school, device, body.model_dump())
    return answer(created, response, {"school": school, "device": device, **body.model_dump()})


@router.put("/schools/{school}/calendar/{day}", response_model=answers.TeachingDayPut)
def put_calendar_day(
    school: IdPath, day: SupportedDate, body: CalendarDayIn, db: Db, response: Response, caller: Caller
) -> dict[str, object]:
    """Make `day` a teaching day with these periods (local time)."""
    require_write(db, caller, school)
    periods = [list(p) for p in body.periods]
    created = service.put_calendar_day(db, school, day.isoformat(), periods)
    return answer(created, response, {"school": school, "date": day.isoformat(), "periods": periods})


@router.delete("/schools/{school}/calendar/{day}", status_code=status.HTTP_204_NO_CONTENT)
def delete_calendar_day(school: IdPath, day: date, db: Db, caller: Caller) -> None:
    """Make `day` a non-teaching day."""
    require_write(db, caller, school)
    if not service.delete_calendar_day(db, school, day.isoformat()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{day} is not a teaching day of {school!r}")
