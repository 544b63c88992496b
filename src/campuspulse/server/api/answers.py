"""What the HTTP API answers, as models: `/openapi.json` describes every answer with them, and an answer that
strays from its model is an error of the server's, found by the tests, never sent."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_args, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import inspect as sa_inspect

from campuspulse.server.alerts.rules import RuleIn
from campuspulse.server.inventory.calendars import CalendarIn, ScheduleIn
from campuspulse.server.inventory.experiments import ExperimentItemIn
from campuspulse.store.inventory_schema import DaySchedule, EquipmentItem, Region, Room, Standard
from campuspulse.store.schema import Agent, Device, School


class Answer(BaseModel):
    """An answer of the API: every field named (nothing extra slips through undocumented)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Rate = float | None  # a ratio rounded to 6 decimals; null when its denominator is 0 (the reason is given beside)


class Rules(Answer):
    """The version of the rules a figure was computed with."""

    version: str
    period_threshold: float | None = None


# --- figures -------------------------------------------------------------------------------------------------


class UtilizationRow(Answer):
    """Pooled seconds and ratios of one group (`key`) over the period."""

    key: str
    available_s: float
    in_use_s: float
    known_s: float
    approximate_s: float = Field(description="the part of known_s whose state was inferred around late records")
    utilization: Rate
    utilization_known: Rate
    coverage: Rate
    sessions: int
    used_periods: int
    available_periods: int
    devices: int
    devices_used: int


class UtilizationAnswer(Answer):
    """`GET /utilization`."""

    scope: str
    id: str
    from_: str = Field(alias="from")
    to: str
    as_of: str
    rules: Rules
    period_threshold: float
    coverage: Rate
    rows: list[UtilizationRow]


class StandardRef(Answer):
    """Which standard version a figure is taken against."""

    code: str
    version: str
    name: str
    stage: str
    subject: str
    threshold: float
    sample: bool


class SchoolCompliance(Answer):
    """A school's rates against a standard, each with its parts."""

    school: str
    name: str
    district: str
    stage: str
    applies: bool = Field(description="the standard is of the school's 学段")
    r_item: Rate
    r_qty: Rate
    r_val: Rate
    compliant: bool | None
    items_met: int
    items: int
    units_counted: int
    units_required: int
    value_counted: Decimal = Field(description="元")
    value_required: Decimal = Field(description="元")
    r_item_reason: str | None
    r_qty_reason: str | None
    r_val_reason: str | None
    equipment_value: Decimal = Field(description="元: 完好 and 待修 units at 原值")
    students: int
    per_student_value: Decimal | None
    per_student_value_reason: str | None


class ComplianceGap(Answer):
    """An item short of its requirement at one school."""

    code: str
    name: str
    unit: str
    required: int
    have: int
    missing: int
    reference_price: Decimal
    missing_value: Decimal


class ComplianceSummary(Answer):
    """The share of schools 达标 of the standard's 学段."""

    schools: int
    compliant: int
    compliance_rate: Rate
    compliance_rate_reason: str | None


class ComplianceAnswer(Answer):
    """`GET /compliance`."""

    scope: str
    id: str
    as_of: date
    standard: StandardRef
    schools: list[SchoolCompliance]
    summary: ComplianceSummary
    gaps: list[ComplianceGap] | None = Field(None, description="for a school: what to buy")
    rules: Rules


class TermWindow(Answer):
    """A school term and its dates (both ends counted)."""

    term: str
    catalog_term: int
    from_: date = Field(alias="from")
    to: date


class OfferingRow(Answer):
    """Required experiment–class pairs and those done, of one type and group."""

    type: str
    subject: str | None = None
    grade: int | None = None
    school: str | None = None
    class_: str | None = Field(None, alias="class")
    required: int
    done: int
    rate: Rate


class MissingEdition(Answer):
    """A school that teaches a subject with several textbook editions and names none."""

    school: str
    subject: str
    editions: list[str]


class OfferingAnswer(Answer):
    """`GET /experiments/offering-rate`."""

    scope: str
    id: str
    term: TermWindow
    include_optional: bool
    classes: int
    by_type: list[OfferingRow]
    by_subject: list[OfferingRow]
    by_grade: list[OfferingRow]
    by_school: list[OfferingRow]
    missing_editions: list[MissingEdition]
    by_class: list[OfferingRow] | None = None
    rules: Rules


class IdleDevice(Answer):
    """A device not in use on its school's last teaching days."""

    school: str
    device: str
    room: str | None
    since: str
    teaching_days: int
    last_used: str | None


class IdleAnswer(Answer):
    """`GET /insights/idle`."""

    scope: str
    id: str
    teaching_days: int
    devices: list[IdleDevice]


class RoomsAnswer(Answer):
    """`GET /insights/rooms`."""

    scope: str
    id: str
    from_: str = Field(alias="from")
    to: str
    top: list[UtilizationRow]
    bottom: list[UtilizationRow]


class HeatmapCell(Answer):
    """In-use share of one weekday (1 = Monday) and local hour."""

    weekday: int
    hour: int
    available_s: float
    in_use_s: float
    utilization: Rate


class HeatmapAnswer(Answer):
    """`GET /insights/heatmap`."""

    scope: str
    id: str
    from_: date = Field(alias="from")
    to: date
    cells: list[HeatmapCell]


class TimelinePiece(Answer):
    """A stretch of one state."""

    state: str
    start: str
    end: str
    start_ms: int
    end_ms: int
    approximate: bool


class TimelineAnswer(Answer):
    """`GET /schools/{school}/devices/{device}/timeline`."""

    school: str
    device: str
    tz: str
    from_: str = Field(alias="from")
    to: str
    pieces: list[TimelinePiece]
    seconds: dict[str, float]
    approximate_s: float


class ReadingsAnswer(Answer):
    """`GET /schools/{school}/devices/{device}/readings`: field → [[ts_ms, value], …]."""

    school: str
    device: str
    from_: str = Field(alias="from")
    to: str
    fields: dict[str, list[tuple[int, float]]]


# --- operations ----------------------------------------------------------------------------------------------


class SeqGap(Answer):
    """Seqs declared lost, and why."""

    first_seq: int
    last_seq: int
    reason: str


class EpochProgress(Answer):
    """How far one epoch (queue file) of an agent is settled."""

    epoch: str
    settled_through_seq: int
    max_seq: int
    pending_records: int
    waiting_for: tuple[int, int] | None = Field(description="the seq range records wait behind")
    sent_through_seq: int | None
    unreceived_since: str | None
    gaps: list[SeqGap]


class EpochOfAgent(EpochProgress):
    """An epoch with when it began."""

    started_at: str | None


class AgentHealth(EpochProgress):
    """`GET /agents/{agent}`: the agent's status, its newest epoch's progress at the top level, and every epoch."""

    agent: str
    school: str
    online: bool | None
    last_seen: str | None
    version: str | None
    queue_records: int | None
    queue_oldest: str | None
    queue_unwritable_since: str | None
    queue_held: int | None
    epochs: list[EpochOfAgent]


class DeadLetter(Answer):
    """Input that broke the contract, with the reason and the raw payload (truncated to 64 KiB)."""

    id: int
    received_at: str | None
    source: str
    agent: str | None
    school: str | None
    reason: str
    raw: str


class DeadLetters(Answer):
    """`GET /dead-letters`."""

    dead_letters: list[DeadLetter]


class IngestAnswer(Answer):
    """`POST /ingest/records`."""

    stored: int
    duplicates: int
    pending: int
    dead_letters: int
    reasons: list[str]


# --- access and audit -----------------------------------------------------------------------------------------


class AccessToken(Answer):
    """A bearer access token (a JWT)."""

    access_token: str
    token_type: str
    expires_in: int = Field(description="seconds")


class Me(Answer):
    """`GET /auth/me`."""

    username: str
    role: str
    scope_kind: str
    scope_id: str


class UserOut(Answer):
    """A user."""

    username: str
    role: str
    scope_kind: str
    scope_id: str
    disabled: bool
    has_password: bool


class Users(Answer):
    """`GET /users`."""

    users: list[UserOut]


class ApiTokenOut(Answer):
    """An API token (never its secret, but once on creation)."""

    id: str
    username: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    agent: str | None


class NewApiToken(ApiTokenOut):
    """`POST /auth/api-tokens`: the token with its secret, shown this once."""

    token: str


class ApiTokens(Answer):
    """`GET /auth/api-tokens`."""

    tokens: list[ApiTokenOut]


class AuditEntryOut(Answer):
    """One change: who, when, old → new, and its chain hash."""

    seq: int
    at: str
    actor: str
    action: str
    entity: str
    key: str
    school: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    hash: str


class AuditEntries(Answer):
    """`GET /audit`."""

    entries: list[AuditEntryOut]


class BrokenLink(Answer):
    """The first entry whose link or content does not match."""

    seq: int
    reason: str


class AuditVerification(Answer):
    """`GET /audit/verify`."""

    ok: bool
    entries: int
    head: str | None = None
    first_broken: BrokenLink | None = None
    witnesses: int = Field(description="checkpoints and issued reports the chain was checked against")
    problems: list[str]


# --- inventory ------------------------------------------------------------------------------------------------


def row_model(table: type, name: str, renamed: dict[str, tuple[str, Any]] | None = None) -> type[Answer]:
    """An answer model of a store row as `row_dict` gives it: one field per column, typed as the column is
    (`renamed`: a column answered under another name and type, e.g. 分 as 元)."""
    hints = get_type_hints(table)
    fields: dict[str, Any] = {}
    columns: Any = sa_inspect(table).column_attrs
    for column in columns:
        key = column.key
        kind = get_args(hints[key])[0]
        if renamed and key in renamed:
            key, kind = renamed[key]
        fields[key] = (kind, ...)
    return create_model(name, __base__=Answer, __doc__=f"A {table.__name__} row.", **fields)


RegionOut = row_model(Region, "RegionOut")
SchoolOut = row_model(School, "SchoolOut")
AgentOut = row_model(Agent, "AgentOut")
DeviceOut = row_model(Device, "DeviceOut")
RoomOut = row_model(Room, "RoomOut")
EquipmentOut = row_model(EquipmentItem, "EquipmentOut", {"unit_value_fen": ("unit_value", Decimal)})


def listing(name: str, key: str, row: type[BaseModel], doc: str) -> type[Answer]:
    """An answer that lists rows under one key, e.g. `{"schools": [...]}`."""
    fields: dict[str, Any] = {key: (list[row], ...)}  # type: ignore[valid-type]
    return create_model(name, __base__=Answer, __doc__=doc, **fields)


Regions = listing("Regions", "regions", RegionOut, "`GET /regions`.")
Schools = listing("Schools", "schools", SchoolOut, "`GET /schools`.")
Agents = listing("Agents", "agents", AgentOut, "`GET /agents`.")
Devices = listing("Devices", "devices", DeviceOut, "`GET /schools/{school}/devices`.")
Rooms = listing("Rooms", "rooms", RoomOut, "`GET /schools/{school}/rooms`.")
Equipment = listing("Equipment", "items", EquipmentOut, "`GET /schools/{school}/equipment`.")


class RegionPut(Answer):
    """`PUT /regions/{region}`."""

    region: str
    name: str
    level: str
    parent: str | None


class SchoolPut(Answer):
    """`PUT /schools/{school}`."""

    school: str
    name: str
    district: str
    stage: str
    tz: str
    classes: int
    parallel_classes: int
    students: int
    max_class_size: int
    classes_by_grade: dict[str, int] | None


class AgentPut(Answer):
    """`PUT /agents/{agent}`."""

    agent: str
    school: str


class DevicePut(Answer):
    """`PUT /schools/{school}/devices/{device}`."""

    school: str
    device: str
    agent: str
    room: str
    kind: str
    equipment_item: str | None
    name: str | None = None


class RoomPut(Answer):
    """`PUT /schools/{school}/rooms/{room}`."""

    school: str
    room: str
    name: str
    type: str
    capacity: int


class TeachingDay(Answer):
    """A teaching day and its periods (local start, end)."""

    date: date
    periods: list[tuple[str, str]]


class TeachingDayPut(TeachingDay):
    """`PUT /schools/{school}/calendar/{day}`."""

    school: str


class TeachingDays(Answer):
    """`GET /schools/{school}/calendar`."""

    days: list[TeachingDay]


class LedgerImport(Answer):
    """`POST /schools/{school}/equipment/import`."""

    school: str
    created: int
    updated: int
    deleted: int


# --- calendars, standards, experiments, reports --------------------------------------------------------------


class CalendarRef(Answer):
    """A calendar's code and name."""

    code: str
    name: str


class Calendars(Answer):
    """`GET /calendars`."""

    calendars: list[CalendarRef]


class CalendarOut(CalendarIn):
    """`GET /calendars/{code}`: the calendar's definition."""

    code: str


class CalendarImport(CalendarOut):
    """`POST /calendars/{code}/import`: the calendar after the import."""

    events: int
    schools_recompiled: int


class Recompiled(Answer):
    """`PUT /calendars/{code}`, `PUT /schedules/{code}`: the schools that follow it, recompiled."""

    code: str
    schools_recompiled: int


ScheduleRow = row_model(DaySchedule, "ScheduleRow")


class Schedules(Answer):
    """`GET /schedules`."""

    schedules: list[ScheduleRow]  # type: ignore[valid-type]


class ScheduleOut(ScheduleIn):
    """`GET /schedules/{code}`."""

    code: str


class Timetable(Answer):
    """`GET /schools/{school}/timetable`."""

    school: str
    calendar: str
    schedule: str


class TimetableSet(Timetable):
    """`PUT /schools/{school}/timetable`: with the number of teaching days written."""

    teaching_days: int


class StandardItemOut(Answer):
    """An item of a standard."""

    code: str
    name: str
    unit: str
    category: str = Field(description="基本 or 选配")
    rule: dict[str, Any]
    reference_price: Decimal = Field(description="元")
    consumable: bool


StandardRow = row_model(Standard, "StandardRow")


class Standards(Answer):
    """`GET /standards`."""

    standards: list[StandardRow]  # type: ignore[valid-type]


class StandardOut(StandardRow):  # type: ignore[valid-type, misc]
    """`GET /standards/{code}`, `PUT /standards/{code}/{version}`: a version with its items."""

    items: list[StandardItemOut]


class Experiments(Answer):
    """`GET /experiments/catalog`."""

    experiments: list[ExperimentItemIn]


class ExperimentRecordOut(Answer):
    """A class did an experiment."""

    id: int
    school: str
    class_: str = Field(alias="class")
    grade: int
    experiment: str
    date: date
    teacher: str
    evidence: str
    recorded_by: str = Field(description="the user who entered it")


class ExperimentRecords(Answer):
    """`GET /schools/{school}/experiment-records`."""

    records: list[ExperimentRecordOut]


class RecordsImport(Answer):
    """`POST /schools/{school}/experiment-records/import`."""

    school: str
    added: int


class AuditHeadOut(Answer):
    """The audit chain's head when a report was issued."""

    seq: int
    hash: str


class IssuedReportOut(Answer):
    """A report as issued."""

    id: int
    kind: str
    scope: str
    scope_id: str
    from_: str = Field(alias="from")
    to: str
    issued_at: str
    issued_by: str
    sha256: str
    size: int
    audit_head: AuditHeadOut | None
    href: str


class IssuedReports(Answer):
    """`GET /reports/issued`."""

    reports: list[IssuedReportOut]


# --- alerts ---------------------------------------------------------------------------------------------------


class AlertOut(Answer):
    """An alert: which rule found what about which subject, and where it stands."""

    id: int
    rule: str
    rule_version: str
    kind: str
    severity: str
    subject: str
    school: str | None
    district: str | None
    state: str = Field(description="open, acknowledged or resolved")
    summary: str
    details: dict[str, Any]
    opened_at: datetime
    holding_at: datetime = Field(description="the last evaluation that found the condition (to the minute)")
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    notifications: int
    flaps: int = Field(description="times it cleared and came back before it could resolve")


class Alerts(Answer):
    """`GET /alerts`: the alerts and their counts by `state/severity`."""

    alerts: list[AlertOut]
    counts: dict[str, int]


class DeliveryOut(Answer):
    """A notification of an alert to a channel."""

    channel: str
    event: str
    attempts: int
    delivered_at: datetime | None
    next_at: datetime | None = Field(description="the next try, while undelivered")
    last_error: str | None


class AlertWithDeliveries(AlertOut):
    """`GET /alerts/{id}`."""

    deliveries: list[DeliveryOut]


class AlertRuleOut(RuleIn):
    """A rule in force and its version."""

    version: str


class AlertRules(Answer):
    """`GET /alert-rules`."""

    rules: list[AlertRuleOut]


class DeviceKindOut(Answer):
    """A device kind and its names."""

    kind: str
    name_zh: str
    name_en: str | None


class DeviceKindListed(DeviceKindOut):
    """A kind as listed: named in the store, or built in."""

    named_here: bool


class DeviceKinds(Answer):
    """`GET /device-kinds`."""

    kinds: list[DeviceKindListed]
