"""Inventory endpoints beyond provisioning: regions, school listings, rooms, the equipment ledger, deletions."""

import asyncio
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, UploadFile, status

from campuspulse.server.access.principals import (
    Forbidden,
    Role,
    readable_schools,
    require_admin,
    require_read,
    require_write,
    visible_regions,
)
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.provisioning import answer
from campuspulse.server.api.schemas import EquipmentItemIn, IdPath, RegionIn, RoomIn
from campuspulse.server.deps import XLSX_RESPONSE, Db, xlsx
from campuspulse.server.inventory import equipment_ledger, service
from campuspulse.server.inventory.money import fen_to_yuan
from campuspulse.store.inventory_schema import EquipmentItem

router = APIRouter(tags=["inventory"])
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.get("/regions", response_model=answers.Regions)
def list_regions(db: Db, caller: Caller) -> dict[str, object]:
    """The region tree, as far as the caller's scope reaches: its regions and the regions above them."""
    visible = visible_regions(db, caller)
    rows = [r for r in service.list_regions(db) if visible is None or r.code in visible]
    return {"regions": [service.row_dict(r) for r in rows]}


@router.put("/regions/{region}", response_model=answers.RegionPut)
def put_region(region: IdPath, body: RegionIn, db: Db, response: Response, caller: Caller) -> dict[str, object]:
    """Create or replace a city or a district (admins)."""
    require_admin(caller, "change the region tree")
    created = service.put_region(db, region, body.name, body.level.value, body.parent)
    return answer(created, response, {"region": region, **body.model_dump(mode="json")})


@router.delete("/regions/{region}", status_code=NO_CONTENT)
def delete_region(region: IdPath, db: Db, caller: Caller) -> None:
    """Remove a region no school or district refers to (admins)."""
    require_admin(caller, "change the region tree")
    service.delete_region(db, region)


@router.get("/schools", response_model=answers.Schools)
def list_schools(db: Db, caller: Caller) -> dict[str, object]:
    """The schools the caller may read."""
    return {"schools": [service.row_dict(s) for s in service.list_schools(db, readable_schools(db, caller))]}


@router.get("/schools/{school}", response_model=answers.SchoolOut)
def get_school(school: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """One school."""
    require_read(db, caller, school)
    return service.row_dict(service.require_school(db, school))


@router.delete("/schools/{school}", status_code=NO_CONTENT)
def delete_school(school: IdPath, db: Db, caller: Caller) -> None:
    """Remove an empty school (admins and district managers)."""
    if caller.role is Role.SCHOOL_MANAGER:
        raise Forbidden(f"{caller.name} is a school manager: schools are removed by district managers")
    require_write(db, caller, school)
    service.delete_school(db, school)


@router.get("/agents", response_model=answers.Agents)
def list_agents(db: Db, caller: Caller) -> dict[str, object]:
    """The agents of the schools the caller may read."""
    return {"agents": [service.row_dict(a) for a in service.list_agents(db, readable_schools(db, caller))]}


@router.delete("/agents/{agent}", status_code=NO_CONTENT)
def delete_agent(agent: IdPath, db: Db, caller: Caller) -> None:
    """Unregister an agent that watches no device. Its seq progress, gaps and waiting records stay in the store
    (they are its history): registered again under the same id, it goes on from them, epoch by epoch."""
    require_write(db, caller, service.get_agent(db, agent).school)
    service.delete_agent(db, agent)


@router.get("/schools/{school}/devices", response_model=answers.Devices)
def list_devices(school: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """The devices of a school and the agents that watch them."""
    require_read(db, caller, school)
    return {"devices": [service.row_dict(d) for d in service.list_devices(db, school)]}


@router.get("/schools/{school}/devices/{device}", response_model=answers.DeviceOut)
def get_device(school: IdPath, device: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """One device."""
    require_read(db, caller, school)
    return service.row_dict(service.get_device(db, school, device))


@router.delete("/schools/{school}/devices/{device}", status_code=NO_CONTENT)
def delete_device(school: IdPath, device: IdPath, db: Db, caller: Caller) -> None:
    """Remove a device from the inventory; what it recorded stays in the store."""
    require_write(db, caller, school)
    service.delete_device(db, school, device)


@router.get("/schools/{school}/rooms", response_model=answers.Rooms)
def list_rooms(school: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """The rooms of a school."""
    require_read(db, caller, school)
    return {"rooms": [service.row_dict(r) for r in service.list_rooms(db, school)]}


@router.put("/schools/{school}/rooms/{room}", response_model=answers.RoomPut)
def put_room(
    school: IdPath, room: IdPath, body: RoomIn, db: Db, response: Response, caller: Caller
) -> dict[str, object]:
    """Create or replace a room."""
    require_write(db, caller, school)
    created = service.put_room(db, school, room, body.model_dump())
    return answer(created, response, {"school": school, "room": room, **body.model_dump()})


@router.delete("/schools/{school}/rooms/{room}", status_code=NO_CONTENT)
def delete_room(school: IdPath, room: IdPath, db: Db, caller: Caller) -> None:
    """Remove a room that holds no equipment and no device."""
    require_write(db, caller, school)
    service.delete_room(db, school, room)


def equipment_out(row: EquipmentItem) -> dict[str, Any]:
    """A ledger line as the API shows it (values in 元)."""
    out = service.row_dict(row)
    out["unit_value"] = fen_to_yuan(out.pop("unit_value_fen"))
    return out


@router.get("/schools/{school}/equipment", response_model=answers.Equipment)
def list_equipment(school: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """A school's equipment ledger (台账)."""
    require_read(db, caller, school)
    return {"items": [equipment_out(r) for r in service.list_equipment(db, school)]}


@router.get("/schools/{school}/equipment/{item}", response_model=answers.EquipmentOut)
def get_equipment_item(school: IdPath, item: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """One line of the equipment ledger."""
    require_read(db, caller, school)
    return equipment_out(service.get_equipment_item(db, school, item))


@router.put("/schools/{school}/equipment/{item}", response_model=answers.EquipmentOut)
def put_equipment_item(
    school: IdPath, item: IdPath, body: EquipmentItemIn, db: Db, response: Response, caller: Caller
) -> dict[str, object]:
    """Create or replace a line of the equipment ledger."""
    require_write(db, caller, school)
    created = service.put_equipment_item(db, school, item, equipment_ledger.stored_fields(body))
    return answer(created, response, equipment_out(service.get_equipment_item(db, school, item)))


@router.delete("/schools/{school}/equipment/{item}", status_code=NO_CONTENT)
def delete_equipment_item(school: IdPath, item: IdPath, db: Db, caller: Caller) -> None:
    """Remove a line of the equipment ledger."""
    require_write(db, caller, school)
    service.delete_equipment_item(db, school, item)


@router.get("/schools/{school}/calendar", response_model=answers.TeachingDays)
def list_calendar(
    school: IdPath,
    db: Db,
    caller: Caller,
    from_: Annotated[date, Query(alias="from")],
    to: Annotated[date, Query(description="inclusive")],
) -> dict[str, object]:
    """The teaching days of a school and their periods."""
    require_read(db, caller, school)
    days = service.list_calendar_days(db, school, from_.isoformat(), to.isoformat())
    return {"days": [{"date": d.day, "periods": d.periods} for d in days]}


@router.get("/schools/{school}/equipment.xlsx", response_class=Response, responses=XLSX_RESPONSE)
def export_equipment(school: IdPath, db: Db, caller: Caller) -> Response:
    """The equipment ledger as an Excel file (the same layout the import reads)."""
    require_read(db, caller, school)
    return xlsx(equipment_ledger.export_ledger(db, school), f"{school}-equipment.xlsx")


@router.get("/templates/equipment.xlsx", response_class=Response, responses=XLSX_RESPONSE)
def equipment_template(_: Caller) -> Response:
    """An empty equipment ledger with a sheet explaining each column."""
    return xlsx(equipment_ledger.template(), "equipment-template.xlsx")


@router.post("/schools/{school}/equipment/import", response_model=answers.LedgerImport)
async def import_equipment(
    school: IdPath,
    file: UploadFile,
    db: Db,
    caller: Caller,
    mode: Annotated[Literal["upsert", "replace"], Query(description="replace: also delete lines not in the file")] = (
        "upsert"
    ),
) -> dict[str, object]:
    """Import an equipment ledger: every row is checked; with any problem nothing is written (422 lists them)."""
    data = await file.read()

    def run() -> equipment_ledger.ImportResult:
        require_write(db, caller, school)
        return equipment_ledger.import_ledger(db, school, data, mode)

    result = await asyncio.to_thread(run)
    return {"school": school, "created": result.created, "updated": result.updated, "deleted": result.deleted}
