"""The equipment ledger (台账) as an Excel file: export, template, and an all-or-nothing import."""

import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.inventory import service
from campuspulse.server.inventory.dates import SupportedDate
from campuspulse.server.inventory.excel import Column, RowProblem, SheetRejected, as_date, read_workbook, write_workbook
from campuspulse.server.inventory.money import Yuan, fen_to_yuan, yuan_to_fen
from campuspulse.store.inventory_schema import EquipmentItem, Room
from campuspulse.telemetry.topics import ID_PATTERN

SHEET = "台账"
STATUSES = ("完好", "待修", "报废")
COLUMNS = (
    Column("item", "编号", "the line's id in the school, letters, digits, - and _", width=12),
    Column("catalog_code", "分类代码", "the item's code in the standard's catalog", width=14),
    Column("name", "名称", "what the item is", width=24),
    Column("room", "房间", "optional: the room's id (a room of the school)", width=12),
    Column("quantity", "数量", "units on this line (whole number ≥ 0)", width=8),
    Column("unit", "单位", "台, 套, 件, 个…", width=8),
    Column("unit_value", "单价(元)", "原值 per unit in 元, two decimals", width=12),
    Column("status", "状态", "condition of these units", choices=STATUSES, width=8),
    Column("purchase_date", "购置日期", "optional: YYYY-MM-DD", width=12),
    Column(
        "status_since",
        "状态日期",
        "optional: YYYY-MM-DD, the day this quantity and status took effect (default: the day of the change)",
        width=12,
    ),
)
NOTES = "设备台账 equipment ledger — one line per item and status; only 完好 units count towards compliance."
_ID = re.compile(rf"^{ID_PATTERN}$")


class EquipmentStatus(StrEnum):
    """Condition of the units of a ledger line; only 完好 units count towards compliance."""

    GOOD = "完好"
    NEEDS_REPAIR = "待修"
    SCRAPPED = "报废"


class EquipmentItemIn(BaseModel):
    """`PUT /schools/{school}/equipment/{item}`: one line of the equipment ledger (台账)."""

    model_config = ConfigDict(extra="forbid")
    catalog_code: str = Field(min_length=1, max_length=64, description="the item's code in the standard's catalog")
    name: str = Field(min_length=1, max_length=200)
    room: str | None = Field(None, pattern=rf"^{ID_PATTERN}$")
    quantity: int = Field(ge=0, le=1_000_000)

    @field_validator("quantity", mode="before")
    @classmethod
    def _not_a_truth_value(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("a number of units, not TRUE/FALSE")
        return value

    unit: str = Field(min_length=1, max_length=16, description="台, 套, 件…")
    unit_value: Yuan = Field(description="原值 per unit, in 元")
    status: EquipmentStatus = EquipmentStatus.GOOD
    purchase_date: SupportedDate | None = None
    status_since: SupportedDate | None = Field(
        None, description="the day this quantity and status took effect (default: the day of the change)"
    )


def stored_fields(body: EquipmentItemIn) -> dict[str, Any]:
    """A ledger line as the store keeps it (values in 分; no `status_since` when none was given, so that an
    unchanged line stays unchanged)."""
    fields = body.model_dump()
    fields["unit_value_fen"] = yuan_to_fen(fields.pop("unit_value"))
    fields["status"] = body.status.value
    if fields["status_since"] is None:
        del fields["status_since"]
    return fields


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed."""

    created: int
    updated: int
    deleted: int


def export_ledger(s: Session, school: str) -> bytes:
    """The school's ledger as .xlsx."""
    rows = [
        {**service.row_dict(item), "unit_value": float(fen_to_yuan(item.unit_value_fen))}
        for item in service.list_equipment(s, school)
    ]
    return write_workbook(SHEET, COLUMNS, rows, NOTES)


def template() -> bytes:
    """An empty ledger with the column notes, for download."""
    return write_workbook(SHEET, COLUMNS, [], NOTES)


def _money(value: Any) -> Any:
    if isinstance(value, float | int | str):
        try:
            return Decimal(str(value)).quantize(Decimal("0.01"))
        except InvalidOperation:
            return value
    return value


def _validate(row: int, record: dict[str, Any], rooms: set[str]) -> tuple[str, dict[str, Any] | list[RowProblem]]:
    item = str(record.pop("item", "") or "")
    problems = []
    if not _ID.match(item):
        problems.append(RowProblem(row, "item", f"an id of letters, digits, - and _ (got {item!r})"))
    record["unit_value"] = _money(record.get("unit_value"))
    record["purchase_date"] = as_date(record.get("purchase_date"))
    record["status_since"] = as_date(record.get("status_since"))
    for key in ("catalog_code", "unit"):
        if isinstance(record.get(key), int | float):
            record[key] = str(record[key])
    try:
        body = EquipmentItemIn.model_validate({k: v for k, v in record.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            column = str(err["loc"][0]) if err["loc"] else ""
            value = err.get("input")
            got = (
                ""
                if isinstance(value, dict)
                else f" (got {value})"
                if isinstance(value, Decimal)
                else f" (got {value!r})"
            )
            problems.append(RowProblem(row, column, err["msg"].removeprefix("Value error, ") + got))
        return item, problems
    if body.room is not None and body.room not in rooms:
        problems.append(RowProblem(row, "room", f"{body.room!r} is not a room of this school"))
    if problems:
        return item, problems
    return item, stored_fields(body)


CHUNK_LINES = 500  # lines written per transaction: other writers wait for one chunk at most, never a whole import


def import_ledger(
    s: Session, school: str, data: bytes, mode: Literal["upsert", "replace"] = "upsert", chunk: int = CHUNK_LINES
) -> ImportResult:
    """Validate every row, then write all of them or, if any row is wrong, none (SheetRejected lists why).

    `replace` also deletes the school's lines that the file does not have. The lines are written in transactions
    of `chunk` lines each (every change audited as usual) with a pause between them, so that a school's
    100,000-line ledger never holds up ingest or other users for longer than one chunk; an import cut short by a
    crash has written whole chunks, and running it again completes it.
    """
    service.require_school(s, school)
    rooms = set(s.scalars(select(Room.room).where(Room.school == school)))
    problems: list[RowProblem] = []
    lines: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    for row, record in read_workbook(data, SHEET, COLUMNS):
        item, checked = _validate(row, record, rooms)
        if isinstance(checked, list):
            problems.extend(checked)
        elif item in lines:
            problems.append(RowProblem(row, "item", f"{item!r} is already on row {first_row[item]}"))
        else:
            lines[item], first_row[item] = checked, row
    if problems:
        raise SheetRejected(problems)
    existing = set(s.scalars(select(EquipmentItem.item).where(EquipmentItem.school == school)))
    items = list(lines.items())
    gone = sorted(existing - lines.keys()) if mode == "replace" else []
    chunks: list[tuple[dict[str, dict[str, Any]], list[str]]] = [
        (dict(items[i : i + chunk]), []) for i in range(0, len(items), chunk)
    ]
    chunks += [({}, gone[i : i + chunk]) for i in range(0, len(gone), chunk)]
    for n, (write, delete) in enumerate(chunks):
        started = time.monotonic()
        _write_chunk(s, school, write, delete, existing)
        if n + 1 < len(chunks):  # as long a pause as the chunk took: writers waiting for the lock get their turn
            time.sleep(time.monotonic() - started)
    created = sum(item not in existing for item in lines)
    return ImportResult(created, len(lines) - created, len(gone))


def _write_chunk(
    s: Session, school: str, lines: dict[str, dict[str, Any]], gone: list[str], existing: set[str]
) -> None:
    """Write and delete lines in a transaction of their own, as the actor of `s` (`existing`: the school's lines
    before the import, the only ones worth reading back)."""
    with Session(s.get_bind()) as w, w.begin():
        w.info["actor"] = s.info.get("actor")
        keys = [item for item in [*lines, *gone] if item in existing]
        query = select(EquipmentItem).where(EquipmentItem.school == school, EquipmentItem.item.in_(keys))
        rows = {r.item: r for r in w.scalars(query)} if keys else {}
        for item, fields in lines.items():
            row = rows.get(item)
            if row is None:
                w.add(EquipmentItem(school=school, item=item, **fields))
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
        for item in gone:
            if (row := rows.get(item)) is not None:
                w.delete(row)
