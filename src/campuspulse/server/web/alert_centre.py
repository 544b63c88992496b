"""The dashboard's alert centre: the alerts of the user's scope, newest first, acknowledged from the page; the
header of every page counts the unresolved ones."""

from contextlib import suppress
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import MANAGES_NOTHING, Principal, readable_schools
from campuspulse.server.alerts import lifecycle
from campuspulse.server.deps import Db, RowId
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import render
from campuspulse.server.web.session import form_token_ok, page_principal
from campuspulse.store.alert_schema import Alert

router = APIRouter(prefix="/ui", include_in_schema=False)


def _in_scope(s: Session, user: Principal) -> list[ColumnElement[bool]]:
    within = readable_schools(s, user)
    return [] if within is None else [Alert.school.in_(within)]


def unresolved_counts(engine: Engine, user: Principal) -> dict[str, int]:
    """Unresolved alerts of the user's scope by severity (for the header)."""
    with Session(engine) as s:
        q = select(Alert.severity, func.count()).where(Alert.state != lifecycle.RESOLVED, *_in_scope(s, user))
        return {severity: n for severity, n in s.execute(q.group_by(Alert.severity))}


@router.get("/alerts")
def alert_centre(request: Request, db: Db, state: Literal["unresolved", "resolved"] = "unresolved") -> Response:
    """The alerts of the user's scope."""
    user = page_principal(request, db)
    wanted = Alert.state != lifecycle.RESOLVED if state == "unresolved" else Alert.state == lifecycle.RESOLVED
    q = select(Alert).where(wanted, *_in_scope(db, user)).order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(500)
    done = request.query_params.get("done")
    t = Text(lang_of(request))
    return render(
        request,
        "alerts.html",
        user=user,
        alerts=db.scalars(q).all(),
        state=state,
        may_ack=user.role not in MANAGES_NOTHING,
        done=t("alert_acknowledged") if done == "ack" else None,
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge(request: Request, db: Db, alert_id: RowId, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Acknowledge an alert of one's scope from the page."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    alert = db.get(Alert, alert_id)
    within = readable_schools(db, user)
    readable = None if within is None else set(db.scalars(within))
    visible = alert is not None and (readable is None or alert.school in readable)
    problem = None
    if not form_token_ok(request, csrf):
        problem, code = t("form_expired"), status.HTTP_403_FORBIDDEN
    elif not visible or user.role in MANAGES_NOTHING:
        problem, code = t("alert_not_yours"), status.HTTP_403_FORBIDDEN
    if problem is not None:
        return render(request, "error.html", code, user=user, heading=t("forbidden"), message=problem)
    with suppress(LookupError, ValueError):  # resolved meanwhile: the list shows it
        lifecycle.acknowledge(db, alert_id, user.name)
    return RedirectResponse("/ui/alerts?done=ack", status_code=status.HTTP_303_SEE_OTHER)
