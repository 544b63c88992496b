"""SQLAlchemy tables of the store. Migrations in `migrations/` create the same shape."""

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Index, Integer, String, Text, TypeDecorator, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime on every backend (SQLite keeps none: its values are read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        """Store aware values in UTC."""
        return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        """Read naive values as the UTC they were stored in."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    """Declarative base of every store table."""


class School(Base):
    """A school and what its figures depend on."""

    __tablename__ = "schools"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    tz: Mapped[str] = mapped_column(String(64))
    classes: Mapped[int] = mapped_column(Integer, default=0)
    parallel_classes: Mapped[int] = mapped_column(Integer, default=0)
    students: Mapped[int] = mapped_column(Integer, default=0)
    max_class_size: Mapped[int] = mapped_column(Integer, default=0)
    classes_by_grade: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)  # {"7": 8, "8": 8, "9": 6}


class Agent(Base):
    """An edge agent, registered to one school, with what it last said about itself."""

    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    school: Mapped[str] = mapped_column(String(64), index=True)
    online: Mapped[bool | None] = mapped_column(default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    session_since: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)  # its connection's start
    version: Mapped[str | None] = mapped_column(String(64), default=None)
    queue_records: Mapped[int | None] = mapped_column(default=None)
    queue_oldest: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    queue_unwritable_since: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    queue_held: Mapped[int | None] = mapped_column(default=None)
    credentials_issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)  # broker password
    credentials_issued_by: Mapped[str | None] = mapped_column(String(64), default=None)


class Device(Base):
    """What an agent watches; `device` is unique within its school."""

    __tablename__ = "devices"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64), index=True)
    room: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    equipment_item: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)  # what people call it; the code is its id


class CalendarDay(Base):
    """A teaching day of a school and its periods, `[["08:00","08:45"], …]` in local time."""

    __tablename__ = "calendar_days"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    periods: Mapped[list[list[str]]] = mapped_column(JSON)


class StateSegment(Base):
    """A maximal run of one state of one device: `[start_ms, end_ms)`, built from records first..last_seq.

    Heartbeats extend a segment; they never add a row. `[approx_start_ms, approx_end_ms)` (empty when equal) is
    the part whose state was inferred around a record that came after the reorder window.
    """

    __tablename__ = "state_segments"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    school: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    last_ts_ms: Mapped[int] = mapped_column(BigInteger)
    agent: Mapped[str] = mapped_column(String(64))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(Integer)
    approx_start_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    approx_end_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        Index("ix_state_segments_device_start", "school", "device", "start_ms", unique=True),
        Index("ix_state_segments_school_end", "school", "end_ms"),
    )


class AgentProgress(Base):
    """Per agent and epoch (the incarnation of its queue): every seq up to `watermark` is settled (folded, or
    declared lost/dropped). The agent's rows are locked together while its records are stored."""

    __tablename__ = "agent_progress"
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    watermark: Mapped[int] = mapped_column(BigInteger, default=-1)
    max_seq: Mapped[int] = mapped_column(BigInteger, default=-1)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    # The agent's status says every seq up to here left its queue; since when that is beyond max_seq.
    sent_through: Mapped[int] = mapped_column(BigInteger, default=-1, server_default="-1")
    tail_since: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class PendingRecord(Base):
    """A record that arrived after a gap in its agent's seq; folded once the gap is settled."""

    __tablename__ = "pending_records"
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    school: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str | None] = mapped_column(String(16), default=None)
    valid_s: Mapped[int | None] = mapped_column(Integer, default=None)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class SeqGap(Base):
    """Settled seqs that were not folded: `lost` (waited for in vain), `dropped` (announced), `rejected`."""

    __tablename__ = "seq_gaps"
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    first_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(16))
    settled_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class DeadLetter(Base):
    """Input that broke the contract, kept with the reason instead of being dropped."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    source: Mapped[str] = mapped_column(String(300))
    agent: Mapped[str | None] = mapped_column(String(64), default=None)
    school: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)


class ClockSkew(Base):
    """A record whose `ts` lay further in the future than the allowed skew when it arrived (still stored)."""

    __tablename__ = "clock_skew"
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    device: Mapped[str] = mapped_column(String(64))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    received_ms: Mapped[int] = mapped_column(BigInteger)
