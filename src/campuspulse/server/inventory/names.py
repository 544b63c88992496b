"""The names of a school's rooms and devices as a workbook to edit in Excel: one row per room, device or kind of
device it has, its code (the id, never changed here) and its name; read back all or nothing, each problem named by
row and column. Kinds are named for the whole city: only an admin's upload may change them."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.inventory.excel import Column, RowProblem, SheetRejected, read_workbook, write_workbook
from campuspulse.server.inventory.kinds import kind_names, put_kind
from campuspulse.server.inventory.service import require_school
from campuspulse.store.inventory_schema import Room
from campuspulse.store.schema import Device

SHEET = "名称"
ROOM, DEVICE, KIND = "房间", "设备", "设备类型"
MAX_NAME = 200
COLUMNS = (
    Column("what", "类型", "房间, 设备 or 设备类型", choices=(ROOM, DEVICE, KIND), width=10),
    Column("code", "代码", "the room's or device's id in the school (not changed by an upload)", width=28),
    Column("room", "所在房间", "for a device: its room (not changed by an upload)", width=20),
    Column("name", "名称", f"what people call it (at most {MAX_NAME} characters; a device's may be empty)", width=30),
)
NOTES = "房间与设备名称 names of rooms and devices — edit the 名称 column and upload the file again."


def export_names(s: Session, school: str) -> bytes:
    """The school's rooms, then its devices, with their names."""
    require_school(s, school)
    rows: list[dict[str, Any]] = [
        {"what": ROOM, "code": r.room, "name": r.name}
        for r in s.scalars(select(Room).where(Room.school == school).order_by(Room.room))
    ]
    devices = s.scalars(select(Device).where(Device.school == school).order_by(Device.room, Device.device)).all()
    rows += [{"what": DEVICE, "code": d.device, "room": d.room, "name": d.name} for d in devices]
    named = kind_names(s)
    rows += [
        {"what": KIND, "code": k, "name": named.get(k, ("", ""))[0] or None} for k in sorted({d.kind for d in devices})
    ]
    return write_workbook(SHEET, COLUMNS, rows, NOTES)


def _kind_problem(name: str | None, current: str, may_name_kinds: bool) -> str | None:
    """What is wrong with a kind's row, if anything."""
    if not name:
        return "Field required" if current else None  # a kind without a name may stay so
    if len(name) > 100:
        return "String should have at most 100 characters"
    if name != current and not may_name_kinds:
        return "only an admin names device kinds (the names are the city's)"
    return None


def import_names(s: Session, school: str, data: bytes, may_name_kinds: bool = False) -> int:
    """Set the names the workbook holds; SheetRejected (nothing written) if any row is wrong. The number changed.
    A kind's name changes only with `may_name_kinds` (an admin's upload); unchanged kind rows pass for anyone."""
    require_school(s, school)
    named = kind_names(s)
    kinds: list[tuple[str, str]] = []
    rooms = {r.room: r for r in s.scalars(select(Room).where(Room.school == school))}
    devices = {d.device: d for d in s.scalars(select(Device).where(Device.school == school))}
    problems: list[RowProblem] = []
    changes: list[tuple[Room | Device, str | None]] = []
    for row, record in read_workbook(data, SHEET, COLUMNS):
        what, code = record.get("what"), str(record.get("code") or "")
        name = None if record.get("name") is None else str(record["name"]).strip()
        target: Room | Device | None = None
        if what == KIND:
            said = _kind_problem(name, named.get(code, ("", ""))[0], may_name_kinds)
            if said:
                problems.append(RowProblem(row, "name", said))
            elif name and named.get(code, ("", ""))[0] != name:
                kinds.append((code, name))
            continue
        if what == ROOM:
            target = rooms.get(code)
        elif what == DEVICE:
            target = devices.get(code)
        else:
            problems.append(RowProblem(row, "what", f"{ROOM}, {DEVICE} or {KIND} expected (got {what!r})"))
            continue
        if target is None:
            noun = "room" if what == ROOM else "device"
            problems.append(RowProblem(row, "code", f"{code!r} is not a {noun} of this school"))
        elif name is not None and len(name) > MAX_NAME:
            problems.append(RowProblem(row, "name", f"String should have at most {MAX_NAME} characters"))
        elif what == ROOM and not name:
            problems.append(RowProblem(row, "name", "Field required"))
        else:
            changes.append((target, name or None))
    if problems:
        raise SheetRejected(problems)
    changed = 0
    for kind, name in kinds:
        put_kind(s, kind, name, named.get(kind, (name, None))[1])
        changed += 1
    for target, name in changes:
        if target.name != name:
            target.name = name
            changed += 1
    s.flush()
    return changed
