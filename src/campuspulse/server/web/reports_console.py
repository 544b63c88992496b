"""Issued reports in the dashboard: issue the commission report of a school, district or the city (managers and
admins), list those of one's scope, download each as issued."""

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import (
    Forbidden,
    Principal,
    Role,
    Scope,
    ScopeKind,
    readable_schools,
    require_scope_read,
)
from campuspulse.server.deps import XLSX, Db, RowId
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.reports import commission, issuing
from campuspulse.server.web.console import may_change, refused_page, schools_of
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import local_today, render
from campuspulse.server.web.session import form_token_ok, page_principal
from campuspulse.store.inventory_schema import Region

router = APIRouter(prefix="/ui", include_in_schema=False)


# --- issued reports ----------------------------------------------------------------------------------------------


def _scopes(db: Session, user: Principal) -> list[tuple[str, str, str]]:
    """(scope, id, name) a user may issue or read a report for: the city, regions, schools of their scope."""
    out: list[tuple[str, str, str]] = []
    if user.scope_kind is ScopeKind.ALL:
        out.append((Scope.CITY.value, "", ""))
    districts = sorted({s.district for s in schools_of(db, user)})
    if user.scope_kind is not ScopeKind.SCHOOL:
        names = dict(db.execute(select(Region.code, Region.name).where(Region.code.in_(districts))).all())
        out += [(Scope.DISTRICT.value, d, names.get(d, d)) for d in districts]
    out += [(Scope.SCHOOL.value, s.code, s.name) for s in schools_of(db, user)]
    return out


def _reports_page(
    request: Request, db: Session, user: Principal, code: int = 200, error: str | None = None
) -> Response:
    t = Text(lang_of(request))
    rows = issuing.listing(db, readable_schools(db, user))
    today = local_today(request)
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    done = request.query_params.get("done")
    return render(
        request,
        "issued_reports.html",
        code,
        user=user,
        reports=rows,
        scopes=_scopes(db, user),
        may_issue=may_change(user),
        default_from=last_month_end.replace(day=1).isoformat(),
        default_until=last_month_end.isoformat(),
        today=today.isoformat(),
        error=error,
        done=t("report_issued") if done == "issued" else None,
    )


@router.get("/reports")
def reports(request: Request, db: Db) -> Response:
    """Issued reports of the user's scope, newest first, and a form to issue one."""
    user = page_principal(request, db)
    if user.role is Role.TEACHER:
        return refused_page(request, user, Forbidden(Text(lang_of(request))("teachers_record_only")))
    return _reports_page(request, db, user)


@router.post("/reports")
def issue(
    request: Request,
    db: Db,
    target: Annotated[str, Form(max_length=140)],
    first: Annotated[str, Form(alias="from", max_length=32)],
    until: Annotated[str, Form(max_length=32)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Issue a commission report (managers and admins): kept with its hash, entered in the audit chain."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    if not may_change(user):
        return refused_page(request, user, Forbidden(t("issue_not_yours")))
    if not form_token_ok(request, csrf):
        return _reports_page(request, db, user, 403, t("form_expired"))
    scope_name, _, ident = target.partition(":")
    try:
        scope = Scope(scope_name)
        start, last = date.fromisoformat(first), date.fromisoformat(until)
    except ValueError:
        return _reports_page(request, db, user, 422, t("bad_input"))
    if scope not in (Scope.SCHOOL, Scope.DISTRICT, Scope.CITY) or not 0 <= (last - start).days < 400:
        return _reports_page(request, db, user, 422, t("report_period_refused"))
    try:
        require_scope_read(db, user, scope, ident)
        issuing.issue(db, scope, ident, start.isoformat(), (last + timedelta(days=1)).isoformat(), user.name)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return RedirectResponse("/ui/reports?done=issued", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/reports/issued/{report_id}")
def issued_file(request: Request, db: Db, report_id: RowId) -> Response:
    """An issued report's file as issued (a page saying so if the stored file was altered since)."""
    user = page_principal(request, db)
    try:
        row = issuing.fetch(db, report_id)
        require_scope_read(db, user, Scope(row.scope), row.ident)
    except (Forbidden, NotFound, Conflict) as exc:
        return refused_page(request, user, exc)
    name = commission.file_name(row.scope, row.ident, row.period_from)
    return Response(
        row.content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-SHA256": row.sha256},
    )
