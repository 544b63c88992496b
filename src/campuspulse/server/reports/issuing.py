"""Issuing reports: the file kept in the store with its SHA-256 (the issuance also enters the audit chain),
listed per scope, and issued every month for the city and each district by the scheduler."""

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Scope
from campuspulse.server.audit_checkpoints import current_head
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.reports.commission import build, district_codes
from campuspulse.server.reports.commission_xlsx import workbook
from campuspulse.store.db import isolated
from campuspulse.store.report_schema import IssuedReport
from campuspulse.store.schema import School

KIND = "commission"


def issue(s: Session, scope: Scope, ident: str, first: str, end: str, by: str) -> IssuedReport:
    """Make the commission report of `scope`/`ident` over [first, end) and keep it as issued, with the audit
    chain's head at this moment in the workbook and beside it."""
    report = build(s, scope, ident, first, end)
    report.audit_head = seq, head = current_head(s)
    content = workbook(report)
    row = IssuedReport(
        kind=KIND,
        scope=scope.value,
        ident=ident,
        period_from=first,
        period_to=end,
        issued_at=datetime.now(UTC),
        issued_by=by,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        content=content,
        audit_seq=seq,
        audit_hash=head,
    )
    s.add(row)
    s.flush()
    return row


def listing(
    s: Session,
    within: Select[str] | None,
    scope: Scope | None = None,
    ident: str | None = None,
    limit: int = 200,
) -> Sequence[IssuedReport]:
    """Issued reports, newest first, without their content; `within`: only those of these schools' scopes."""
    q = select(IssuedReport).order_by(IssuedReport.issued_at.desc(), IssuedReport.id.desc()).limit(limit)
    if scope is not None:
        q = q.where(IssuedReport.scope == scope.value)
    if ident is not None:
        q = q.where(IssuedReport.ident == ident)
    rows = s.scalars(q).all()
    return rows if within is None else [r for r in rows if _visible(s, r, within)]


def _visible(s: Session, r: IssuedReport, within: Select[str]) -> bool:
    readable = set(s.scalars(within))
    if r.scope == Scope.SCHOOL.value:
        return r.ident in readable
    if r.scope == Scope.DISTRICT.value:
        schools = set(s.scalars(select(School.code).where(School.district == r.ident)))
        return bool(schools) and schools <= readable
    return False  # a city report is for users who see the whole city


def fetch(s: Session, report_id: int) -> IssuedReport:
    """An issued report whose content still matches its hash (Conflict if it does not)."""
    row = s.get(IssuedReport, report_id)
    if row is None:
        raise NotFound(f"no issued report {report_id}")
    if hashlib.sha256(row.content).hexdigest() != row.sha256:
        raise Conflict(f"issued report {report_id} no longer matches its SHA-256 {row.sha256}: it was altered")
    return row


def previous_month(today: date) -> tuple[str, str]:
    """[first day, first day of this month) of the month before `today`'s."""
    end = today.replace(day=1)
    return (end - timedelta(days=1)).replace(day=1).isoformat(), end.isoformat()


def issue_monthly(engine: Engine, today: date) -> int:
    """Issue last month's report for the city and every district, unless already issued; the number issued."""
    first, end = previous_month(today)
    done = 0
    with Session(engine) as s:
        targets = [(Scope.CITY, ""), *((Scope.DISTRICT, d) for d in district_codes(s))]
    for scope, ident in targets:
        done += isolated(
            f"issuing the {scope.value} report {ident}", partial(_issue_once, engine, scope, ident, first, end)
        )
    return done


def _issue_once(engine: Engine, scope: Scope, ident: str, first: str, end: str) -> int:
    with Session(engine) as s, s.begin():
        s.info["actor"] = "scheduler"
        exists = select(IssuedReport.id).where(
            IssuedReport.kind == KIND,
            IssuedReport.scope == scope.value,
            IssuedReport.ident == ident,
            IssuedReport.period_from == first,
            IssuedReport.period_to == end,
        )
        if s.scalar(exists) is not None:
            return 0
        issue(s, scope, ident, first, end, "scheduler")
        return 1
