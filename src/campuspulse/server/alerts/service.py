"""The alert service of the server: evaluates every enabled rule at its pace, keeps the alerts' lifecycle, and
delivers notifications with retries (run it in one replica: `alerts.enabled` on the scheduler's)."""

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campuspulse.server.alerts.channels import ChannelSettings, DeliveryFailed, send
from campuspulse.server.alerts.conditions import FINDERS, Context, offline_agents
from campuspulse.server.alerts.lifecycle import Subscription, apply_findings, withdraw
from campuspulse.server.alerts.rules import current_rules
from campuspulse.store.alert_schema import Alert, AlertDelivery
from campuspulse.store.inventory_schema import Region
from campuspulse.store.schema import School

log = logging.getLogger(__name__)
ACTOR = "alerts"
MAX_BACKOFF_S = 600


class AlertSettings(BaseModel):
    """The `alerts` section: whether this process evaluates rules and delivers, how often, and the channels."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="evaluate rules and deliver here (one replica: the scheduler's)")
    tick_s: float = Field(2, gt=0, le=60, description="how often due rules are evaluated and deliveries tried")
    channels: list[ChannelSettings] = Field(default_factory=list)


def regions_of_schools(s: Session) -> dict[str, set[str]]:
    """Each school's district and the regions above it."""
    parent = dict(s.execute(select(Region.code, Region.parent)).all())
    out: dict[str, set[str]] = defaultdict(set)
    for school, district in s.execute(select(School.code, School.district)):
        at: str | None = district
        while at is not None and at not in out[school]:
            out[school].add(at)
            at = parent.get(at)
    return out


@dataclass(slots=True)
class AlertService:
    """Rules evaluated at their pace, alerts kept, notifications delivered; counts of what happened."""

    engine: Engine
    channels: Sequence[ChannelSettings] = ()
    last_run: dict[str, float] = field(default_factory=dict)
    pending: dict[str, dict[str, datetime]] = field(default_factory=lambda: defaultdict(dict))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def subscriptions(self) -> list[Subscription]:
        """Who is told of what."""
        return [Subscription(c.name, c.scope, c.min_severity) for c in self.channels]

    def evaluate(self, now: datetime | None = None, force: bool = False) -> dict[str, int]:
        """Evaluate the rules that are due (all with `force`), each in its own transaction."""
        now = now or datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            s.info["actor"] = ACTOR
            every = current_rules(s)
            rules = [(v, r) for v, r in every if r.enabled]
            offline_rule = next((r for _, r in rules if r.kind == "agent_offline"), None)
            ctx = Context(now, set(offline_agents(s, now, (offline_rule.after_s if offline_rule else None) or 180)))
            regions = regions_of_schools(s)
            withdrawn = withdraw(s, {r.code: v for v, r in every if not r.enabled}, now, self.subscriptions, regions)
        done: dict[str, int] = defaultdict(int)
        if withdrawn:
            done["withdrawn"] = withdrawn
        clock = time.monotonic()
        for version, rule in sorted(rules, key=lambda vr: vr[1].kind != "agent_offline"):
            if not force and clock - self.last_run.get(rule.code, -1e18) < rule.every_s:
                continue
            self.last_run[rule.code] = clock
            try:
                with Session(self.engine) as s, s.begin():
                    s.info["actor"] = ACTOR
                    findings = FINDERS[rule.kind](s, rule, ctx)
                    subs, waiting = self.subscriptions, self.pending[rule.code]
                    for key, n in apply_findings(s, version, rule, findings, now, subs, regions, waiting).items():
                        done[key] += n
            except Exception:  # one rule's failure stops no other
                log.exception("alerts: evaluating rule %s failed", rule.code)
                self.counts["rule_failures"] += 1
        for key, n in done.items():
            self.counts[key] += n
        return dict(done)

    def deliver(self, now: datetime | None = None, limit: int = 100) -> int:
        """Try the notifications that are due; a failure is retried later (5 s, doubling, at most 10 min)."""
        now = now or datetime.now(UTC)
        by_name = {c.name: c for c in self.channels}
        delivered = 0
        with Session(self.engine) as s, s.begin():
            due = s.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.delivered_at.is_(None), AlertDelivery.next_at <= now)
                .order_by(AlertDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for d in due:
                alert = s.get(Alert, d.alert_id)
                channel = by_name.get(d.channel)
                try:
                    if alert is None or channel is None:
                        raise DeliveryFailed(f"channel {d.channel!r} is not configured (any more)")
                    send(channel, alert, d.event)
                except DeliveryFailed as exc:
                    d.attempts += 1
                    d.last_error = str(exc)[:2000]
                    d.next_at = now + timedelta(seconds=min(5 * 2 ** (d.attempts - 1), MAX_BACKOFF_S))
                    self.counts["delivery_failures"] += 1
                    log.warning("alerts: %s (attempt %d, next at %s)", exc, d.attempts, d.next_at.isoformat())
                    continue
                d.attempts += 1
                d.delivered_at = datetime.now(UTC)
                delivered += 1
        self.counts["delivered"] += delivered
        return delivered
