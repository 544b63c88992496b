"""Migrations on stores that already hold data: what a data migration writes equals what the application writes."""

import random
from pathlib import Path

import pytest
from sqlalchemy import column, insert, select, table, text
from sqlalchemy.orm import Session

from campuspulse.server.metrics.month_rollups import refresh_all_months
from campuspulse.store.db import make_engine, upgrade
from campuspulse.store.rollup_schema import SchoolMonthRollup
from campuspulse.store.schema import AgentProgress
from tests.support.scratch_db import scratch_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with scratch_database("cp_mig") as url:
        yield url


def _day_rows(rnd: random.Random) -> list[dict]:
    rows = []
    for school in ("s1", "s2"):
        for month, days in (("2026-09", range(1, 31)), ("2026-10", range(8, 32)), ("2026-11", range(2, 4))):
            for d in rnd.sample(list(days), k=min(12, len(days))):
                width = rnd.choice([0, 3, 7, 12])
                rows.append(
                    {
                        "school": school,
                        "day": f"{month}-{d:02d}",
                        "available_ms": rnd.randrange(10**9),
                        "in_use_ms": rnd.randrange(10**8),
                        "known_ms": rnd.randrange(10**9),
                        "sessions": rnd.randrange(50),
                        "used_periods": rnd.randrange(40),
                        "available_periods": rnd.randrange(40, 80),
                        "continued": rnd.randrange(3),
                        "devices": width,
                        "used_bits": "".join(rnd.choice("01") for _ in range(width)),
                    }
                )
    return rows


def _months(engine) -> list[tuple]:
    m = SchoolMonthRollup
    with Session(engine) as s:
        q = select(
            m.school,
            m.month,
            m.first_day,
            m.last_day,
            m.available_ms,
            m.in_use_ms,
            m.known_ms,
            m.sessions,
            m.used_periods,
            m.available_periods,
            m.continued,
            m.first_continued,
            m.devices,
            m.used_bits,
        )
        return sorted(tuple(str(v) for v in row) for row in s.execute(q.order_by(m.school, m.month)))


def test_month_rollups_migration_fills_the_months_the_application_would(empty_store_url):
    engine = make_engine(empty_store_url)
    upgrade(engine, "0009")
    rows = _day_rows(random.Random(7))
    day_table = table("school_day_rollups", *(column(name) for name in rows[0]))  # the columns 0009 knows
    with Session(engine) as s, s.begin():
        s.execute(insert(day_table), rows)
    upgrade(engine)  # 0010 fills the month rows from the day rows already there
    migrated = _months(engine)
    with Session(engine) as s, s.begin():
        s.query(SchoolMonthRollup).delete()
        refresh_all_months(s)
    assert len(migrated) == 6
    assert migrated == _months(engine)
    engine.dispose()


def test_the_epochs_migration_keeps_every_agents_progress_in_the_epoch_before_epochs(empty_store_url):
    engine = make_engine(empty_store_url)
    upgrade(engine, "0014")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO agent_progress (agent, watermark, max_seq) VALUES ('a1', 41, 50)"))
        conn.execute(
            text(
                "INSERT INTO pending_records (agent, seq, school, type, device, ts_ms) "
                "VALUES ('a1', 50, 's1', 'reading', 'd1', 1788739200000)"
            )
        )
        conn.execute(text("INSERT INTO seq_gaps (agent, first_seq, last_seq, reason) VALUES ('a1', 3, 4, 'lost')"))
        conn.execute(
            text("INSERT INTO clock_skew (agent, seq, device, ts_ms, received_ms) VALUES ('a1', 7, 'd1', 1, 0)")
        )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT agent, epoch, watermark, max_seq FROM agent_progress")).all() == [
            ("a1", "", 41, 50)
        ]
        for table, key in (("pending_records", "seq"), ("seq_gaps", "first_seq"), ("clock_skew", "seq")):
            assert conn.execute(text(f"SELECT agent, epoch, {key} FROM {table}")).all() != []
            assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE epoch = ''")).scalar() == 1
    with Session(engine) as s, s.begin():  # a second epoch of the same agent, with the same seqs
        s.add(AgentProgress(agent="a1", epoch="e2", watermark=41, max_seq=50))
    engine.dispose()
