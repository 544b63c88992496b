"""Figures as files: `GET /reports/{kind}.csv|xlsx` with the query parameters of the JSON endpoint.

The XLSX has a sheet per table and an 说明 sheet naming the scope, period, standard or term, the rules and
the formulas; the CSV holds the main table.
"""

import time
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from campuspulse.server.api.auth import Caller
from campuspulse.server.api.deps import Db
from campuspulse.server.api.figures import require_scope_read
from campuspulse.server.api.inventory import XLSX
from campuspulse.server.inventory.excel import csv_bytes, write_tables
from campuspulse.server.metrics.compliance_service import compliance
from campuspulse.server.metrics.offering_service import offering_rate
from campuspulse.server.metrics.rules import COMPLIANCE_RULES, OFFERING_RULES, UTILIZATION_RULES
from campuspulse.server.metrics.service import GroupBy, Scope, utilization

router = APIRouter(tags=["reports"])
RULES = {"utilization": UTILIZATION_RULES, "compliance": COMPLIANCE_RULES, "offering-rate": OFFERING_RULES}
FORMULAS = {
    "utilization": "utilization = in_use_s / available_s; utilization_known = in_use_s / known_s; "
    "coverage = known_s / available_s; seconds are summed over devices before dividing (domain.md)",
    "compliance": "R_item = #{基本 items with have ≥ required} / #基本; R_qty = Σ min(have, req) / Σ req; "
    "R_val = Σ min(have, req)·price / Σ req·price; 达标 when R_item ≥ threshold (domain.md)",
    "offering-rate": "rate = Σ_class |done ∩ required| / Σ_class |required| per type 分组/演示 (domain.md)",
}


class Fmt(StrEnum):
    """File formats."""

    CSV = "csv"
    XLSX = "xlsx"


def _file(kind: str, fmt: Fmt, main: list[dict[str, Any]], sheets: dict[str, list[dict[str, Any]]],
          about: list[tuple[str, Any]]) -> Response:  # fmt: skip
    name = f"campuspulse-{kind}.{fmt.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt is Fmt.CSV:
        return Response(csv_bytes(main), media_type="text/csv; charset=utf-8", headers=headers)
    generated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    about = [("report", kind), *about, ("rules", RULES[kind]), ("formula", FORMULAS[kind]), ("generated", generated)]
    return Response(write_tables(sheets, [(k, str(v)) for k, v in about]), media_type=XLSX, headers=headers)


FILES = {200: {"content": {"text/csv": {}, XLSX: {}}}}


@router.get("/reports/utilization.{fmt}", response_class=Response, responses=FILES)
def utilization_report(
    fmt: Fmt,
    db: Db,
    caller: Caller,
    scope: Scope,
    from_: Annotated[str, Query(alias="from")],
    to: str,
    id: str = "",
    group_by: GroupBy | None = None,
    period_threshold: Annotated[float, Query(gt=0, le=1)] = 0.5,
) -> Response:
    """Utilization rows as CSV or XLSX."""
    require_scope_read(db, caller, scope, id)
    rows = utilization(db, scope, id, from_, to, group_by, period_threshold)
    about = [("scope", scope.value), ("id", id), ("from", from_), ("to", to), ("group_by", group_by or ""),
             ("period_threshold", period_threshold)]  # fmt: skip
    return _file("utilization", fmt, rows, {"utilization": rows}, about)


@router.get("/reports/compliance.{fmt}", response_class=Response, responses=FILES)
def compliance_report(
    fmt: Fmt, db: Db, caller: Caller, scope: Scope, standard: str, id: str = "", version: str | None = None
) -> Response:
    """Compliance per school (and the gap list of a school) as CSV or XLSX."""
    require_scope_read(db, caller, scope, id)
    got = compliance(db, scope, id, standard, version)
    std = got["standard"]
    sheets = {
        "schools": got["schools"],
        **({"gaps": got["gaps"]} if "gaps" in got else {}),
        "summary": [got["summary"]],
    }
    about = [("scope", scope.value), ("id", id), ("standard", f"{std['code']} {std['version']} {std['name']}"),
             ("threshold", std["threshold"]), ("sample standard", std["sample"])]  # fmt: skip
    return _file("compliance", fmt, got["schools"], sheets, about)


@router.get("/reports/offering-rate.{fmt}", response_class=Response, responses=FILES)
def offering_report(
    fmt: Fmt, db: Db, caller: Caller, scope: Scope, term: str, id: str = "", include_optional: bool = False
) -> Response:
    """Experiment offering rates as CSV (by class for a school, by school otherwise) or XLSX (every table)."""
    require_scope_read(db, caller, scope, id)
    got = offering_rate(db, scope, id, term, include_optional)
    tables = {k: got[k] for k in ("by_type", "by_subject", "by_grade", "by_school", "by_class") if k in got}
    window = got["term"]
    about = [("scope", scope.value), ("id", id), ("term", term), ("from", window["from"]), ("to", window["to"]),
             ("include_optional", include_optional), ("classes", got["classes"])]  # fmt: skip
    return _file("offering-rate", fmt, got.get("by_class", got["by_school"]), tables, about)
