"""Inventory tables: the region tree, rooms, the equipment ledger (台账), standards, experiments."""

from datetime import date

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from campuspulse.store.schema import Base


class Region(Base):
    """A node of the region tree: a city, or a district whose `parent` is its city."""

    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent: Mapped[str | None] = mapped_column(String(64), default=None, index=True)


class Room(Base):
    """A room of a school (physics lab, science lab, classroom…)."""

    __tablename__ = "rooms"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    room: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int] = mapped_column(Integer, default=0)


class EquipmentItem(Base):
    """A line of a school's equipment ledger: `quantity` units of one catalog item in one status."""

    __tablename__ = "equipment_items"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    item: Mapped[str] = mapped_column(String(64), primary_key=True)
    catalog_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    room: Mapped[str | None] = mapped_column(String(64), default=None)
    quantity: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(16))
    unit_value_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))
    purchase_date: Mapped[date | None] = mapped_column(Date, default=None)
    status_since: Mapped[date | None] = mapped_column(Date, default=None)  # when the line took its status

    __table_args__ = (Index("ix_equipment_items_catalog", "school", "catalog_code"),)


class EquipmentHistory(Base):
    """A ledger line as it stood from `since` on (kept by the store on every change; `removed`: deleted then), so
    that compliance can be computed as of an earlier date."""

    __tablename__ = "equipment_history"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    school: Mapped[str] = mapped_column(String(64))
    item: Mapped[str] = mapped_column(String(64))
    since: Mapped[date] = mapped_column(Date)
    catalog_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_value_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))
    purchase_date: Mapped[date | None] = mapped_column(Date, default=None)
    removed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_equipment_history_line", "school", "item", "since"),)


class Standard(Base):
    """An equipment standard, versioned; its items are in `standard_items`."""

    __tablename__ = "standards"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, default=None)
    threshold: Mapped[float] = mapped_column(Float, default=1.0)
    sample: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(Text, default="")


class StandardItem(Base):
    """A catalog item of a standard with its quantity rule (`campuspulse.server.inventory.quantity_rules`)."""

    __tablename__ = "standard_items"
    standard: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column()
    rule: Mapped[dict[str, object]] = mapped_column(JSON)
    reference_price_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    consumable: Mapped[bool] = mapped_column(default=False)


class ExperimentItem(Base):
    """An experiment of the catalog for a subject, grade, term and textbook edition."""

    __tablename__ = "experiment_catalog"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(64))
    grade: Mapped[int] = mapped_column(Integer)
    term: Mapped[int] = mapped_column(Integer)
    edition: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(8))
    required: Mapped[bool] = mapped_column()

    __table_args__ = (Index("ix_experiment_catalog_grade", "subject", "grade", "term", "edition"),)


class ExperimentRecord(Base):
    """An experiment done by a class: the evidence behind the offering rate."""

    __tablename__ = "experiment_records"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    school: Mapped[str] = mapped_column(String(64), index=True)
    class_: Mapped[str] = mapped_column("class", String(64))
    grade: Mapped[int] = mapped_column(Integer)
    experiment: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    teacher: Mapped[str] = mapped_column(String(100))
    evidence: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(64), default="", server_default="")  # the user who entered it


class CalendarDef(Base):
    """A school calendar: terms, holidays and make-up days (`campuspulse.server.inventory.calendars.CalendarIn`)."""

    __tablename__ = "calendars"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict[str, object]] = mapped_column(JSON)


class DaySchedule(Base):
    """A day schedule (作息): the periods of each weekday for one 学段."""

    __tablename__ = "day_schedules"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(32))
    weekdays: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON)


class SchoolTimetable(Base):
    """The calendar and day schedule a school follows; compiled into its calendar days."""

    __tablename__ = "school_timetables"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    calendar: Mapped[str] = mapped_column(String(64), index=True)
    schedule: Mapped[str] = mapped_column(String(64), index=True)


class SchoolEdition(Base):
    """The textbook edition a school teaches a subject with; picks its experiments from the catalog."""

    __tablename__ = "school_editions"
    school: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    edition: Mapped[str] = mapped_column(String(64))


class DeviceKind(Base):
    """What a kind of device is called (the code, e.g. `projector`, stays its id)."""

    __tablename__ = "device_kinds"
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100), default=None)
