"""Idempotent writes of the inventory (the provisioning `PUT`s of contract.md)."""

from typing import Any

from sqlalchemy.orm import Session

from campuspulse.server.ledger.schema import Agent, CalendarDay, Device, School


class Conflict(ValueError):
    """A write that contradicts the inventory (e.g. a device bound to an agent of another school)."""


def _upsert(s: Session, model: type[Any], key: Any, fields: dict[str, Any]) -> bool:
    row = s.get(model, key)
    if row is None:
        s.add(model(**fields))
        return True
    for name, value in fields.items():
        setattr(row, name, value)
    return False


def _require_school(s: Session, school: str) -> None:
    if s.get(School, school) is None:
        raise LookupError(f"school {school!r} does not exist; PUT /api/v1/schools/{school} first")


def put_school(s: Session, code: str, fields: dict[str, Any]) -> bool:
    """Create or replace a school; True if it was created."""
    return _upsert(s, School, code, {"code": code, **fields})


def put_agent(s: Session, agent: str, school: str) -> bool:
    """Register an agent to a school; True if it was created."""
    _require_school(s, school)
    return _upsert(s, Agent, agent, {"id": agent, "school": school})


def put_device(s: Session, school: str, device: str, fields: dict[str, Any]) -> bool:
    """Create or replace a device of a school; True if it was created."""
    _require_school(s, school)
    agent = s.get(Agent, fields["agent"])
    if agent is None:
        raise LookupError(f"agent {fields['agent']!r} does not exist; PUT /api/v1/agents/{fields['agent']} first")
    if agent.school != school:
        raise Conflict(f"agent {agent.id!r} belongs to school {agent.school!r}, not {school!r}")
    return _upsert(s, Device, (school, device), {"school": school, "device": device, **fields})


def put_calendar_day(s: Session, school: str, day: str, periods: list[list[str]]) -> bool:
    """Make `day` a teaching day of `school` with these periods; True if it was created."""
    _require_school(s, school)
    return _upsert(s, CalendarDay, (school, day), {"school": school, "day": day, "periods": periods})


def delete_calendar_day(s: Session, school: str, day: str) -> bool:
    """Make `day` a non-teaching day; True if it was a teaching day."""
    row = s.get(CalendarDay, (school, day))
    if row is None:
        return False
    s.delete(row)
    return True
