"""School calendars and day schedules (作息), compiled into the teaching days the figures use.

A calendar has terms, public holidays and make-up working days (调休, taught on another weekday's
schedule); a day schedule gives each weekday's periods for one 学段. A school's timetable names one of
each; compiling it yields `{date: periods}`, which is written as the school's calendar days (contract.md).
"""

import itertools
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from campuspulse.server.inventory.dates import SupportedDate

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Annotated[int, Field(ge=1, le=7, description="1 = Monday … 7 = Sunday")]


def check_periods(periods: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Periods must be HH:MM pairs, each starting before it ends and after the previous one."""
    last = "00:00"
    for i, (start, end) in enumerate(periods):
        for t in (start, end):
            if not _HHMM.match(t):
                raise ValueError(f"period {i}: {t!r} is not a time, expected HH:MM such as 08:00")
        if not last <= start < end:
            raise ValueError(
                f"period {i}: [{start}, {end}] must start before it ends and after the previous period ({last})"
            )
        last = end
    return periods


class Term(BaseModel):
    """A term (学期): teaching happens on its school days from `first_day` to `last_day`."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    name: str = Field("", max_length=100)
    first_day: SupportedDate
    last_day: SupportedDate

    @model_validator(mode="after")
    def _ordered(self) -> "Term":
        if self.last_day < self.first_day:
            raise ValueError(f"term {self.code}: last_day {self.last_day} is before first_day {self.first_day}")
        return self


class Holiday(BaseModel):
    """Days off (public holidays, breaks inside a term), `first`..`last` inclusive."""

    model_config = ConfigDict(extra="forbid")
    first: SupportedDate
    last: SupportedDate | None = None
    name: str = Field("", max_length=100)

    def days(self) -> list[date]:
        """Every day of the holiday."""
        last = self.last or self.first
        return [self.first + timedelta(days=i) for i in range((last - self.first).days + 1)]


class MakeupDay(BaseModel):
    """A weekend day taught as a school day (调休), on the schedule of `as_weekday`."""

    model_config = ConfigDict(extra="forbid")
    day: SupportedDate
    as_weekday: Weekday
    name: str = Field("", max_length=100)


class CalendarIn(BaseModel):
    """`PUT /calendars/{code}`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    terms: list[Term] = Field(min_length=1)
    holidays: list[Holiday] = []
    makeup_days: list[MakeupDay] = []

    @model_validator(mode="after")
    def _consistent(self) -> "CalendarIn":
        terms = sorted(self.terms, key=lambda t: t.first_day)
        for a, b in itertools.pairwise(terms):
            if b.first_day <= a.last_day:
                raise ValueError(f"terms {a.code} and {b.code} overlap")
        off = {d for h in self.holidays for d in h.days()}
        for m in self.makeup_days:
            if m.day in off:
                raise ValueError(f"{m.day} is both a holiday and a make-up day")
        return self


class ScheduleIn(BaseModel):
    """`PUT /schedules/{code}`: the periods of each weekday, e.g. `{"mon-fri": [...], "fri": [...]}`.

    Keys are `mon`…`sun` or a range such as `mon-fri`; later keys override earlier ones.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    stage: str = Field(min_length=1, max_length=32, description="学段: primary, junior, senior")
    weekdays: dict[str, list[tuple[str, str]]] = Field(min_length=1)

    @field_validator("weekdays")
    @classmethod
    def _valid(cls, weekdays: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        for key, periods in weekdays.items():
            expand_weekdays(key)
            try:
                check_periods(periods)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return weekdays

    def periods_by_weekday(self) -> dict[int, list[list[str]]]:
        """Weekday (1 = Monday) → periods, with the keys' ranges expanded."""
        out: dict[int, list[list[str]]] = {}
        for key, periods in self.weekdays.items():
            for wd in expand_weekdays(key):
                out[wd] = [list(p) for p in periods]
        return {wd: p for wd, p in sorted(out.items()) if p}


def expand_weekdays(key: str) -> list[int]:
    """`mon` → [1], `mon-fri` → [1..5]; ValueError for anything else."""
    first, _, last = key.lower().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        raise ValueError(f"{key!r} is not a weekday or a range such as mon-fri")
    a, b = WEEKDAYS.index(first) + 1, WEEKDAYS.index(last or first) + 1
    if b < a:
        raise ValueError(f"{key!r}: the range must run forward, e.g. mon-fri")
    return list(range(a, b + 1))


def compile_days(calendar: CalendarIn, schedule: ScheduleIn) -> dict[date, list[list[str]]]:
    """The teaching days of the calendar's terms and their periods under the schedule."""
    by_weekday = schedule.periods_by_weekday()
    off = {d for h in calendar.holidays for d in h.days()}
    makeup = {m.day: m.as_weekday for m in calendar.makeup_days}
    days: dict[date, list[list[str]]] = {}
    for term in calendar.terms:
        day = term.first_day
        while day <= term.last_day:
            weekday = makeup.get(day, day.isoweekday())
            if day not in off and weekday in by_weekday:
                days[day] = by_weekday[weekday]
            day += timedelta(days=1)
    return days


def span(calendar: CalendarIn) -> tuple[date, date]:
    """The first and last day the calendar decides about."""
    return min(t.first_day for t in calendar.terms), max(t.last_day for t in calendar.terms)


def merge_events(calendar: dict[str, Any], events: list[tuple[Literal["holiday", "makeup", "term"], Any]]) -> None:
    """Add imported holidays, make-up days and terms to a calendar's JSON form.

    A holiday already listed (same first and last day) is not added twice; an imported make-up day or term
    replaces one of the same day or code.
    """
    for kind, item in events:
        if kind == "holiday":
            holidays = calendar.setdefault("holidays", [])
            span = (item["first"], item.get("last") or item["first"])
            if all((h["first"], h.get("last") or h["first"]) != span for h in holidays):
                holidays.append(item)
        elif kind == "makeup":
            kept = [m for m in calendar.get("makeup_days", []) if m["day"] != item["day"]]
            calendar["makeup_days"] = [*kept, item]
        else:
            calendar["terms"] = [t for t in calendar.get("terms", []) if t["code"] != item["code"]] + [item]
