"""The commission report of a school, district or city for a period: utilization, configuration compliance
against every standard that applies, experiment offering for the term, with the rules and formulas used."""

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Scope
from campuspulse.server.errors import NotFound
from campuspulse.server.inventory.standards import get_standard, list_standards
from campuspulse.server.metrics.compliance_service import compliance
from campuspulse.server.metrics.offering_service import offering_rate
from campuspulse.server.metrics.rules import COMPLIANCE_RULES, OFFERING_RULES, UTILIZATION_RULES
from campuspulse.server.metrics.service import GroupBy, schools_in_scope, time_bucket, utilization
from campuspulse.store.inventory_schema import Region, Room
from campuspulse.store.schema import School

FORMULAS = {
    "utilization": "utilization = in_use_s / available_s; utilization_known = in_use_s / known_s; "
    "coverage = known_s / available_s; seconds are summed over devices before dividing (domain.md); "
    "approximate_s: the part of known_s whose state was inferred around records that came after the reorder window",
    "compliance": "R_item = #{基本 items with have ≥ required} / #基本 (items_met / items); R_qty = Σ min(have, req) / "
    "Σ req (units_counted / units_required); R_val = Σ min(have, req)·price / Σ req·price (value_counted / "
    "value_required, 元); have counts 完好 units; a 0 denominator, or a 基本 item without reference price for R_val, "
    "gives no rate (the reason is given); 达标 when R_item ≥ threshold; equipment value counts 完好 and 待修 units, "
    "报废 units are written off (domain.md)",
    "offering-rate": "rate = Σ_class |done ∩ required| / Σ_class |required| per type 分组/演示 (domain.md)",
}
RULES = {"utilization": UTILIZATION_RULES, "compliance": COMPLIANCE_RULES, "offering-rate": OFFERING_RULES}


@dataclass(slots=True)
class CommissionReport:
    """Everything a commission report shows, as the API computes it."""

    scope: Scope
    ident: str
    name: str
    first: str
    end: str
    term: str
    generated: str
    total: dict[str, Any]
    utilization_rows: list[dict[str, Any]]
    standards: list[dict[str, Any]]  # per standard: the compliance answer (standard, schools, summary, gaps)
    offering: dict[str, Any]
    names: dict[str, str]  # the display name of each row's key (school, or school/room) and school
    audit_head: tuple[int, str] | None = None  # the audit chain's (seq, hash) when the report was issued

    @property
    def title(self) -> str:
        """What the report covers, in words."""
        return f"{self.name or self.ident or 'city'} {self.first} – {self.end}"


def scope_name(s: Session, scope: Scope, ident: str) -> str:
    """The display name of a school or region (the id when it has none)."""
    if scope is Scope.SCHOOL:
        row = s.get(School, ident)
        return row.name if row else ident
    region = s.get(Region, ident) if ident else None
    return region.name if region else ident


def build(s: Session, scope: Scope, ident: str, first: str, end: str) -> CommissionReport:
    """The report of `scope`/`ident` over [first, end) (dates), the term being the one `end` falls in."""
    if scope not in (Scope.SCHOOL, Scope.DISTRICT, Scope.CITY):
        raise NotFound(f"reports are made for a school, district or city, not a {scope.value}")
    schools = schools_in_scope(s, scope, ident)
    stages = {sc.stage for sc in schools}
    term = time_bucket(GroupBy.TERM)(_day_before(end))  # type: ignore[misc]
    by = GroupBy.ROOM if scope is Scope.SCHOOL else GroupBy.SCHOOL
    try:
        total, rows = utilization(s, scope, ident, first, end), utilization(s, scope, ident, first, end, by)
    except NotFound:  # no devices yet: compliance and offering still stand
        total, rows = [], []
    standards = []
    as_of = date.fromisoformat(_day_before(end))  # the period's last day
    for code in sorted({std.code for std in list_standards(s)}):
        std, _ = get_standard(s, code, as_of=as_of)
        if std.stage in stages:
            standards.append(compliance(s, scope, ident, code, std.version, as_of))
    return CommissionReport(
        scope,
        ident,
        scope_name(s, scope, ident),
        first,
        end,
        term,
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        total[0] if total else {},
        rows,
        standards,
        offering_rate(s, scope, ident, term),
        _names(s, [ident] if scope is Scope.SCHOOL else [], {sc.code: sc.name for sc in schools}),
    )


def _names(s: Session, codes: list[str], schools: dict[str, str]) -> dict[str, str]:
    rooms = s.execute(select(Room.school, Room.room, Room.name).where(Room.school.in_(codes))).all() if codes else []
    regions = {f"region:{code}": name for code, name in s.execute(select(Region.code, Region.name))}
    return {**regions, **schools, **{f"{school}/{room}": name for school, room, name in rooms}}


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def file_name(scope: str, ident: str, first: object) -> str:
    """The commission workbook's file name: `campuspulse-commission-city-2026-11-01.xlsx`, or with the region or
    school code after the scope."""
    return f"campuspulse-commission-{scope}{f'-{ident}' if ident else ''}-{first}.xlsx"


def district_codes(s: Session) -> list[str]:
    """Every district that has schools."""
    return list(s.scalars(select(School.district).distinct().order_by(School.district)))
