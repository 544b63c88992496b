"""Alert rules as data: a YAML file of rules (`config/alerts/`), each kept in the store by code and version."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.config_files import load_yaml_model
from campuspulse.store.alert_schema import AlertRule

Kind = Literal[
    "agent_offline",
    "device_silent",
    "agent_disk",
    "seq_lost",
    "dead_letters",
    "clock_skew",
    "equipment_idle",
    "below_compliance",
    "collector_lag",
]
Severity = Literal["info", "warning", "critical"]


class RuleIn(BaseModel):
    """One alert rule: what it watches (`kind`), its thresholds, and how its alerts behave."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: Kind
    name: str = Field("", max_length=200, description="what the rule means, in words")
    severity: Severity = "warning"
    enabled: bool = True
    after_s: float | None = Field(
        None, gt=0, le=86_400 * 30, description="how long a condition must last (silence, unknown, queue age)"
    )
    threshold: int | None = Field(None, ge=1, le=1_000_000, description="how many (dead letters, skewed records)")
    window_s: float | None = Field(None, gt=0, le=86_400 * 31, description="counted over this window")
    teaching_days: int | None = Field(None, ge=1, le=200, description="equipment idle this many teaching days")
    every_s: float = Field(5, ge=1, le=86_400, description="how often the rule is evaluated")
    for_s: float = Field(
        0, ge=0, le=86_400, description="a condition must hold this long before its alert opens (stale reports pass)"
    )
    clear_after_s: float = Field(
        60, ge=0, le=86_400, description="clear this long before an alert resolves (a flapping subject stays one)"
    )
    renotify_after_s: float | None = Field(
        3600, ge=60, le=86_400 * 7, description="remind while open and unacknowledged; none: never"
    )


class RuleFile(BaseModel):
    """A YAML file of alert rules: their version and the rules."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=32)
    rules: list[RuleIn] = Field(min_length=1, max_length=200)


def read_rules(path: Path) -> RuleFile:
    """A rule file; ConfigError naming the file, line and what was expected."""
    return load_yaml_model(path, RuleFile, "version, rules")


def put_rule(s: Session, version: str, rule: RuleIn) -> bool:
    """Keep a rule version (audited); True if it is new, False if that version existed and is replaced."""
    row = s.get(AlertRule, (rule.code, version))
    definition = rule.model_dump(mode="json")
    if row is None:
        s.add(AlertRule(code=rule.code, version=version, created_at=datetime.now(UTC), definition=definition))
        s.flush()
        return True
    row.definition = definition
    s.flush()
    return False


def current_rules(s: Session) -> list[tuple[str, RuleIn]]:
    """The newest version of every rule, enabled or not: (version, rule)."""
    newest: dict[str, AlertRule] = {}
    for row in s.scalars(select(AlertRule).order_by(AlertRule.created_at, AlertRule.version)):
        newest[row.code] = row
    return [(r.version, RuleIn.model_validate(r.definition)) for r in sorted(newest.values(), key=lambda r: r.code)]
