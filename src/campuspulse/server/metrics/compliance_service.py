"""Compliance queries: the schools of a scope, what a standard requires of each, and what each holds."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from itertools import groupby
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Scope
from campuspulse.server.inventory.money import fen_to_yuan
from campuspulse.server.inventory.quantity_rules import QuantityRule, SchoolFacts, required
from campuspulse.server.inventory.standards import get_standard
from campuspulse.server.metrics.compliance import ItemNeed, SchoolCompliance, per_student_value_fen
from campuspulse.server.metrics.service import schools_in_scope
from campuspulse.store.inventory_schema import EquipmentHistory, EquipmentItem, Room, Standard, StandardItem
from campuspulse.store.schema import School

GOOD = "完好"
SCRAPPED = "报废"
Holdings = dict[str, dict[str, int]]  # school → catalog code → working units


def _grouped(s: Session, q: Any) -> Holdings:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for school, key, n in s.execute(q):
        out[school][key] = int(n or 0)
    return out


def _rate(x: Any) -> float | None:
    return None if x is None else round(float(x), 6)


def _standard_out(std: Standard) -> dict[str, object]:
    return {
        "code": std.code,
        "version": std.version,
        "name": std.name,
        "stage": std.stage,
        "subject": std.subject,
        "threshold": std.threshold,
        "sample": std.sample,
    }


def _gap_out(i: ItemNeed) -> dict[str, object]:
    return {
        "code": i.code,
        "name": i.name,
        "unit": i.unit,
        "required": i.required,
        "have": i.have,
        "missing": i.missing,
        "reference_price": fen_to_yuan(i.price_fen),
        "missing_value": fen_to_yuan(i.missing * i.price_fen),
    }


def school_result(
    school: School, items: Sequence[StandardItem], rooms: dict[str, int], have: dict[str, int]
) -> SchoolCompliance:
    """A school's compliance against a standard's 基本 items (consumables excluded)."""
    facts = SchoolFacts(school.classes, school.parallel_classes, school.students, school.max_class_size, rooms)
    result = SchoolCompliance()
    for item in items:
        if item.required and not item.consumable:
            need = required(QuantityRule.model_validate(item.rule), facts)
            result.items.append(
                ItemNeed(item.code, item.name, item.unit, need, have.get(item.code, 0), item.reference_price_fen)
            )
    return result


def _current(s: Session, codes: list[str], catalog: list[str], as_of: date) -> tuple[Holdings, dict[str, int]]:
    bought = or_(EquipmentItem.purchase_date.is_(None), EquipmentItem.purchase_date <= as_of)
    have = _grouped(
        s,
        select(EquipmentItem.school, EquipmentItem.catalog_code, func.sum(EquipmentItem.quantity))
        .where(
            EquipmentItem.school.in_(codes),
            EquipmentItem.status == GOOD,
            EquipmentItem.catalog_code.in_(catalog),
            bought,
        )
        .group_by(EquipmentItem.school, EquipmentItem.catalog_code),
    )
    value = s.execute(
        select(EquipmentItem.school, func.sum(EquipmentItem.quantity * EquipmentItem.unit_value_fen))
        .where(EquipmentItem.school.in_(codes), EquipmentItem.status != SCRAPPED, bought)
        .group_by(EquipmentItem.school)
    )
    return have, {school: int(v or 0) for school, v in value}


def _past(s: Session, codes: list[str], catalog: list[str], as_of: date) -> tuple[Holdings, dict[str, int]]:
    """What each school held on `as_of`, from the ledger's history: each line as it stood on that day (as first
    entered, if it was entered later), unless it was removed by then or bought after."""
    have: Holdings = defaultdict(dict)
    value: dict[str, int] = defaultdict(int)
    wanted = set(catalog)
    q = (
        select(EquipmentHistory)
        .where(EquipmentHistory.school.in_(codes))
        .order_by(EquipmentHistory.school, EquipmentHistory.item, EquipmentHistory.since, EquipmentHistory.id)
    )
    for (_school, _item), entries in groupby(s.scalars(q), key=lambda e: (e.school, e.item)):
        history = list(entries)
        stood = [e for e in history if e.since <= as_of]
        line = stood[-1] if stood else history[0]
        if line.removed or (line.purchase_date is not None and line.purchase_date > as_of):
            continue
        if line.status == GOOD and line.catalog_code in wanted:
            held = have[line.school]
            held[line.catalog_code] = held.get(line.catalog_code, 0) + line.quantity
        if line.status != SCRAPPED:
            value[line.school] += line.quantity * line.unit_value_fen
    return have, value


def compliance(
    s: Session,
    scope: Scope,
    ident: str,
    standard: str,
    version: str | None = None,
    as_of: date | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Compliance of every school in scope against a standard on `as_of` (default `today`): the version in force
    that day, equipment bought by then in the status it had then; the gap list for one school; the share 达标."""
    today = today or date.today()
    as_of = as_of or today
    std, items = get_standard(s, standard, version, as_of)
    schools = schools_in_scope(s, scope, ident)
    codes = [s.code for s in schools]
    rooms = _grouped(
        s, select(Room.school, Room.type, func.count()).where(Room.school.in_(codes)).group_by(Room.school, Room.type)
    )
    catalog = [i.code for i in items]
    have, value = (_current if as_of >= today else _past)(s, codes, catalog, as_of)
    rows, gaps = [], []
    counted = compliant = 0
    for school in schools:
        result = school_result(school, items, rooms.get(school.code, {}), have.get(school.code, {}))
        ok = result.compliant(std.threshold)
        applies = school.stage == std.stage
        counted, compliant = counted + (applies and ok is not None), compliant + (applies and ok is True)
        total_value = int(value.get(school.code) or 0)
        per_student = per_student_value_fen(total_value, school.students)
        item_rate, quantity_rate, value_rate = result.item_rate, result.quantity_rate, result.value_rate
        rows.append(
            {
                "school": school.code,
                "name": school.name,
                "district": school.district,
                "stage": school.stage,
                "applies": applies,
                "r_item": _rate(item_rate.value),
                "r_qty": _rate(quantity_rate.value),
                "r_val": _rate(value_rate.value),
                "compliant": ok,
                "items_met": item_rate.numerator,
                "items": item_rate.denominator,
                "units_counted": quantity_rate.numerator,
                "units_required": quantity_rate.denominator,
                "value_counted": fen_to_yuan(value_rate.numerator),
                "value_required": fen_to_yuan(value_rate.denominator),
                "r_item_reason": item_rate.reason,
                "r_qty_reason": quantity_rate.reason,
                "r_val_reason": value_rate.reason,
                "equipment_value": fen_to_yuan(total_value),
                "students": school.students,
                "per_student_value": None if per_student is None else fen_to_yuan(per_student),
                "per_student_value_reason": None if per_student is not None else "the school has no students",
            }
        )
        if scope is Scope.SCHOOL:
            gaps = [_gap_out(i) for i in result.gaps()]
    summary = {
        "schools": counted,
        "compliant": compliant,
        "compliance_rate": _rate(compliant / counted) if counted else None,
        "compliance_rate_reason": None if counted else f"no school of 学段 {std.stage} with 基本 items in scope",
    }
    out: dict[str, Any] = {
        "scope": scope.value,
        "id": ident,
        "as_of": as_of.isoformat(),
        "standard": _standard_out(std),
        "schools": rows,
        "summary": summary,
    }
    if scope is Scope.SCHOOL:
        out["gaps"] = gaps
    return out
