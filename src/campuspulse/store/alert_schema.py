"""Alert tables: rules as data (versioned), alerts with their lifecycle, and the notifications to deliver."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campuspulse.store.schema import Base, UtcDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class AlertRule(Base):
    """A version of an alert rule: what to watch (`kind`), its thresholds and who is told (`definition`)."""

    __tablename__ = "alert_rules"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)


class Alert(Base):
    """One alert of one rule about one subject (an agent, a device, a school): open → acknowledged → resolved.
    At most one is unresolved per rule and subject."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    school: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    district: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    holding_at: Mapped[datetime] = mapped_column(
        UtcDateTime
    )  # the last evaluation that found the condition, to the minute
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)  # clear since (damping)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    notifications: Mapped[int] = mapped_column(Integer, default=0)
    flaps: Mapped[int] = mapped_column(Integer, default=0)  # times it cleared and came back while damped

    __table_args__ = (Index("ix_alerts_open", "rule", "subject", "state"),)


class AlertDelivery(Base):
    """A notification of an alert's event (opened, reminder, resolved) to one channel, retried until delivered."""

    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(_ID, index=True)
    channel: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
