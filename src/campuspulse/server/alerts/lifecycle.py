"""The life of an alert: opened when a rule first finds its subject, kept as one alert while the condition holds
or flaps (it resolves only after `clear_after_s` clear), acknowledged by someone, resolved (or withdrawn with its
rule); reminders while open and unacknowledged. Every event is queued for each channel whose scope covers the
alert's school."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.alerts.conditions import Finding
from campuspulse.server.alerts.rules import RuleIn
from campuspulse.store.alert_schema import Alert, AlertDelivery
from campuspulse.store.schema import School

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
HOLDING_EVERY = timedelta(minutes=1)  # how stale `holding_at` may be


class Subscription:
    """A channel and the alerts it is told of: the scope (all, a region or a school) and the lowest severity."""

    RANK: ClassVar[dict[str, int]] = {"info": 0, "warning": 1, "critical": 2}

    def __init__(self, channel: str, scope: str = "all", min_severity: str = "info") -> None:
        self.channel, self.min_rank = channel, self.RANK[min_severity]
        self.kind, _, self.ident = scope.partition(":")

    def covers(self, alert: Alert, regions_of: dict[str, set[str]]) -> bool:
        """Whether this channel is told of the alert."""
        if self.RANK.get(alert.severity, 1) < self.min_rank:
            return False
        if self.kind == "all":
            return True
        if alert.school is None:
            return False
        if self.kind == "school":
            return alert.school == self.ident
        return self.ident in regions_of.get(alert.school, set())


def _queue(
    s: Session, alert: Alert, event: str, now: datetime, subs: Sequence[Subscription], regions: dict[str, set[str]]
) -> None:
    for sub in subs:
        if sub.covers(alert, regions):
            s.add(AlertDelivery(alert_id=alert.id, channel=sub.channel, event=event, created_at=now, next_at=now))
    if event not in (RESOLVED, WITHDRAWN):
        alert.notified_at, alert.notifications = now, alert.notifications + 1


def apply_findings(
    s: Session,
    version: str,
    rule: RuleIn,
    findings: Sequence[Finding],
    now: datetime,
    subs: Sequence[Subscription],
    regions: dict[str, set[str]],
    pending: dict[str, datetime] | None = None,
) -> dict[str, int]:
    """Bring the rule's alerts up to date with what it found now; how many were opened, resolved, reminded.
    `pending`: when each subject without an alert was first found (kept by the caller between evaluations), so
    that an alert opens only once its condition has held for the rule's `for_s`."""
    counts = {"opened": 0, "resolved": 0, "reminded": 0}
    current = {
        a.subject: a
        for a in s.scalars(select(Alert).where(Alert.rule == rule.code, Alert.state != RESOLVED).with_for_update())
    }
    district = dict(s.execute(select(School.code, School.district)).all())
    waiting = pending if pending is not None else {}
    for gone in set(waiting) - {f.subject for f in findings}:
        del waiting[gone]
    for f in findings:
        alert = current.pop(f.subject, None)
        if alert is None:
            since = waiting.setdefault(f.subject, now)
            if now - since < timedelta(seconds=rule.for_s):
                continue
            waiting.pop(f.subject, None)
            alert = Alert(
                rule=rule.code,
                rule_version=version,
                kind=rule.kind,
                severity=rule.severity,
                subject=f.subject,
                school=f.school,
                district=district.get(f.school or ""),
                state=OPEN,
                summary=f.summary,
                details=f.details,
                opened_at=now,
                holding_at=now,
                notifications=0,
                flaps=0,
            )
            s.add(alert)
            s.flush()
            _queue(s, alert, "opened", now, subs, regions)
            counts["opened"] += 1
            continue
        if alert.cleared_at is not None:  # back before it could resolve: the same alert, one more flap
            alert.cleared_at, alert.flaps = None, alert.flaps + 1
        if now - alert.holding_at >= HOLDING_EVERY:  # not a write per open alert on every evaluation
            alert.holding_at = now
        alert.summary, alert.details = f.summary, _merged(alert.details, f.details)
        last, every = alert.notified_at, rule.renotify_after_s
        if alert.state == OPEN and last is not None and every is not None and now - last >= timedelta(seconds=every):
            _queue(s, alert, "reminder", now, subs, regions)
            counts["reminded"] += 1
    for alert in current.values():
        if alert.cleared_at is None:
            alert.cleared_at = now
        if now - alert.cleared_at >= timedelta(seconds=rule.clear_after_s):
            alert.state, alert.resolved_at = RESOLVED, now
            _queue(s, alert, RESOLVED, now, subs, regions)
            counts["resolved"] += 1
    s.flush()
    return counts


WITHDRAWN = "withdrawn"


def withdraw(
    s: Session,
    disabled: dict[str, str],
    now: datetime,
    subs: Sequence[Subscription],
    regions: dict[str, set[str]],
) -> int:
    """Resolve the alerts of rules now disabled (`disabled`: code → the version that disabled it): nobody watches
    their condition any more, so they would otherwise stay open for ever. Channels are told (`withdrawn`)."""
    if not disabled:
        return 0
    q = select(Alert).where(Alert.rule.in_(disabled), Alert.state != RESOLVED).with_for_update()
    count = 0
    for alert in s.scalars(q):
        alert.state, alert.resolved_at = RESOLVED, now
        alert.details = {**alert.details, "withdrawn_by_rule_version": disabled[alert.rule]}
        _queue(s, alert, WITHDRAWN, now, subs, regions)
        count += 1
    s.flush()
    return count


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {**old, **new}


def acknowledge(s: Session, alert_id: int, by: str) -> Alert:
    """Acknowledge an open alert (reminders stop); LookupError if there is none, ValueError if it is resolved."""
    alert = s.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    if alert.state == RESOLVED:
        raise ValueError(f"alert {alert_id} is resolved already")
    if alert.state == OPEN:
        alert.state, alert.acknowledged_by, alert.acknowledged_at = ACKNOWLEDGED, by, datetime.now(UTC)
        s.flush()
    return alert
