"""Calendars and day schedules compile into the right teaching days (pure, no database)."""

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from campuspulse.server.inventory.calendar_files import events_from_csv, events_from_ics, load_calendar_file
from campuspulse.server.inventory.calendars import CalendarIn, ScheduleIn, compile_days, expand_weekdays, merge_events
from campuspulse.server.inventory.excel import SheetRejected

SAMPLE = Path(__file__).parents[2] / "config" / "calendars" / "beijing-2026-27.yaml"
P1, P2 = ["08:00", "08:45"], ["08:55", "09:40"]
SCHEDULE = ScheduleIn(name="s", stage="junior", weekdays={"mon-fri": [P1, P2], "fri": [P1]})
CALENDAR = CalendarIn(
    name="c",
    terms=[{"code": "t1", "first_day": "2026-09-28", "last_day": "2026-10-16"}],
    holidays=[{"first": "2026-10-01", "last": "2026-10-07", "name": "国庆节"}],
    makeup_days=[{"day": "2026-10-10", "as_weekday": 5, "name": "调休"}],
)


def test_holidays_are_out_and_makeup_days_follow_their_weekday():
    days = compile_days(CALENDAR, SCHEDULE)
    assert min(days) == date(2026, 9, 28) and max(days) == date(2026, 10, 16)
    assert not any(date(2026, 10, 1) <= d <= date(2026, 10, 7) for d in days)
    assert days[date(2026, 10, 10)] == [P1], "Saturday 10-10 is taught on Friday's schedule"
    assert date(2026, 10, 11) not in days, "an ordinary Sunday is no teaching day"
    assert days[date(2026, 10, 9)] == [P1] and days[date(2026, 10, 8)] == [P1, P2]
    assert len(days) == 3 + 7 + 1  # Mon–Wed, 10-08..10-16 weekdays, the make-up Saturday


def test_the_sample_beijing_calendar_has_a_school_year_of_teaching_days():
    f = load_calendar_file(SAMPLE)
    cal = f.calendars["beijing-2026-27"]
    junior = compile_days(cal, f.schedules["bj-junior-45"])
    weeks = len(junior) / 5
    assert 37 <= weeks <= 40, "about 39 teaching weeks a year"
    periods = sum(len(p) for d, p in junior.items() if date(2026, 9, 7) <= d <= date(2026, 9, 11))
    assert periods == 34, "34 periods a week in junior secondary"


@pytest.mark.parametrize(("key", "expected"), [("mon", [1]), ("mon-fri", [1, 2, 3, 4, 5]), ("SAT-sun", [6, 7])])
def test_weekday_keys(key, expected):
    assert expand_weekdays(key) == expected


@pytest.mark.parametrize("key", ["fri-mon", "monday", "1-5"])
def test_bad_weekday_keys_say_what_is_expected(key):
    with pytest.raises(ValueError, match="mon-fri"):
        expand_weekdays(key)


def test_overlapping_terms_and_a_holiday_that_is_a_makeup_day_are_refused():
    with pytest.raises(ValidationError, match="overlap"):
        CalendarIn(
            name="c",
            terms=[
                {"code": "a", "first_day": "2026-09-01", "last_day": "2026-12-31"},
                {"code": "b", "first_day": "2026-12-01", "last_day": "2027-01-31"},
            ],
        )
    with pytest.raises(ValidationError, match="both a holiday and a make-up day"):
        term = {"code": "a", "first_day": "2026-09-01", "last_day": "2026-12-31"}
        CalendarIn(
            name="c",
            terms=[term],
            holidays=[{"first": "2026-10-10"}],
            makeup_days=[{"day": "2026-10-10", "as_weekday": 1}],
        )


ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:1
SUMMARY:\xe5\x9b\xbd\xe5\xba\x86\xe8\x8a\x82
DTSTART;VALUE=DATE:20261001
DTEND;VALUE=DATE:20261008
END:VEVENT
BEGIN:VEVENT
UID:2
SUMMARY:\xe5\x9b\xbd\xe5\xba\x86\xe8\x8a\x82\xe8\xb0\x83\xe4\xbc\x91
DTSTART;VALUE=DATE:20261010
X-CAMPUSPULSE-AS-WEEKDAY:5
END:VEVENT
BEGIN:VEVENT
UID:3
SUMMARY:Autumn term
X-CAMPUSPULSE-TERM:2026-autumn
DTSTART;VALUE=DATE:20260901
DTEND;VALUE=DATE:20270123
END:VEVENT
END:VCALENDAR
"""


def test_ics_events_become_holidays_makeup_days_and_terms():
    events = events_from_ics(ICS)
    assert ("holiday", {"first": "2026-10-01", "last": "2026-10-07", "name": "国庆节"}) in events
    assert ("makeup", {"day": "2026-10-10", "as_weekday": 5, "name": "国庆节调休"}) in events
    term = next(e for k, e in events if k == "term")
    assert (term["code"], term["first_day"], term["last_day"]) == ("2026-autumn", "2026-09-01", "2027-01-22")


def test_csv_rows_with_problems_are_all_reported():
    data = (
        "date,kind,name,as_weekday\n2026-10-01,休,国庆节,\n2026-13-01,休,x,\n2026-10-10,班,调休,9\n2026-10-11,maybe,,\n"
    )
    with pytest.raises(SheetRejected) as err:
        events_from_csv(data.encode())
    assert [(p.row, p.column) for p in err.value.problems] == [(3, "date"), (4, "as_weekday"), (5, "kind")]


def test_importing_the_same_events_twice_changes_nothing():
    calendar = CALENDAR.model_dump(mode="json")
    events = events_from_csv("date,kind,name,as_weekday\n2026-10-12,休,运动会,\n2026-10-17,班,调休,3\n".encode())
    merge_events(calendar, events)
    once = CalendarIn.model_validate(calendar)
    merge_events(calendar, events)
    assert CalendarIn.model_validate(calendar) == once
    assert [m.as_weekday for m in once.makeup_days if m.day == date(2026, 10, 17)] == [3]
