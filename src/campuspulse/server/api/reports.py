"""Figures as files: `GET /reports/{kind}.csv|xlsx` with the query parameters of the JSON endpoint, and the
commission report of every indicator, on demand or issued and kept with its hash.

The XLSX has a sheet per table and an 说明 sheet naming the scope, period, standard or term, the rules and
the formulas; the CSV holds the main table.
"""

import time
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from campuspulse.server.access.principals import (
    MANAGES_NOTHING,
    Forbidden,
    Scope,
    readable_schools,
    require_scope_read,
)
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.deps import XLSX, XLSX_RESPONSE, Db, RowId, Today
from campuspulse.server.inventory.dates import SupportedDate
from campuspulse.server.inventory.excel import csv_bytes, write_tables
from campuspulse.server.metrics.compliance_service import compliance
from campuspulse.server.metrics.offering_service import offering_rate
from campuspulse.server.metrics.service import GroupBy, utilization
from campuspulse.server.reports import commission, issuing
from campuspulse.server.reports.commission import FORMULAS, RULES, build
from campuspulse.server.reports.commission_xlsx import workbook
from campuspulse.store.report_schema import IssuedReport
from campuspulse.telemetry import ContractError

router = APIRouter(tags=["reports"])


class Fmt(StrEnum):
    """File formats."""

    CSV = "csv"
    XLSX = "xlsx"


def _file(
    kind: str,
    fmt: Fmt,
    main: list[dict[str, Any]],
    sheets: dict[str, list[dict[str, Any]]],
    about: list[tuple[str, Any]],
) -> Response:
    name = f"campuspulse-{kind}.{fmt.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt is Fmt.CSV:
        return Response(csv_bytes(main), media_type="text/csv; charset=utf-8", headers=headers)
    generated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    about = [("report", kind), *about, ("rules", RULES[kind]), ("formula", FORMULAS[kind]), ("generated", generated)]
    return Response(write_tables(sheets, [(k, str(v)) for k, v in about]), media_type=XLSX, headers=headers)


FILES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}, XLSX: {}}}}


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
    about = [
        ("scope", scope.value),
        ("id", id),
        ("from", from_),
        ("to", to),
        ("group_by", group_by or ""),
        ("period_threshold", period_threshold),
    ]
    return _file("utilization", fmt, rows, {"utilization": rows}, about)


@router.get("/reports/compliance.{fmt}", response_class=Response, responses=FILES)
def compliance_report(
    fmt: Fmt,
    db: Db,
    caller: Caller,
    scope: Scope,
    standard: str,
    today: Today,
    id: str = "",
    version: str | None = None,
    as_of: SupportedDate | None = None,
) -> Response:
    """Compliance per school (and the gap list of a school) on a day (default today) as CSV or XLSX."""
    require_scope_read(db, caller, scope, id)
    got = compliance(db, scope, id, standard, version, as_of, today)
    std = got["standard"]
    sheets = {
        "schools": got["schools"],
        **({"gaps": got["gaps"]} if "gaps" in got else {}),
        "summary": [got["summary"]],
    }
    about = [
        ("scope", scope.value),
        ("id", id),
        ("standard", f"{std['code']} {std['version']} {std['name']}"),
        ("as of", got["as_of"]),
        ("threshold", std["threshold"]),
        ("sample standard", std["sample"]),
    ]
    return _file("compliance", fmt, got["schools"], sheets, about)


@router.get("/reports/offering-rate.{fmt}", response_class=Response, responses=FILES)
def offering_report(
    fmt: Fmt, db: Db, caller: Caller, scope: Scope, term: str, id: str = "", include_optional: bool = False
) -> Response:
    """Experiment offering rates as CSV (by class for a school, by school otherwise) or XLSX (every table)."""
    require_scope_read(db, caller, scope, id)
    got = offering_rate(db, scope, id, term, include_optional)
    tables: dict[str, list[dict[str, Any]]] = {
        k: got[k] for k in ("by_type", "by_subject", "by_grade", "by_school", "by_class") if k in got
    }
    window = got["term"]
    about = [
        ("scope", scope.value),
        ("id", id),
        ("term", term),
        ("from", window["from"]),
        ("to", window["to"]),
        ("include_optional", include_optional),
        ("classes", got["classes"]),
    ]
    return _file("offering-rate", fmt, got.get("by_class", got["by_school"]), tables, about)


class IssueIn(BaseModel):
    """`POST /reports/issued`: a commission report to issue."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    scope: Scope
    id: str = Field("", max_length=64)
    from_: date = Field(alias="from")
    to: date = Field(description="exclusive")


def _issued_out(r: IssuedReport) -> dict[str, object]:
    return {
        "id": r.id,
        "kind": r.kind,
        "scope": r.scope,
        "scope_id": r.ident,
        "from": r.period_from,
        "to": r.period_to,
        "issued_at": r.issued_at.isoformat(),
        "issued_by": r.issued_by,
        "sha256": r.sha256,
        "size": r.size,
        "audit_head": None if r.audit_seq is None else {"seq": r.audit_seq, "hash": r.audit_hash},
        "href": f"/api/v1/reports/issued/{r.id}",
    }


def _commission_scope(scope: Scope) -> None:
    if scope not in (Scope.SCHOOL, Scope.DISTRICT, Scope.CITY):
        raise ContractError(f"reports are made for a school, district or city, not a {scope.value}")


@router.get("/reports/commission.xlsx", response_class=Response, responses=XLSX_RESPONSE)
def commission_report(
    db: Db,
    caller: Caller,
    scope: Scope,
    from_: Annotated[date, Query(alias="from")],
    to: Annotated[date, Query(description="exclusive")],
    id: str = "",
) -> Response:
    """Every indicator of a school, district or city over [from, to) in one workbook (not kept: see issued)."""
    _commission_scope(scope)
    require_scope_read(db, caller, scope, id)
    _period(from_, to)
    content = workbook(build(db, scope, id, from_.isoformat(), to.isoformat()))
    name = commission.file_name(scope.value, id, from_)
    return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _period(first: date, end: date) -> None:
    if not 0 < (end - first).days <= 400:
        raise ContractError("from must come before to, at most 400 days apart")


@router.post("/reports/issued", status_code=status.HTTP_201_CREATED, response_model=answers.IssuedReportOut)
def issue_report(body: IssueIn, db: Db, caller: Caller) -> dict[str, object]:
    """Issue a commission report: kept in the store with its SHA-256, entered in the audit log (not auditors)."""
    _commission_scope(body.scope)
    if caller.role in MANAGES_NOTHING:
        raise Forbidden(f"{caller.name} is {caller.role.value} and issues no report; a manager or an admin does")
    require_scope_read(db, caller, body.scope, body.id)
    _period(body.from_, body.to)
    return _issued_out(issuing.issue(db, body.scope, body.id, body.from_.isoformat(), body.to.isoformat(), caller.name))


@router.get("/reports/issued", response_model=answers.IssuedReports)
def issued_reports(db: Db, caller: Caller, scope: Scope | None = None, id: str | None = None) -> dict[str, object]:
    """Reports issued for the scopes the caller may read, newest first, with their SHA-256."""
    rows = issuing.listing(db, readable_schools(db, caller), scope, id)
    return {"reports": [_issued_out(r) for r in rows]}


@router.get("/reports/issued/{report_id}", response_class=Response, responses=XLSX_RESPONSE)
def issued_report(report_id: RowId, db: Db, caller: Caller) -> Response:
    """An issued report's file as issued; `X-Content-SHA256` repeats the hash kept at issue (409 if it was
    altered since)."""
    row = db.get(IssuedReport, report_id)
    if row is not None:
        require_scope_read(db, caller, Scope(row.scope), row.ident)
    row = issuing.fetch(db, report_id)
    name = commission.file_name(row.scope, row.ident, row.period_from)
    return Response(
        row.content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-SHA256": row.sha256},
    )
