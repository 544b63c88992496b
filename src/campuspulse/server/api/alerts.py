"""Alerts: the alert centre's list (scoped), one alert with its deliveries, acknowledging, and the rules."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import func, select

from campuspulse.server.access.principals import MANAGES_NOTHING, readable_schools, require_admin, require_read
from campuspulse.server.alerts import lifecycle
from campuspulse.server.alerts.rules import RuleIn, current_rules, put_rule
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.provisioning import answer
from campuspulse.server.deps import Db, RowId
from campuspulse.server.errors import NotFound
from campuspulse.store.alert_schema import Alert, AlertDelivery

router = APIRouter(tags=["alerts"])
State = Literal["open", "acknowledged", "resolved", "unresolved"]


def alert_out(a: Alert) -> dict[str, object]:
    """An alert as the API shows it."""
    return {
        "id": a.id,
        "rule": a.rule,
        "rule_version": a.rule_version,
        "kind": a.kind,
        "severity": a.severity,
        "subject": a.subject,
        "school": a.school,
        "district": a.district,
        "state": a.state,
        "summary": a.summary,
        "details": a.details,
        "opened_at": a.opened_at,
        "holding_at": a.holding_at,
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": a.acknowledged_at,
        "resolved_at": a.resolved_at,
        "notifications": a.notifications,
        "flaps": a.flaps,
    }


@router.get("/alerts", response_model=answers.Alerts)
def list_alerts(
    db: Db,
    caller: Caller,
    state: State = "unresolved",
    school: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, object]:
    """Alerts, newest first, with counts by state and severity: of schools in scope (alerts of no school, such as
    dead letters of unknown origin, for callers who see every school)."""
    wanted = Alert.state != lifecycle.RESOLVED if state == "unresolved" else Alert.state == state
    q = select(Alert).where(wanted)
    within = readable_schools(db, caller)
    if within is not None:
        q = q.where(Alert.school.in_(within))
    if school is not None:
        q = q.where(Alert.school == school)
    counts = {
        f"{st}/{sev}": n
        for st, sev, n in db.execute(
            q.with_only_columns(Alert.state, Alert.severity, func.count()).group_by(Alert.state, Alert.severity)
        )
    }
    rows = db.scalars(q.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)).all()
    return {"alerts": [alert_out(a) for a in rows], "counts": counts}


def _visible(db: Db, caller: Caller, alert_id: int) -> Alert:
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.school is None:
        if readable_schools(db, caller) is not None:
            raise NotFound(f"no alert {alert_id}")
    else:
        require_read(db, caller, alert.school)
    return alert


@router.get("/alerts/{alert_id}", response_model=answers.AlertWithDeliveries)
def get_alert(alert_id: RowId, db: Db, caller: Caller) -> dict[str, object]:
    """One alert and every notification of it: delivered, or still retried with the last error."""
    alert = _visible(db, caller, alert_id)
    rows = db.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id).order_by(AlertDelivery.id))
    deliveries = [
        {
            "channel": d.channel,
            "event": d.event,
            "attempts": d.attempts,
            "delivered_at": d.delivered_at,
            "next_at": None if d.delivered_at else d.next_at,
            "last_error": d.last_error,
        }
        for d in rows
    ]
    return {**alert_out(alert), "deliveries": deliveries}


@router.post("/alerts/{alert_id}/ack", response_model=answers.AlertOut)
def acknowledge(alert_id: RowId, db: Db, caller: Caller) -> dict[str, object]:
    """Acknowledge an alert: someone is on it, reminders stop (managers and admins of its scope; audited)."""
    alert = _visible(db, caller, alert_id)
    if caller.role in MANAGES_NOTHING:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "managers and admins acknowledge alerts; others read them")
    try:
        return alert_out(lifecycle.acknowledge(db, alert.id, caller.name))
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.get("/alert-rules", response_model=answers.AlertRules)
def list_rules(db: Db, _: Caller) -> dict[str, object]:
    """The rules in force (the newest version of each)."""
    return {"rules": [{"version": v, **r.model_dump(mode="json")} for v, r in current_rules(db)]}


@router.put("/alert-rules/{code}/{version}", response_model=answers.AlertRuleOut)
def put_alert_rule(
    code: str, version: str, body: RuleIn, db: Db, response: Response, caller: Caller
) -> dict[str, object]:
    """Keep a version of a rule (admins; audited); the newest version of each rule is the one in force."""
    require_admin(caller, "change alert rules")
    if body.code != code or not 0 < len(version) <= 32:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the body's code must be the path's; version 1–32")
    created = put_rule(db, version, body)
    return answer(created, response, {"version": version, **body.model_dump(mode="json")})
