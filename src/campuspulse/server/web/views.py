"""What each dashboard page shows, computed with the same functions that answer the API."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Principal, Role, Scope, ScopeKind, require_scope_read
from campuspulse.server.errors import NotFound
from campuspulse.server.inventory.service import list_calendar_days
from campuspulse.server.inventory.standards import get_standard, list_standards
from campuspulse.server.metrics import insights
from campuspulse.server.metrics.available_time import local_ms
from campuspulse.server.metrics.compliance_service import compliance
from campuspulse.server.metrics.offering_service import offering_rate, term_window
from campuspulse.server.metrics.service import GroupBy, schools_in_scope, term_of, time_bucket, utilization
from campuspulse.store import health
from campuspulse.store.inventory_schema import Region, Room
from campuspulse.store.schema import CalendarDay, Device, School
from campuspulse.telemetry import ContractError

MAX_DAYS = 400


class PeriodRefused(ContractError):
    """A period a page cannot show; `key` names the message in the page's language."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Period:
    """The dates a page covers, [first, end), the school term the end falls in, and the day compliance is taken
    on (the period's last day) and today."""

    first: str
    end: str
    term: str
    as_of: date
    today: date

    @property
    def last(self) -> str:
        """The period's last day (the pages show end dates inclusive)."""
        return self.as_of.isoformat()

    @property
    def query(self) -> str:
        """The period as a link's query, so that every page a link leads to shows the same period."""
        return f"from={self.first}&to={self.end}"

    def shortcuts(self) -> list[tuple[str, str, bool]]:
        """(label key, query, is the period shown) for 本周, 本月, 本学期, 上学期, and the periods of the same
        length before and after this one (none after today)."""
        today = self.today
        term = term_of(today.isoformat())
        year, n = int(term[:4]), int(term[-1])
        _, t0, t1 = term_window(term)
        _, p0, p1 = term_window(f"{year - 1}-2" if n == 1 else f"{year}-1")
        spans = [
            ("this_week", today - timedelta(days=today.weekday()), today),
            ("this_month", today.replace(day=1), today),
            ("this_term", t0, min(t1, today)),
            ("last_term", p0, p1),
        ]
        first, end = date.fromisoformat(self.first), date.fromisoformat(self.end)
        length = end - first
        spans.insert(0, ("previous", first - length, first - timedelta(days=1)))
        if end <= today:
            spans.append(("next", end, min(end + length - timedelta(days=1), today)))
        return [
            (key, f"from={a.isoformat()}&until={b.isoformat()}", (a.isoformat(), b) == (self.first, self.as_of))
            for key, a, b in spans
        ]


def period_of(first: str | None, end: str | None, today: date, until: str | None = None) -> Period:
    """The asked period — `end` exclusive, or `until` its last day — by default the four weeks up to and including
    today, the same on every page."""
    try:
        end_d = (
            date.fromisoformat(until) + timedelta(days=1)
            if until
            else date.fromisoformat(end)
            if end
            else today + timedelta(days=1)
        )
        first_d = date.fromisoformat(first) if first else end_d - timedelta(days=28)
    except ValueError as exc:
        raise PeriodRefused("period_dates", f"from and to are dates like 2026-09-01: {exc}") from None
    if not 0 < (end_d - first_d).days <= MAX_DAYS:
        raise PeriodRefused("period_range", f"from must come before to, at most {MAX_DAYS} days apart")
    term = time_bucket(GroupBy.TERM)((end_d - timedelta(days=1)).isoformat())  # type: ignore[misc]
    return Period(first_d.isoformat(), end_d.isoformat(), term, end_d - timedelta(days=1), today)


@dataclass(slots=True)
class RankRow:
    """One district or school of a region page."""

    key: str
    name: str
    href: str
    figures: dict[str, Any] = field(default_factory=dict)
    standards_met: int = 0
    standards_applying: int = 0
    required: int = 0
    done: int = 0

    @property
    def compliance_rate(self) -> float | None:
        """Share of (school, applicable standard) pairs 达标."""
        return self.standards_met / self.standards_applying if self.standards_applying else None

    @property
    def offering_rate(self) -> float | None:
        """Experiment–class pairs done over required, 分组 and 演示 together."""
        return self.done / self.required if self.required else None


def crumbs_of(p: Principal, s: Session, district: str | None = None) -> list[tuple[str, str]]:
    """The breadcrumb links above a page that the user may open: the city only for callers who see it, their
    district (or the page's) for district-wide callers; (label key or name, href)."""
    out: list[tuple[str, str]] = []
    if p.scope_kind is ScopeKind.ALL:
        out.append(("", "/ui/region"))
    elif p.scope_kind is ScopeKind.REGION:
        row = s.get(Region, p.scope_id)
        if row is not None and row.level == "city":
            out.append((row.name, f"/ui/region/{p.scope_id}"))
    if district and p.scope_kind is not ScopeKind.SCHOOL:
        row = s.get(Region, district)
        out.append((row.name if row else district, f"/ui/region/{district}"))
    return out


def home_of(p: Principal) -> str:
    """The page a user starts on: the whole city, their region, their school, or a teacher's record form."""
    if p.role is Role.TEACHER:
        return "/ui/teach"
    if p.scope_kind is ScopeKind.ALL:
        return "/ui/region"
    if p.scope_kind is ScopeKind.REGION:
        return f"/ui/region/{p.scope_id}"
    return f"/ui/schools/{p.scope_id}"


def _region_scope(s: Session, region: str | None) -> tuple[Scope, str, str]:
    """(scope, id, name) of a region page."""
    if not region:
        return Scope.CITY, "", ""
    row = s.get(Region, region)
    if row is not None:
        return (Scope.CITY if row.level == "city" else Scope.DISTRICT), region, row.name
    if s.scalar(select(School.code).where(School.district == region).limit(1)) is None:
        raise NotFound(f"no region or district {region!r}")
    return Scope.DISTRICT, region, region


def standards_in_force(s: Session, as_of: date) -> list[Any]:
    """The version of every standard in force on `as_of`."""
    return [get_standard(s, code, as_of=as_of)[0] for code in sorted({std.code for std in list_standards(s)})]


def _rows_of(s: Session, scope: Scope, ident: str, group: GroupBy | None, period: Period) -> list[dict[str, Any]]:
    try:
        return utilization(s, scope, ident, period.first, period.end, group)
    except NotFound:  # no devices yet
        return []


def region_view(s: Session, p: Principal, region: str | None, period: Period) -> dict[str, Any]:
    """A city (its districts) or a district (its schools), ranked by utilization, with 达标率 and 开出率."""
    scope, ident, name = _region_scope(s, region)
    require_scope_read(s, p, scope, ident)
    by_district = scope is Scope.CITY
    schools = list(schools_in_scope(s, scope, ident))
    names = dict(s.execute(select(Region.code, Region.name)).all())
    rows: dict[str, RankRow] = {}
    for sc in schools:
        key = sc.district if by_district else sc.code
        if key not in rows:
            label = names.get(key, key) if by_district else sc.name
            rows[key] = RankRow(key, label, f"/ui/region/{key}" if by_district else f"/ui/schools/{key}")
    for r in _rows_of(s, scope, ident, GroupBy.DISTRICT if by_district else GroupBy.SCHOOL, period):
        if r["key"] in rows:
            rows[r["key"]].figures = r
    standards = standards_in_force(s, period.as_of)
    for std in standards:
        for r in compliance(s, scope, ident, std.code, std.version, period.as_of, period.today)["schools"]:
            row = rows[r["district"] if by_district else r["school"]]
            row.standards_applying += r["applies"]
            row.standards_met += r["applies"] and r["compliant"]
    district_of = {sc.code: sc.district for sc in schools}
    for r in offering_rate(s, scope, ident, period.term)["by_school"]:
        row = rows[district_of[r["school"]] if by_district else r["school"]]
        row.required, row.done = row.required + r["required"], row.done + r["done"]
    total = _rows_of(s, scope, ident, None, period)
    ranked = sorted(rows.values(), key=lambda r: (-(r.figures.get("utilization") or -1), r.key))
    summary = RankRow(ident or "city", name, "")
    summary.figures = total[0] if total else {}
    for rank in ranked:
        summary.standards_met += rank.standards_met
        summary.standards_applying += rank.standards_applying
        summary.required, summary.done = summary.required + rank.required, summary.done + rank.done
    return {
        "scope": scope.value,
        "id": ident,
        "name": name,
        "by_district": by_district,
        "rows": ranked,
        "summary": summary,
        "standards": standards,
        "teaching_days": _teaching_day_counts(s, [sc.code for sc in schools], period),
    }


def _teaching_day_counts(s: Session, schools: list[str], period: Period) -> tuple[int, int] | None:
    """The fewest and the most teaching days a school of the region has in the period (None without schools)."""
    if not schools:
        return None
    q = (
        select(CalendarDay.school, func.count())
        .where(CalendarDay.school.in_(schools), CalendarDay.day >= period.first, CalendarDay.day <= period.last)
        .group_by(CalendarDay.school)
    )
    counts = dict(s.execute(q).all())
    days = [int(counts.get(code, 0)) for code in schools]
    return min(days), max(days)


WEEKDAYS = 7


def room_weekdays(s: Session, school: str, rooms: list[str], period: Period) -> dict[tuple[str, int], float | None]:
    """Utilization per room and ISO weekday (1 = Monday) over the period, pooled over the room's devices."""
    pooled: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for room in rooms:
        for r in _rows_of(s, Scope.ROOM, f"{school}/{room}", GroupBy.DAY, period):
            cell = pooled[(room, date.fromisoformat(str(r["key"])).isoweekday())]
            cell[0] += float(r["in_use_s"])
            cell[1] += float(r["available_s"])
    return {k: (v[0] / v[1] if v[1] else None) for k, v in pooled.items()}


def school_view(s: Session, p: Principal, school: str, period: Period, now_ms: int) -> dict[str, Any]:
    """A school: headline figures, rooms × weekdays, idle equipment, compliance gaps, experiments, devices."""
    require_scope_read(s, p, Scope.SCHOOL, school)
    sc = s.get(School, school)
    if sc is None:
        raise NotFound(f"school {school!r} is not registered")
    total = _rows_of(s, Scope.SCHOOL, school, None, period)
    per_device = {str(r["key"]).partition("/")[2]: r for r in _rows_of(s, Scope.SCHOOL, school, GroupBy.DEVICE, period)}
    devices = list(s.scalars(select(Device).where(Device.school == school).order_by(Device.room, Device.device)))
    rooms = sorted({d.room for d in devices})
    checks = []
    for std in standards_in_force(s, period.as_of):
        if std.stage == sc.stage:
            c = compliance(s, Scope.SCHOOL, school, std.code, std.version, period.as_of, period.today)
            cost = sum((Decimal(str(g["missing_value"])) for g in c["gaps"]), Decimal(0))
            checks.append(
                {"standard": c["standard"], "school": c["schools"][0], "gaps": c["gaps"], "cost": f"{cost:.2f}"}
            )
    idle = (
        insights.idle_equipment(s, Scope.SCHOOL, school, 10, now_ms)
        if devices
        else {"devices": [], "teaching_days": 10}
    )
    agents = {d.agent for d in devices}
    return {
        "school": sc,
        "period": period,
        "total": total[0] if total else {},
        "devices": devices,
        "per_device": per_device,
        "rooms": rooms,
        "room_names": dict(s.execute(select(Room.room, Room.name).where(Room.school == school)).all()),
        "heat": room_weekdays(s, school, rooms, period),
        "idle": idle,
        "checks": checks,
        "offering": offering_rate(s, Scope.SCHOOL, school, period.term),
        "teaching_days": [d.day for d in list_calendar_days(s, school, period.first, period.last)],
        "agents": [health.agent_health(s, a) for a in sorted(agents)],
    }


def local_midnight(day: date, tz: ZoneInfo) -> int:
    """Local midnight at the start of `day`, in ms."""
    return local_ms(day, "00:00", tz)


TREND_LENGTH = {GroupBy.WEEK: 12, GroupBy.MONTH: 6}


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """A week or month of a trend: its key (`2026-W37`, `2026-09`), its label, and its figures (empty without)."""

    key: str
    label: str
    first: str
    figures: dict[str, Any]


def trend(s: Session, scope: Scope, ident: str, period: Period, by: GroupBy) -> list[TrendPoint]:
    """Utilization by week (the 12 weeks) or by month (the 6 months) up to the period's last day, oldest first; a
    week or month without data keeps its place."""
    last = period.as_of
    starts: list[date] = []
    if by is GroupBy.WEEK:
        monday = last - timedelta(days=last.weekday())
        starts = [monday - timedelta(weeks=n) for n in reversed(range(TREND_LENGTH[by]))]
    else:
        year, month = last.year, last.month
        for _ in range(TREND_LENGTH[by]):
            starts.insert(0, date(year, month, 1))
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    end = (last + timedelta(days=1)).isoformat()
    try:
        rows = {str(r["key"]): r for r in utilization(s, scope, ident, starts[0].isoformat(), end, by)}
    except NotFound:  # no devices yet
        rows = {}
    key_of = time_bucket(by)
    assert key_of is not None
    points = []
    for start in starts:
        key = key_of(start.isoformat())
        label = f"{start.month}/{start.day}" if by is GroupBy.WEEK else f"{start.year}-{start.month:02d}"
        points.append(TrendPoint(key, label, start.isoformat(), rows.get(key, {})))
    return points
