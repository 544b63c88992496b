"""Figures: `GET /utilization`, `GET /compliance` and `GET /experiments/offering-rate`."""

import time
from typing import Annotated, cast

from fastapi import APIRouter, Query

from campuspulse.server.access.principals import Scope, require_scope_read
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.deps import Db, Today
from campuspulse.server.inventory.dates import SupportedDate
from campuspulse.server.metrics.compliance_service import compliance
from campuspulse.server.metrics.offering_service import offering_rate
from campuspulse.server.metrics.rules import COMPLIANCE_RULES, OFFERING_RULES, UTILIZATION_RULES
from campuspulse.server.metrics.service import GroupBy, utilization
from campuspulse.telemetry import format_ts

router = APIRouter(tags=["figures"])


@router.get("/utilization", response_model=answers.UtilizationAnswer)
def get_utilization(
    db: Db,
    caller: Caller,
    scope: Scope,
    id: str = "",
    from_: str = Query(alias="from", description="RFC 3339 time or a date in the school's time zone"),
    to: str = Query(description="RFC 3339 time or a date in the school's time zone (exclusive)"),
    group_by: GroupBy | None = None,
    period_threshold: float = Query(0.5, gt=0, le=1),
) -> dict[str, object]:
    """Pooled utilization, coverage, sessions and used periods of the devices in scope over [from, to)."""
    as_of = int(time.time() * 1000)
    require_scope_read(db, caller, scope, id)
    rows = utilization(db, scope, id, from_, to, group_by, period_threshold, as_of)
    available = sum(cast(float, r["available_s"]) for r in rows)
    known = sum(cast(float, r["known_s"]) for r in rows)
    return {
        "scope": scope.value,
        "id": id,
        "from": from_,
        "to": to,
        "as_of": format_ts(as_of),
        "rules": {"version": UTILIZATION_RULES, "period_threshold": period_threshold},
        "period_threshold": period_threshold,
        "coverage": round(known / available, 6) if available else None,
        "rows": rows,
    }


@router.get("/compliance", response_model=answers.ComplianceAnswer, response_model_exclude_unset=True)
def get_compliance(
    db: Db,
    caller: Caller,
    scope: Scope,
    standard: str,
    today: Today,
    id: str = "",
    version: str | None = None,
    as_of: Annotated[
        SupportedDate | None,
        Query(
            description="the day compliance is taken on (default today): equipment bought by then, in its status "
            "then, against the standard's version in force then"
        ),
    ] = None,
) -> dict[str, object]:
    """R_item, R_qty, R_val and 达标 per school against a standard on a day; the gap list for a school; the share
    达标."""
    require_scope_read(db, caller, scope, id)
    got = compliance(db, scope, id, standard, version, as_of, today)
    return {**got, "rules": {"version": COMPLIANCE_RULES}}


@router.get("/experiments/offering-rate", response_model=answers.OfferingAnswer, response_model_exclude_unset=True)
def get_offering_rate(
    db: Db,
    caller: Caller,
    scope: Scope,
    term: Annotated[str, Query(description="<school year>-<1|2>, e.g. 2026-1 for the autumn term of 2026–27")],
    id: str = "",
    include_optional: bool = False,
) -> dict[str, object]:
    """实验开出率 by type (分组/演示), subject, grade, school and class: required experiment–class pairs done."""
    require_scope_read(db, caller, scope, id)
    return {**offering_rate(db, scope, id, term, include_optional), "rules": {"version": OFFERING_RULES}}
