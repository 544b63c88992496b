"""Rollup tables: per device and local day, the additive parts of utilization; which days are rolled up or stale."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.orm import Mapped, mapped_column

from campuspulse.store.schema import Base, UtcDateTime


class _Figures:
    """The additive parts of utilization (`approximate_ms`: the part of `known_ms` whose state was inferred)."""

    available_ms: Mapped[int] = mapped_column(BigInteger)
    in_use_ms: Mapped[int] = mapped_column(BigInteger)
    known_ms: Mapped[int] = mapped_column(BigInteger)
    approximate_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    sessions: Mapped[int] = mapped_column(Integer)
    used_periods: Mapped[int] = mapped_column(Integer)
    available_periods: Mapped[int] = mapped_column(Integer)


class _DayFigures(_Figures):
    """The additive parts of utilization for one local day (primary key: school and day, first)."""

    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)


class _SchoolParts:
    """What a school's row adds to the device rows' sums: continued sessions and the devices used."""

    continued: Mapped[int] = mapped_column(Integer)
    devices: Mapped[int] = mapped_column(Integer)
    used_bits: Mapped[str] = mapped_column(BIT(varying=True).with_variant(Text, "sqlite"))


class DeviceDayRollup(_DayFigures, Base):
    """A device's figures for one local teaching day (period threshold 0.5).

    `continues_from` names the previous teaching day when the day's first session is the same in_use run
    as that day's last one; a sum over days subtracts those whose `continues_from` lies inside the range.
    """

    __tablename__ = "device_day_rollups"
    device: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=1)  # after school, day
    continues_from: Mapped[str | None] = mapped_column(String(10), default=None)

    __table_args__ = (Index("ix_device_day_rollups_day", "day"),)


class RolledDay(Base):
    """A local day of a school whose rollups are complete (as of `computed_at`)."""

    __tablename__ = "rolled_days"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StaleDay(Base):
    """A local day of a school whose segments or calendar changed since it was rolled up."""

    __tablename__ = "stale_days"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    marked: Mapped[int] = mapped_column(BigInteger, default=0)


class SchoolDayRollup(_SchoolParts, _DayFigures, Base):
    """A school's figures for one local teaching day: its device rows summed, for region-wide queries.

    `continued` counts devices whose first session continues the previous teaching day's; `used_bits` has a
    1 for each device used that day, devices in the order of their ids (so days can be OR-ed together).
    """

    __tablename__ = "school_day_rollups"


class RollupCoverage(Base):
    """Every day of a school from `first_day` to `last_day` has been rolled up (stale ones are in `stale_days`)."""

    __tablename__ = "rollup_coverage"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_day: Mapped[str] = mapped_column(String(10))
    last_day: Mapped[str] = mapped_column(String(10))


class SchoolMonthRollup(_SchoolParts, _Figures, Base):
    """A school's school-day rows of one calendar month combined, so that long ranges read a row per month.

    `first_day`/`last_day` are the month's first and last teaching days with a row: a query whose range
    covers them can use the month row whole. `first_continued` is the `continued` of `first_day`, which a
    range starting there does not subtract; `devices` is the month's largest device count.
    """

    __tablename__ = "school_month_rollups"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    first_day: Mapped[str] = mapped_column(String(10))
    last_day: Mapped[str] = mapped_column(String(10))
    first_continued: Mapped[int] = mapped_column(Integer)
