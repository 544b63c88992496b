"""The interval engine: domain.md's worked example, and agreement with a per-second reference."""

from datetime import date
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from campuspulse.server.metrics.daily import teaching_days
from campuspulse.server.metrics.utilization import Interval, device_utilization
from campuspulse.store.state_segments import Segment, StateFact, apply_state, fold_in_order
from campuspulse.telemetry import parse_ts

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 9, 7)


def worked_example_facts() -> list[StateFact]:
    """07:50 idle, 08:10 in_use, 08:40 idle, 09:05 in_use, each repeated every 60 s; silent after 09:05."""
    changes = [("07:50", "idle"), ("08:10", "in_use"), ("08:40", "idle"), ("09:05", "in_use")]
    facts, seq = [], 0
    for i, (hhmm, state) in enumerate(changes):
        start = parse_ts(f"2026-09-07T{hhmm}:00.000+08:00")
        stop = parse_ts(f"2026-09-07T{changes[i + 1][0]}:00.000+08:00") if i + 1 < len(changes) else start + 1
        for t in range(start, stop, 60_000):
            facts.append(StateFact(seq, t, state, 180_000))
            seq += 1
    return facts


def test_worked_example_of_domain_doc_comes_out_exactly():
    segs = fold_in_order(worked_example_facts())
    assert [(s.state, s.records) for s in segs] == [("idle", 20), ("in_use", 30), ("idle", 25), ("in_use", 1)]
    (day,) = teaching_days({"2026-09-07": [["08:00", "08:45"], ["09:00", "09:45"]]}, TZ, MONDAY, MONDAY)
    fig = device_utilization([Interval(s.start_ms, s.end_ms, s.state) for s in segs], day.periods)
    row = fig.as_row("s1/pc1")
    assert row["available_s"] == 5400
    assert row["in_use_s"] == 1980
    assert row["known_s"] == 3180
    assert row["utilization"] == 0.366667
    assert row["coverage"] == 0.588889
    assert row["utilization_known"] == 0.622642
    assert (row["sessions"], row["used_periods"], row["available_periods"]) == (2, 1, 2)


def test_heartbeats_extend_one_segment_instead_of_adding_rows():
    facts = [StateFact(i, i * 60_000, "in_use", 180_000) for i in range(1000)]
    segs = fold_in_order(facts)
    assert len(segs) == 1
    assert (segs[0].start_ms, segs[0].end_ms, segs[0].records) == (0, 999 * 60_000 + 180_000, 1000)


def test_a_silent_device_becomes_unknown_not_off():
    facts = [StateFact(0, 0, "in_use", 180_000), StateFact(1, 600_000, "in_use", 180_000)]
    segs = fold_in_order(facts)
    assert [(s.start_ms, s.end_ms) for s in segs] == [(0, 180_000), (600_000, 780_000)]
    fig = device_utilization([Interval(s.start_ms, s.end_ms, s.state) for s in segs], [(0, 1_000_000)])
    assert (fig.in_use_ms, fig.known_ms, fig.sessions) == (360_000, 360_000, 2)


def test_period_boundaries_across_local_midnight_use_the_school_zone():
    (day,) = teaching_days({"2026-09-07": [["23:30", "24:00"]]}, TZ, MONDAY, MONDAY)
    assert day.periods == [(parse_ts("2026-09-07T15:30:00Z"), parse_ts("2026-09-07T16:00:00Z"))]
    assert (day.start_ms, day.end_ms) == (parse_ts("2026-09-06T16:00:00Z"), parse_ts("2026-09-07T16:00:00Z"))


STATES = st.sampled_from(["in_use", "idle", "off", "fault"])


@st.composite
def streams(draw):
    n = draw(st.integers(0, 40))
    t, facts = 0, []
    for seq in range(n):
        t += draw(st.integers(0, 400))
        facts.append(StateFact(seq, t * 1000, draw(STATES), draw(st.integers(1, 300)) * 1000))
    periods, p = [], 0
    for _ in range(draw(st.integers(0, 6))):
        p += draw(st.integers(0, 3000))
        length = draw(st.integers(1, 3000))
        periods.append((p * 1000, (p + length) * 1000))
        p += length
    return facts, periods


def reference(facts, periods, threshold=0.5):
    """Per-second brute force of domain.md's definitions."""
    state_at: dict[int, str] = {}
    ordered = sorted(facts, key=lambda f: (f.ts_ms, f.seq))
    for i, f in enumerate(ordered):
        nxt = ordered[i + 1].ts_ms if i + 1 < len(ordered) else None
        end = f.ts_ms + f.valid_ms if nxt is None else min(nxt, f.ts_ms + f.valid_ms)
        for sec in range(f.ts_ms // 1000, end // 1000):
            state_at[sec] = f.state
    in_use = known = used = sessions = 0
    avail = set()
    for p0, p1 in periods:
        u = 0
        for sec in range(p0 // 1000, p1 // 1000):
            avail.add(sec)
            if sec in state_at:
                known += 1
                if state_at[sec] == "in_use":
                    u += 1
        in_use += u
        used += 1 if u and u >= threshold * (p1 - p0) / 1000 else 0
    run_hits, prev_in_use = False, False
    for sec in range(0, max([*list(state_at), 0]) + 2):
        cur = state_at.get(sec) == "in_use"
        if cur and not prev_in_use:
            run_hits = False
        if cur and sec in avail:
            run_hits = True
        if prev_in_use and not cur and run_hits:
            sessions += 1
        prev_in_use = cur
    return in_use * 1000, known * 1000, used, sessions


@settings(max_examples=300, deadline=None)
@given(streams())
def test_engine_equals_a_per_second_reference(stream):
    facts, periods = stream
    segs = fold_in_order(facts)
    fig = device_utilization([Interval(s.start_ms, s.end_ms, s.state) for s in segs], periods)
    assert (fig.in_use_ms, fig.known_ms, fig.used_periods, fig.sessions) == reference(facts, periods)


def _approximate(segs) -> list[tuple[str, int, int]]:
    """(state, start, end) of each segment's non-empty approximate span, clipped to the segment."""
    out = []
    for g in segs:
        a, b = max(g.approx_start_ms, g.start_ms), min(g.approx_end_ms, g.end_ms)
        if a < b:
            out.append((g.state, a, b))
    return out


def _fold_late(facts: list[StateFact], late: StateFact) -> list[Segment]:
    """Fold `facts` in order, then `late` as the store does for a record that came after the reorder window."""
    segs = fold_in_order(facts)
    i = max(i for i, g in enumerate(segs) if g.start_ms <= late.ts_ms)
    change = apply_state(segs[i], segs[i + 1] if i + 1 < len(segs) else None, late)
    for g in change.removed:
        segs.remove(g)
    return sorted([*segs, *change.created], key=lambda g: g.start_ms)


def test_in_order_folds_are_never_approximate():
    assert _approximate(fold_in_order(worked_example_facts())) == []


def test_a_late_record_in_another_state_marks_the_time_its_fold_inferred():
    facts = [StateFact(i, i * 60_000, "in_use", 180_000) for i in range(60)]  # in use 0..62 min
    segs = _fold_late(facts, StateFact(99, 20 * 60_000, "idle", 120_000))
    assert [(g.state, g.start_ms, g.end_ms) for g in segs] == [
        ("in_use", 0, 20 * 60_000),
        ("idle", 20 * 60_000, 22 * 60_000),
        ("in_use", 22 * 60_000, 62 * 60_000),
    ]
    # the late record's own 2 minutes, and the in_use heartbeats resume at most their 3 minute validity after it
    assert _approximate(segs) == [("idle", 20 * 60_000, 22 * 60_000), ("in_use", 22 * 60_000, 23 * 60_000)]
    fig = device_utilization(
        [Interval(g.start_ms, g.end_ms, g.state, g.approx_start_ms, g.approx_end_ms) for g in segs], [(0, 3_600_000)]
    )
    assert (fig.known_ms, fig.in_use_ms, fig.approximate_ms) == (3_600_000, 3_480_000, 180_000)
    assert fig.as_row("d")["approximate_s"] == 180


def test_an_approximate_span_survives_heartbeats_and_merges_but_does_not_grow_with_them():
    facts = [StateFact(i, i * 60_000, "in_use", 180_000) for i in range(30)]
    segs = _fold_late(facts, StateFact(99, 10 * 60_000, "idle", 60_000))
    newest = segs[-1]
    for i in range(30, 90):  # an hour of heartbeats extending the tail
        apply_state(newest, None, StateFact(i, i * 60_000, "in_use", 180_000))
    assert newest.end_ms == 89 * 60_000 + 180_000
    assert _approximate(segs) == [("idle", 10 * 60_000, 11 * 60_000), ("in_use", 11 * 60_000, 13 * 60_000)]
    # a late record in its segment's own state infers nothing
    late_same = _fold_late(facts, StateFact(98, 10 * 60_000, "in_use", 180_000))
    assert _approximate(late_same) == []
