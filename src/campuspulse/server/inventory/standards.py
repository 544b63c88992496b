"""Equipment standards as data: files in `config/standards/` (YAML, items inline or in a CSV beside it)."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.config_files import ConfigError, ConfigProblem, load_yaml_model
from campuspulse.server.errors import NotFound
from campuspulse.server.inventory.csv_text import CsvBroken, csv_rows
from campuspulse.server.inventory.money import Yuan, fen_to_yuan, yuan_to_fen
from campuspulse.server.inventory.quantity_rules import QuantityRule, parse_notation
from campuspulse.store.inventory_schema import Standard, StandardItem

CSV_COLUMNS = ("code", "name", "unit", "category", "rule", "reference_price", "consumable")


class StandardItemIn(BaseModel):
    """A catalog item of a standard."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=16)
    category: Literal["基本", "选配"] = Field(description="基本: required for 达标; 选配: optional")
    rule: QuantityRule
    reference_price: Yuan = Field(Decimal(0), description="元 per unit (at most 10^10)")
    consumable: bool = Field(False, description="consumables (★) are listed but not counted")

    @field_validator("rule", mode="before")
    @classmethod
    def _notation(cls, value: object) -> object:
        return parse_notation(value) if isinstance(value, str) else value


class StandardMeta(BaseModel):
    """What identifies a standard and when it applies."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    province: str = Field(min_length=1, max_length=64)
    stage: str = Field(min_length=1, max_length=32, description="学段: primary, junior, senior")
    subject: str = Field(min_length=1, max_length=64)
    valid_from: date
    valid_to: date | None = None
    threshold: float = Field(1.0, gt=0, le=1, description="R_item at or above which a school is 达标")
    sample: bool = Field(False, description="true for illustrative data that is not an official text")
    source: str = ""


class StandardIn(StandardMeta):
    """`PUT /standards/{code}/{version}`: the standard and all its items."""

    items: list[StandardItemIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> "StandardIn":
        seen: set[str] = set()
        for item in self.items:
            if item.code in seen:
                raise ValueError(f"item code {item.code!r} appears twice")
            seen.add(item.code)
        return self


class StandardFile(BaseModel):
    """A standard's file: `code`, `version`, the metadata, and `items` or `items_csv` (relative path)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    version: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    standard: StandardMeta
    items: list[StandardItemIn] | None = None
    items_csv: str | None = None

    @model_validator(mode="after")
    def _one_item_source(self) -> "StandardFile":
        if (self.items is None) == (self.items_csv is None):
            raise ValueError("give either items or items_csv")
        return self


def _csv_items(path: Path) -> list[StandardItemIn]:
    problems: list[ConfigProblem] = []
    items: list[StandardItemIn] = []
    try:
        header, rows = csv_rows(path.read_text(encoding="utf-8-sig"))
        missing = [c for c in CSV_COLUMNS[:5] if c not in header]
        if missing:
            raise ConfigError([ConfigProblem(str(path), 1, "", f"missing columns {missing}; expected {CSV_COLUMNS}")])
        for line, row in rows:
            data: dict[str, Any] = {k: v for k, v in row.items() if k in CSV_COLUMNS and v not in (None, "")}
            data["consumable"] = str(data.get("consumable", "")).strip().lower() in ("1", "true", "yes", "★")
            try:
                items.append(StandardItemIn.model_validate(data))
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    field = str(err["loc"][0]) if err["loc"] else ""
                    msg = err["msg"].removeprefix("Value error, ")
                    problems.append(ConfigProblem(str(path), line, field, msg))
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem(str(path), None, "", "not UTF-8 text; save the CSV as UTF-8")]) from None
    except CsvBroken as exc:
        problems.append(ConfigProblem(str(path), exc.line, "", f"not readable as CSV ({exc.reason})"))
    if problems:
        raise ConfigError(problems)
    return items


def load_standard_file(path: str | Path) -> tuple[str, str, StandardIn]:
    """Read a standard's file (and its CSV); ConfigError naming file, line and field of every problem."""
    path = Path(path)
    parsed = load_yaml_model(path, StandardFile, "code, version, standard, items")
    items = parsed.items if parsed.items is not None else _csv_items(path.parent / (parsed.items_csv or ""))
    try:
        body = StandardIn(**parsed.standard.model_dump(), items=items)
    except ValidationError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "items", e["msg"]) for e in exc.errors()]) from None
    return parsed.code, parsed.version, body


def unpriced_items(body: StandardIn) -> list[StandardItemIn]:
    """基本 items (consumables aside) without a reference price: with any, R_val is null for every school."""
    return [i for i in body.items if i.category == "基本" and not i.consumable and not i.reference_price]


def put_standard(s: Session, code: str, version: str, body: StandardIn) -> bool:
    """Create or replace a standard version with exactly these items; True if it was created."""
    meta = body.model_dump(exclude={"items"})
    row = s.get(Standard, (code, version))
    created = row is None
    if row is None:
        s.add(Standard(code=code, version=version, **meta))
    else:
        for k, v in meta.items():
            setattr(row, k, v)
    current = {
        i.code: i
        for i in s.scalars(select(StandardItem).where(StandardItem.standard == code, StandardItem.version == version))
    }
    for item in body.items:
        fields = {
            "name": item.name,
            "unit": item.unit,
            "required": item.category == "基本",
            "rule": item.rule.model_dump(exclude_defaults=True),
            "consumable": item.consumable,
            "reference_price_fen": yuan_to_fen(item.reference_price),
        }
        existing = current.pop(item.code, None)
        if existing is None:
            s.add(StandardItem(standard=code, version=version, code=item.code, **fields))
        else:
            for k, v in fields.items():
                setattr(existing, k, v)
    for gone in current.values():
        s.delete(gone)
    s.flush()
    return created


def list_standards(s: Session) -> Sequence[Standard]:
    """Every standard version."""
    return s.scalars(select(Standard).order_by(Standard.code, Standard.version)).all()


def get_standard(
    s: Session, code: str, version: str | None = None, as_of: date | None = None
) -> tuple[Standard, Sequence[StandardItem]]:
    """A standard version and its items: the one named, else the one in force on `as_of` (the newest valid_from
    on or before it; the first version for a day before any), else the newest."""
    q = select(Standard).where(Standard.code == code)
    if version:
        q = q.where(Standard.version == version)
    elif as_of is not None:
        in_force = q.where(Standard.valid_from <= as_of).order_by(Standard.valid_from.desc())
        q = in_force if s.scalars(in_force.limit(1)).first() else q.order_by(Standard.valid_from)
    else:
        q = q.order_by(Standard.valid_from.desc())
    row = s.scalars(q.limit(1)).first()
    if row is None:
        raise NotFound(f"no standard {code!r}" + (f" version {version!r}" if version else ""))
    of_row = (StandardItem.standard == row.code) & (StandardItem.version == row.version)
    items = s.scalars(select(StandardItem).where(of_row).order_by(StandardItem.code)).all()
    return row, items


def item_out(item: StandardItem) -> dict[str, object]:
    """A standard item as the API shows it."""
    return {
        "code": item.code,
        "name": item.name,
        "unit": item.unit,
        "category": "基本" if item.required else "选配",
        "rule": item.rule,
        "reference_price": fen_to_yuan(item.reference_price_fen),
        "consumable": item.consumable,
    }
