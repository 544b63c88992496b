"""Reads and idempotent writes of the inventory: regions, schools, agents, devices, rooms, equipment, calendar days.

Every write goes through the ORM session so that the audit log sees it (`store/audit.py`).
Callers check scope first (`server/access/principals.py`); these functions check consistency.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from campuspulse.server.errors import Conflict, NotFound
from campuspulse.store.inventory_schema import EquipmentItem, Region, Room
from campuspulse.store.schema import Agent, Base, CalendarDay, Device, School


def _upsert(s: Session, model: type[Any], key: Any, fields: dict[str, Any]) -> bool:
    row = s.get(model, key)
    if row is None:
        s.add(model(**fields))
        s.flush()
        return True
    for name, value in fields.items():
        setattr(row, name, value)
    s.flush()
    return False


def row_dict(row: Base) -> dict[str, Any]:
    """A row's columns as a plain dict."""
    return {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs}


def _count(s: Session, q: Select[Any]) -> int:
    return s.scalar(select(func.count()).select_from(q.subquery())) or 0


def _refuse_if_used(s: Session, what: str, uses: dict[str, Select[Any]]) -> None:
    used = {name: n for name, q in uses.items() if (n := _count(s, q))}
    if used:
        listed = ", ".join(f"{n} {name}" for name, n in used.items())
        raise Conflict(f"{what} is still referenced by {listed}; delete or move those first")


# Rows that others hang on (a school's agents and devices, an agent's devices) are locked against deletion while a
# child is written (FOR KEY SHARE, as a foreign key would), and a deletion locks the row before it looks for
# children (FOR UPDATE): two replicas can never leave a device of a deleted agent or school. SQLite has one writer.
_KEEP = {"read": True, "key_share": True}
_DELETING = {"read": False}


def require_school(s: Session, school: str, lock: dict[str, bool] | None = None) -> School:
    """The school (locked as `lock` says), or NotFound saying how to create it."""
    row = s.get(School, school, with_for_update=lock)
    if row is None:
        raise NotFound(f"school {school!r} does not exist; PUT /api/v1/schools/{school} first")
    return row


# Regions


def put_region(s: Session, code: str, name: str, level: str, parent: str | None) -> bool:
    """Create or replace a city (no parent) or a district (parent: a city); True if created."""
    if level == "city" and parent is not None:
        raise Conflict(f"city {code!r} cannot have a parent region")
    if level == "district":
        up = s.get(Region, parent) if parent else None
        if up is None or up.level != "city":
            raise Conflict(f"district {code!r} needs an existing city as parent (got {parent!r})")
    return _upsert(s, Region, code, {"code": code, "name": name, "level": level, "parent": parent})


def list_regions(s: Session) -> Sequence[Region]:
    """Every region, cities first."""
    return s.scalars(select(Region).order_by(Region.level, Region.code)).all()


def delete_region(s: Session, code: str) -> None:
    """Remove a region nothing refers to."""
    row = s.get(Region, code)
    if row is None:
        raise NotFound(f"region {code!r} does not exist")
    _refuse_if_used(
        s,
        f"region {code!r}",
        {
            "districts": select(Region.code).where(Region.parent == code),
            "schools": select(School.code).where(School.district == code),
        },
    )
    s.delete(row)


# Schools and agents


def put_school(s: Session, code: str, fields: dict[str, Any]) -> bool:
    """Create or replace a school; True if it was created."""
    return _upsert(s, School, code, {"code": code, **fields})


def list_schools(s: Session, within: Select[str] | None) -> Sequence[School]:
    """Schools, limited to the codes `within` selects (None: all)."""
    q = select(School).order_by(School.code)
    if within is not None:
        q = q.where(School.code.in_(within))
    return s.scalars(q).all()


def delete_school(s: Session, code: str) -> None:
    """Remove a school that has nothing left in it."""
    row = require_school(s, code, _DELETING)
    _refuse_if_used(
        s,
        f"school {code!r}",
        {
            "agents": select(Agent.id).where(Agent.school == code),
            "devices": select(Device.device).where(Device.school == code),
            "rooms": select(Room.room).where(Room.school == code),
            "equipment items": select(EquipmentItem.item).where(EquipmentItem.school == code),
        },
    )
    for day in s.scalars(select(CalendarDay).where(CalendarDay.school == code)):
        s.delete(day)
    s.delete(row)


def put_agent(s: Session, agent: str, school: str) -> bool:
    """Register an agent to a school; True if it was created."""
    require_school(s, school, _KEEP)
    current = s.get(Agent, agent)
    if current is not None and current.school != school:
        _refuse_if_used(
            s,
            f"agent {agent!r} of school {current.school!r}",
            {"devices": select(Device.device).where(Device.agent == agent)},
        )
    return _upsert(s, Agent, agent, {"id": agent, "school": school})


def get_agent(s: Session, agent: str, lock: dict[str, bool] | None = None) -> Agent:
    """A registered agent (locked as `lock` says)."""
    row = s.get(Agent, agent, with_for_update=lock)
    if row is None:
        raise NotFound(f"agent {agent!r} does not exist; PUT /api/v1/agents/{agent} first")
    return row


def agent_school(s: Session, agent: str) -> str | None:
    """The school an agent is registered to, if it is."""
    row = s.get(Agent, agent)
    return None if row is None else row.school


def list_agents(s: Session, within: Select[str] | None) -> Sequence[Agent]:
    """Agents of the schools `within` selects (None: all)."""
    q = select(Agent).order_by(Agent.school, Agent.id)
    if within is not None:
        q = q.where(Agent.school.in_(within))
    return s.scalars(q).all()


def delete_agent(s: Session, agent: str) -> None:
    """Unregister an agent that watches no device."""
    row = get_agent(s, agent, _DELETING)
    _refuse_if_used(s, f"agent {agent!r}", {"devices": select(Device.device).where(Device.agent == agent)})
    s.delete(row)


# Devices, rooms, equipment


def put_device(s: Session, school: str, device: str, fields: dict[str, Any]) -> bool:
    """Create or replace a device of a school; True if it was created."""
    require_school(s, school, _KEEP)
    agent = get_agent(s, fields["agent"], _KEEP)
    if agent.school != school:
        raise Conflict(f"agent {agent.id!r} belongs to school {agent.school!r}, not {school!r}")
    return _upsert(s, Device, (school, device), {"school": school, "device": device, **fields})


def _school_rows(s: Session, model: type[Any], school: str, order: Any) -> Sequence[Any]:
    require_school(s, school)
    return s.scalars(select(model).where(model.school == school).order_by(order)).all()


def list_devices(s: Session, school: str) -> Sequence[Device]:
    """The devices of a school."""
    return _school_rows(s, Device, school, Device.device)


def _get(s: Session, model: type[Any], key: tuple[str, str], what: str) -> Any:
    row = s.get(model, key)
    if row is None:
        raise NotFound(f"{what} {key[1]!r} of school {key[0]!r} does not exist")
    return row


def get_device(s: Session, school: str, device: str) -> Device:
    """One device."""
    return _get(s, Device, (school, device), "device")


def delete_device(s: Session, school: str, device: str) -> None:
    """Remove a device from the inventory (its recorded segments stay in the store)."""
    s.delete(get_device(s, school, device))


def put_room(s: Session, school: str, room: str, fields: dict[str, Any]) -> bool:
    """Create or replace a room of a school; True if it was created."""
    require_school(s, school)
    return _upsert(s, Room, (school, room), {"school": school, "room": room, **fields})


def list_rooms(s: Session, school: str) -> Sequence[Room]:
    """The rooms of a school."""
    return _school_rows(s, Room, school, Room.room)


def get_room(s: Session, school: str, room: str) -> Room:
    """One room."""
    return _get(s, Room, (school, room), "room")


def delete_room(s: Session, school: str, room: str) -> None:
    """Remove a room no equipment item or device is in."""
    row = get_room(s, school, room)
    _refuse_if_used(
        s,
        f"room {room!r}",
        {
            "equipment items": select(EquipmentItem.item).where(
                EquipmentItem.school == school, EquipmentItem.room == room
            ),
            "devices": select(Device.device).where(Device.school == school, Device.room == room),
        },
    )
    s.delete(row)


def put_equipment_item(s: Session, school: str, item: str, fields: dict[str, Any]) -> bool:
    """Create or replace a line of the equipment ledger; its room, if any, must be a room of the school."""
    require_school(s, school)
    room = fields.get("room")
    if room is not None and s.get(Room, (school, room)) is None:
        raise NotFound(f"room {room!r} is not a room of school {school!r}; PUT /api/v1/schools/{school}/rooms/{room}")
    return _upsert(s, EquipmentItem, (school, item), {"school": school, "item": item, **fields})


def list_equipment(s: Session, school: str) -> Sequence[EquipmentItem]:
    """A school's equipment ledger."""
    return _school_rows(s, EquipmentItem, school, EquipmentItem.item)


def get_equipment_item(s: Session, school: str, item: str) -> EquipmentItem:
    """One ledger line."""
    return _get(s, EquipmentItem, (school, item), "equipment item")


def delete_equipment_item(s: Session, school: str, item: str) -> None:
    """Remove a ledger line."""
    s.delete(get_equipment_item(s, school, item))


# Calendar days


def put_calendar_day(s: Session, school: str, day: str, periods: list[list[str]]) -> bool:
    """Make `day` a teaching day of `school` with these periods; True if it was created."""
    require_school(s, school)
    return _upsert(s, CalendarDay, (school, day), {"school": school, "day": day, "periods": periods})


def delete_calendar_day(s: Session, school: str, day: str) -> bool:
    """Make `day` a non-teaching day; True if it was a teaching day."""
    row = s.get(CalendarDay, (school, day))
    if row is None:
        return False
    s.delete(row)
    return True


def list_calendar_days(s: Session, school: str, first: str, last: str) -> Sequence[CalendarDay]:
    """The teaching days of a school from `first` to `last` (ISO dates, inclusive)."""
    require_school(s, school)
    q = select(CalendarDay).where(CalendarDay.school == school, CalendarDay.day >= first, CalendarDay.day <= last)
    return s.scalars(q.order_by(CalendarDay.day)).all()
