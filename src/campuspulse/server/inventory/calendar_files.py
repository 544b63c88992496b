"""Calendars from files: YAML (calendars and schedules, `config/calendars/`), iCalendar (.ics) and CSV.

In .ics files an event's kind comes from `X-CAMPUSPULSE-KIND` (holiday, makeup, term) or, failing that,
from its summary: 调休/补班/上班/(班) mark a make-up working day, 学期 a term, anything else a holiday.
A make-up day is taught on the schedule of `X-CAMPUSPULSE-AS-WEEKDAY` (1 = Monday; default 1).
CSV columns: `date,kind,name,as_weekday,last_date` with kind holiday (休) or makeup (班).
"""

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import icalendar
from pydantic import BaseModel, ConfigDict

from campuspulse.config_files import load_yaml_model
from campuspulse.server.inventory.calendars import CalendarIn, ScheduleIn
from campuspulse.server.inventory.csv_text import CsvBroken, csv_rows
from campuspulse.server.inventory.dates import FIRST_DATE, LAST_DATE
from campuspulse.server.inventory.excel import RowProblem, SheetRejected

Event = tuple[Literal["holiday", "makeup", "term"], dict[str, Any]]
_MAKEUP = re.compile(r"调休|补班|上班|[(（]班[)）]")
_TERM = re.compile(r"学期|term", re.IGNORECASE)


class CalendarFile(BaseModel):
    """A YAML file of calendars and day schedules, each keyed by its code."""

    model_config = ConfigDict(extra="forbid")
    calendars: dict[str, CalendarIn] = {}
    schedules: dict[str, ScheduleIn] = {}


def load_calendar_file(path: str | Path) -> CalendarFile:
    """Read a calendars/schedules YAML file; ConfigError naming file, line and field of every problem."""
    return load_yaml_model(path, CalendarFile, "calendars and schedules")


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _ics_kind(event: Any) -> str:
    explicit = str(event.get("X-CAMPUSPULSE-KIND", "")).strip().lower()
    if explicit:
        return explicit
    summary = str(event.get("SUMMARY", ""))
    if _MAKEUP.search(summary):
        return "makeup"
    return "term" if _TERM.search(summary) else "holiday"


def _day_off_or_on(
    events: list[Event],
    problems: list[RowProblem],
    where: tuple[int, str],
    kind: str,
    first: date,
    last: date,
    name: str,
    weekday: str,
) -> None:
    """A holiday from `first` to `last`, or one make-up day per date taught on `weekday`'s schedule."""
    if kind == "holiday":
        events.append(("holiday", {"first": first.isoformat(), "last": last.isoformat(), "name": name}))
        return
    if not weekday.isdigit() or not 1 <= int(weekday) <= 7:
        problems.append(RowProblem(*where, f"1..7 expected (got {weekday!r})"))
        return
    for i in range((last - first).days + 1):
        events.append(
            ("makeup", {"day": (first + timedelta(days=i)).isoformat(), "as_weekday": int(weekday), "name": name})
        )


def events_from_ics(data: bytes) -> list[Event]:
    """Holidays, make-up days and terms of an iCalendar file; SheetRejected naming each bad event."""
    try:
        cal = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise SheetRejected([RowProblem(0, "", f"not an iCalendar file: {exc}")]) from None
    events: list[Event] = []
    problems: list[RowProblem] = []
    for n, ev in enumerate(cal.walk("VEVENT"), start=1):
        summary = str(ev.get("SUMMARY", ""))
        if "DTSTART" not in ev:
            problems.append(RowProblem(n, "DTSTART", f"event {summary!r} has no start"))
            continue
        first = _as_date(ev.decoded("DTSTART"))
        end = _as_date(ev.decoded("DTEND")) if "DTEND" in ev else first + timedelta(days=1)
        last = max(first, end - timedelta(days=1))  # DTEND of all-day events is exclusive
        kind = _ics_kind(ev)
        if kind in ("holiday", "makeup"):
            weekday = str(ev.get("X-CAMPUSPULSE-AS-WEEKDAY", "1"))
            _day_off_or_on(events, problems, (n, "X-CAMPUSPULSE-AS-WEEKDAY"), kind, first, last, summary, weekday)
        elif kind == "term":
            code = re.sub(r"[^A-Za-z0-9_.-]", "-", str(ev.get("X-CAMPUSPULSE-TERM") or first.isoformat()))[:32]
            events.append(
                ("term", {"code": code, "name": summary, "first_day": first.isoformat(), "last_day": last.isoformat()})
            )
        else:
            problems.append(RowProblem(n, "X-CAMPUSPULSE-KIND", f"holiday, makeup or term expected (got {kind!r})"))
    if problems:
        raise SheetRejected(problems)
    return events


def events_from_csv(data: bytes) -> list[Event]:
    """Holidays and make-up days of a CSV file; SheetRejected listing every bad row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetRejected([RowProblem(0, "", "not UTF-8 text; save the CSV as UTF-8")]) from None
    try:
        header, rows = csv_rows(text)
        if not {"date", "kind"} <= set(header):
            raise SheetRejected([RowProblem(1, "", "header must have date,kind[,name,as_weekday,last_date]")])
        return _csv_events(rows)
    except CsvBroken as exc:
        raise SheetRejected([RowProblem(exc.line, "", f"not readable as CSV ({exc.reason})")]) from None


def _csv_events(rows: Iterator[tuple[int, dict[str, str | None]]]) -> list[Event]:
    events: list[Event] = []
    problems: list[RowProblem] = []
    for n, row in rows:
        try:
            first = date.fromisoformat((row.get("date") or "").strip())
            last_text = (row.get("last_date") or "").strip()
            last = date.fromisoformat(last_text) if last_text else first
        except ValueError as exc:
            problems.append(RowProblem(n, "date", f"YYYY-MM-DD expected ({exc})"))
            continue
        if not (FIRST_DATE <= first <= LAST_DATE and FIRST_DATE <= last <= LAST_DATE):
            problems.append(RowProblem(n, "date", f"dates from {FIRST_DATE} to {LAST_DATE} are supported"))
            continue
        kind = (row.get("kind") or "").strip().lower()
        name = (row.get("name") or "").strip()
        if kind in ("holiday", "休", "makeup", "班"):
            kind = "holiday" if kind in ("holiday", "休") else "makeup"
            weekday = (row.get("as_weekday") or "1").strip()
            _day_off_or_on(events, problems, (n, "as_weekday"), kind, first, last, name, weekday)
        else:
            problems.append(RowProblem(n, "kind", f"holiday (休) or makeup (班) expected (got {kind!r})"))
    if problems:
        raise SheetRejected(problems)
    return events
