"""Day-by-day figures add up to the figure of the whole range, sessions that run across days included."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from campuspulse.server.metrics.daily import DeviceSegments, device_day, teaching_days
from campuspulse.server.metrics.utilization import Interval, UtilizationFigures, device_utilization
from campuspulse.store.state_segments import StateFact, fold_in_order

TZ = ZoneInfo("Asia/Shanghai")
DAY0 = date(2026, 9, 7)
T0 = int(__import__("datetime").datetime(2026, 9, 7, tzinfo=TZ).timestamp() * 1000)
STATES = st.sampled_from(["in_use", "in_use", "idle", "off"])


@st.composite
def days_and_facts(draw):
    calendar = {}
    for i in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            start = draw(st.integers(0, 22))
            calendar[(DAY0 + timedelta(days=i)).isoformat()] = [[f"{start:02d}:00", f"{start + 1:02d}:30"]]
    t, facts = T0 - 6 * 3_600_000, []
    for seq in range(draw(st.integers(0, 60))):
        t += draw(st.integers(0, 6 * 3600)) * 1000
        facts.append(StateFact(seq, t, draw(STATES), draw(st.sampled_from([180, 3600, 86_400])) * 1000))
    return calendar, facts


def test_a_run_through_the_night_is_one_session_over_two_days():
    calendar = {"2026-09-07": [["15:00", "16:00"]], "2026-09-08": [["08:00", "09:00"]]}
    start = T0 + 15 * 3_600_000
    facts = [StateFact(i, start + i * 60_000, "in_use", 180_000) for i in range(18 * 60)]  # 15:00 → 09:00 next day
    segs = DeviceSegments.of([Interval(g.start_ms, g.end_ms, g.state) for g in fold_in_order(facts)])
    tds = teaching_days(calendar, TZ, DAY0, DAY0 + timedelta(days=1))
    (f1, c1), (f2, c2) = (device_day(segs, td) for td in tds)
    assert (f1.sessions, f2.sessions, c1, c2) == (1, 1, None, "2026-09-07")


@settings(max_examples=300, deadline=None)
@given(days_and_facts())
def test_summing_days_equals_the_whole_range(case):
    calendar, facts = case
    intervals = [Interval(g.start_ms, g.end_ms, g.state) for g in fold_in_order(facts)]
    tds = teaching_days(calendar, TZ, DAY0, DAY0 + timedelta(days=4))
    whole = device_utilization(intervals, [p for td in tds for p in td.periods])
    total = UtilizationFigures()
    segs = DeviceSegments.of(intervals)
    for td in tds:
        fig, continues = device_day(segs, td)
        fig.sessions -= 1 if continues is not None and continues >= tds[0].day else 0
        total.add(fig)
    assert (total.available_ms, total.in_use_ms, total.known_ms, total.sessions, total.used_periods) == (
        whole.available_ms,
        whole.in_use_ms,
        whole.known_ms,
        whole.sessions,
        whole.used_periods,
    )
