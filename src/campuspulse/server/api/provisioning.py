"""Provisioning endpoints: idempotent PUTs of schools, agents, devices and calendar days."""

from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from campuspulse.server.api.auth import Principal
from campuspulse.server.api.deps import Db
from campuspulse.server.api.schemas import AgentIn, CalendarDayIn, DeviceIn, SchoolIn
from campuspulse.server.inventory import service
from campuspulse.telemetry.topics import ID_PATTERN

router = APIRouter(tags=["provisioning"])
IdPath = Annotated[str, Path(pattern=rf"^{ID_PATTERN}$")]


def _answer(created: bool, response: Response, body: dict[str, object]) -> dict[str, object]:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return body


def _guard(call: Callable[..., bool], *args: object) -> bool:
    """Run an inventory write, turning its lookup and conflict errors into 404 and 409."""
    try:
        return call(*args)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except service.Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.put("/schools/{school}")
def put_school(school: IdPath, body: SchoolIn, db: Db, response: Response, _: Principal) -> dict[str, object]:
    """Create or replace a school."""
    created = service.put_school(db, school, body.model_dump())
    return _answer(created, response, {"school": school, **body.model_dump()})


@router.put("/agents/{agent}")
def put_agent(agent: IdPath, body: AgentIn, db: Db, response: Response, _: Principal) -> dict[str, object]:
    """Register an agent to a school."""
    created = _guard(service.put_agent, db, agent, body.school)
    return _answer(created, response, {"agent": agent, "school": body.school})


@router.put("/schools/{school}/devices/{device}")
def put_device(
    school: IdPath, device: IdPath, body: DeviceIn, db: Db, response: Response, _: Principal
) -> dict[str, object]:
    """Create or replace a device and bind it to an agent of the same school."""
    created = _guard(service.put_device, db, school, device, body.model_dump())
    return _answer(created, response, {"school": school, "device": device, **body.model_dump()})


@router.put("/schools/{school}/calendar/{day}")
def put_calendar_day(
    school: IdPath, day: date, body: CalendarDayIn, db: Db, response: Response, _: Principal
) -> dict[str, object]:
    """Make `day` a teaching day with these periods (local time)."""
    periods = [list(p) for p in body.periods]
    created = _guard(service.put_calendar_day, db, school, day.isoformat(), periods)
    return _answer(created, response, {"school": school, "date": day.isoformat(), "periods": periods})


@router.delete("/schools/{school}/calendar/{day}", status_code=status.HTTP_204_NO_CONTENT)
def delete_calendar_day(school: IdPath, day: date, db: Db, _: Principal) -> None:
    """Make `day` a non-teaching day."""
    if not service.delete_calendar_day(db, school, day.isoformat()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{day} is not a teaching day of {school!r}")
