"""Daily rollups on SQLite and PostgreSQL: figures from rollups equal figures from segments, and stay so
when late records, calendar changes or new devices make rolled-up days stale."""

from datetime import date

import orjson
import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from campuspulse.cli import app as cli
from campuspulse.server.inventory import service as inventory
from campuspulse.server.metrics.rollups import advance, rebuild, refresh_stale
from campuspulse.server.metrics.service import GroupBy, Scope, utilization
from campuspulse.store.db import make_engine
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.store.rollup_schema import (
    DeviceDayRollup,
    RolledDay,
    RollupCoverage,
    SchoolDayRollup,
    SchoolMonthRollup,
    StaleDay,
)
from campuspulse.store.schema import StateSegment
from campuspulse.telemetry import parse_records_payload, parse_ts
from tests.support.campus import heartbeats, week_of_heartbeats

DAYS = ["2026-09-07", "2026-09-08", "2026-09-09", "2026-09-10", "2026-09-11", "2026-09-14"]
PERIODS = [["08:00", "08:45"], ["09:00", "09:45"], ["14:00", "14:45"], ["15:00", "16:00"]]
NOW = parse_ts("2026-09-20T00:00:00+08:00")
QUERIES = [
    (Scope.SCHOOL, "s1", "2026-09-07", "2026-09-15", None),
    (Scope.SCHOOL, "s1", "2026-09-07", "2026-09-15", GroupBy.DEVICE),
    (Scope.SCHOOL, "s1", "2026-09-07", "2026-09-15", GroupBy.DAY),
    (Scope.ROOM, "s1/lab1", "2026-09-08", "2026-09-11", None),
    (Scope.DEVICE, "s1/pc3", "2026-09-08T10:00:00+08:00", "2026-09-10T09:30:00+08:00", None),
    (Scope.CITY, "", "2026-09-01", "2026-09-30", GroupBy.SCHOOL),
    (Scope.CITY, "", "2026-09-07", "2026-09-15", GroupBy.DISTRICT),
    (Scope.DISTRICT, "d1", "2026-09-08", "2026-09-10", GroupBy.DAY),
    (Scope.SCHOOL, "s1", "2026-09-09", "2026-09-12", None),
    (Scope.SCHOOL, "s1", "2026-09-07", "2026-09-15", GroupBy.WEEK),
    (Scope.CITY, "", "2026-09-01", "2026-09-15", GroupBy.MONTH),
    (Scope.ROOM, "s1/lab2", "2026-09-07", "2026-09-15", GroupBy.TERM),
    (Scope.SCHOOL, "s1", "2026-09-07", "2026-09-15", GroupBy.DAY),
]


def ingest(engine, recs: list[dict]) -> None:
    TelemetryWriter(engine).ingest(
        parse_records_payload(orjson.dumps({"v": 1, "agent": "a1", "school": "s1", "records": recs})), "test"
    )


def campus(store_url: str, days: list[str], recs: list[dict]):
    """School s1 (district d1) with pc1, pc2 in lab1 and pc3 in lab2, teaching `days`, and these records."""
    engine = make_engine(store_url)
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        inventory.put_school(s, "s1", {"name": "s1", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
        inventory.put_agent(s, "a1", "s1")
        for d, room in (("pc1", "lab1"), ("pc2", "lab1"), ("pc3", "lab2")):
            inventory.put_device(s, "s1", d, {"agent": "a1", "room": room, "kind": "lab_pc"})
        for day in days:
            inventory.put_calendar_day(s, "s1", day, PERIODS)
    for i in range(0, len(recs), 5000):
        ingest(engine, recs[i : i + 5000])
    return engine


@pytest.fixture
def engine(store_url):
    engine = campus(store_url, DAYS, week_of_heartbeats())
    yield engine
    engine.dispose()


def figures(engine, queries: list = QUERIES, now_ms: int = NOW) -> list:
    with Session(engine) as s:
        return [utilization(s, sc, i, f, t, g, now_ms=now_ms) for sc, i, f, t, g in queries]


def from_segments_only(engine, queries: list = QUERIES, now_ms: int = NOW) -> list:
    """The same figures with every rollup ignored (deleted inside a transaction that is rolled back)."""
    with Session(engine) as s:
        s.execute(delete(RolledDay))
        s.execute(delete(RollupCoverage))
        out = [utilization(s, sc, i, f, t, g, now_ms=now_ms) for sc, i, f, t, g in queries]
        s.rollback()
    return out


def rolled(engine) -> set[str]:
    with Session(engine) as s:
        stale = set(s.scalars(select(StaleDay.day)))
        return set(s.scalars(select(RolledDay.day))) - stale


def test_rollups_give_the_figures_of_the_segments(engine):
    live = figures(engine)
    assert live[0][0]["in_use_s"] > 0 and live[0][0]["sessions"] > 0
    rebuild(engine, date(2026, 9, 1), date(2026, 9, 19))
    assert rolled(engine) >= set(DAYS)
    with Session(engine) as s:
        assert (
            s.scalar(
                select(DeviceDayRollup.continues_from).where(
                    DeviceDayRollup.device == "pc3", DeviceDayRollup.day == "2026-09-09"
                )
            )
            == "2026-09-08"
        )
    assert figures(engine) == live
    with Session(engine) as s:  # whole past days are answered from the rollups alone
        s.execute(delete(StateSegment))
        sc, i, f, t, g = QUERIES[0]
        assert utilization(s, sc, i, f, t, g, now_ms=NOW) == live[0]
        s.rollback()


def test_a_late_record_makes_its_day_stale_until_it_is_recomputed(engine):
    rebuild(engine, date(2026, 9, 1), date(2026, 9, 19))
    late = {
        "type": "state",
        "seq": len(week_of_heartbeats()),
        "ts": "2026-09-10T09:10:00+08:00",
        "device": "pc2",
        "state": "in_use",
        "valid_s": 3600,
    }  # next in seq, days late in time
    ingest(engine, [late])
    assert "2026-09-10" not in rolled(engine)
    assert figures(engine) == from_segments_only(engine)
    assert refresh_stale(engine, now_ms=NOW) >= 1
    assert "2026-09-10" in rolled(engine)
    assert figures(engine) == from_segments_only(engine)
    assert figures(engine)[0][0]["approximate_s"] > 0, "the late record's inferred time is in the rollups too"


def test_records_settled_when_a_gap_is_declared_lost_make_their_days_stale(engine):
    rebuild(engine, date(2026, 9, 1), date(2026, 9, 19))
    behind_gap = {
        "type": "state",
        "seq": len(week_of_heartbeats()) + 1,
        "ts": "2026-09-09T14:05:00+08:00",
        "device": "pc1",
        "state": "in_use",
        "valid_s": 1800,
    }  # one seq missing before it
    ingest(engine, [behind_gap])
    assert "2026-09-09" in rolled(engine), "a record waiting behind a gap changes nothing yet"
    assert TelemetryWriter(engine, reorder_window_s=0).settle_stale_gaps() == 1
    assert "2026-09-09" not in rolled(engine)
    refresh_stale(engine, now_ms=NOW)
    assert figures(engine) == from_segments_only(engine)


def test_a_heartbeat_moving_a_segments_end_makes_its_day_stale(engine):
    rebuild(engine, date(2026, 9, 1), date(2026, 9, 19))
    seq = len(week_of_heartbeats())
    ingest(
        engine,
        [
            {
                "type": "state",
                "seq": seq,
                "ts": "2026-09-15T23:00:00+08:00",
                "device": "pc3",
                "state": "in_use",
                "valid_s": 7200,
            }
        ],
    )
    refresh_stale(engine, now_ms=NOW)
    assert {"2026-09-15", "2026-09-16"} <= rolled(engine)
    # the same state again, valid for a minute only: the segment now ends at 23:31, not at 01:00 the next day
    ingest(
        engine,
        [
            {
                "type": "state",
                "seq": seq + 1,
                "ts": "2026-09-15T23:30:00+08:00",
                "device": "pc3",
                "state": "in_use",
                "valid_s": 60,
            }
        ],
    )
    assert {"2026-09-15", "2026-09-16"} & rolled(engine) == set()
    refresh_stale(engine, now_ms=NOW)
    assert figures(engine) == from_segments_only(engine)


def test_calendar_and_device_changes_make_days_stale(engine):
    rebuild(engine, date(2026, 9, 1), date(2026, 9, 19))
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        inventory.delete_calendar_day(s, "s1", "2026-09-08")
    assert {"2026-09-08", "2026-09-09"} & rolled(engine) == set(), "the day and the next teaching day"
    assert figures(engine) == from_segments_only(engine)
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        inventory.put_device(s, "s1", "pc4", {"agent": "a1", "room": "lab2", "kind": "lab_pc"})
    assert rolled(engine) == set()
    refresh_stale(engine, now_ms=NOW)
    assert figures(engine) == from_segments_only(engine)


def test_new_days_are_rolled_up_as_they_end_and_join_the_coverage(engine):
    assert advance(engine, now_ms=parse_ts("2026-09-15T08:00:00+08:00")) == 1  # no coverage yet: yesterday only
    with Session(engine) as s:
        assert s.get(RollupCoverage, "s1").first_day == "2026-09-14"
    rebuild(engine, date(2026, 9, 1), date(2026, 9, 13))
    assert advance(engine, now_ms=NOW) == 5  # 09-15 .. 09-19
    with Session(engine) as s:
        row = s.get(RollupCoverage, "s1")
        assert (row.first_day, row.last_day) == ("2026-09-01", "2026-09-19")
    assert figures(engine) == from_segments_only(engine)


def test_rebuild_command_shows_progress_and_counts(engine, store_url):
    r = CliRunner().invoke(
        cli, ["metrics", "rebuild", "--from", "2026-09-07", "--to", "2026-09-14", "--store", store_url]
    )
    assert r.exit_code == 0, r.output
    assert "1 schools, 18 device-days rolled up" in r.output  # 6 teaching days × 3 devices


AUTUMN = ["2026-09-28", "2026-09-29", "2026-09-30", "2026-10-08", "2026-10-09", "2026-10-10"]  # 10-10: make-up day
ACROSS_MONTHS = [  # month rows whole or ragged at either end, one month and two
    (Scope.CITY, "", "2026-09-28", "2026-10-10", None),
    (Scope.SCHOOL, "s1", "2026-09-29", "2026-10-11", None),
    (Scope.DISTRICT, "d1", "2026-09-01", "2026-11-01", GroupBy.SCHOOL),
    (Scope.CITY, "", "2026-09-30", "2026-10-09", GroupBy.DISTRICT),
    (Scope.SCHOOL, "s1", "2026-10-01", "2026-11-01", None),
    (Scope.SCHOOL, "s1", "2026-10-08", "2026-10-10", None),
    (Scope.SCHOOL, "s1", "2026-10-09", "2026-10-10", None),
]


def test_ranges_across_months_read_month_rows_and_day_rows_to_the_same_figures(store_url):
    recs = heartbeats("2026-09-27T20:00:00+08:00", 14, 180, ("2026-09-30T15:00:00+08:00", "2026-10-08T09:30:00+08:00"))
    engine = campus(store_url, AUTUMN, recs)
    now = parse_ts("2026-11-05T00:00:00+08:00")
    try:
        live = from_segments_only(engine, ACROSS_MONTHS, now)
        rebuild(engine, date(2026, 9, 1), date(2026, 11, 4))
        with Session(engine) as s:
            months = {(m.month, m.first_day, m.last_day) for m in s.scalars(select(SchoolMonthRollup))}
        assert months == {("2026-09", "2026-09-28", "2026-09-30"), ("2026-10", "2026-10-08", "2026-10-10")}
        assert figures(engine, ACROSS_MONTHS, now) == live
        with Session(engine) as s:  # pc3's session runs over the holiday: October's first day continues it
            assert (
                s.scalar(
                    select(DeviceDayRollup.continues_from).where(
                        DeviceDayRollup.device == "pc3", DeviceDayRollup.day == "2026-10-08"
                    )
                )
                == "2026-09-30"
            )
        with Session(engine) as s:  # a whole month is read from its month row alone
            s.execute(delete(SchoolDayRollup).where(SchoolDayRollup.day < "2026-10-01"))
            assert utilization(s, *ACROSS_MONTHS[2], now_ms=now) == live[2]
            s.rollback()
    finally:
        engine.dispose()


def test_one_school_whose_rollup_fails_holds_up_no_other(engine):
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        inventory.put_school(s, "s2", {"name": "s2", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
        for day in DAYS:
            inventory.put_calendar_day(s, "s2", day, PERIODS)
        for school in ("s1", "s2"):
            for day in DAYS:
                s.merge(StaleDay(school=school, day=day, marked=1))

    # Fault injection: no school's data is known to make its rollup fail, so a hook on the real store fails the
    # statements that write s1's day rows, as a bug or a corrupt page would.
    def fail_for_s1(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if "rollups" in statement and "INSERT" in statement.upper() and "'s1'" in repr(parameters):
            raise RuntimeError("injected failure for school s1")

    event.listen(engine, "before_cursor_execute", fail_for_s1)
    try:
        assert refresh_stale(engine, now_ms=NOW) >= len(DAYS), "s2's days, though s1's failed before them"
    finally:
        event.remove(engine, "before_cursor_execute", fail_for_s1)
    with Session(engine) as s:
        assert set(s.scalars(select(StaleDay.school))) == {"s1"}, "s1's days wait for the next run"
    assert refresh_stale(engine, now_ms=NOW) >= len(DAYS)
    with Session(engine) as s:
        assert s.scalars(select(StaleDay)).all() == []
