"""Folding state records into state segments: pure interval logic, no I/O.

A segment is a maximal run of one state of one device, `[start_ms, end_ms)`, where `end_ms` is
`min(last record's ts + valid_s, next record's ts)` (contract.md). Records folded in their ts order
give exactly the segments of in-order delivery; `apply_state` also accepts a record older than the
last one of its segment (a very late record) and then splits that segment, assuming the segment's
state resumes when the late record's validity ends (the heartbeats that would tell have been folded).
That guess is marked: each segment carries an approximate span `[approx_start_ms, approx_end_ms)` (empty
when equal), the time around a late record whose state was inferred rather than recorded. The segment's
state heartbeats resume at most one validity after the late record, so the span is the late record's
validity, or the segment's heartbeat validity if longer; merged segments keep the hull of their spans.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class SegmentLike(Protocol):
    """The fields a segment has, as a plain dataclass or as a store row."""

    state: str
    start_ms: int
    end_ms: int
    last_ts_ms: int
    first_seq: int
    last_seq: int
    records: int
    approx_start_ms: int
    approx_end_ms: int


@dataclass(slots=True)
class Segment:
    """An in-memory segment (tests, benchmarks, the metrics engine)."""

    state: str
    start_ms: int
    end_ms: int
    last_ts_ms: int
    first_seq: int
    last_seq: int
    records: int = 1
    approx_start_ms: int = 0
    approx_end_ms: int = 0


@dataclass(frozen=True, slots=True)
class StateFact:
    """What a state record says, in milliseconds."""

    seq: int
    ts_ms: int
    state: str
    valid_ms: int


@dataclass(slots=True)
class Change:
    """Segments a fold created and removed (changed ones are modified in place)."""

    created: list[SegmentLike]
    removed: list[SegmentLike]
    approximate: bool = False


NewSegment = Callable[..., SegmentLike]
_INF = 1 << 62
EXTENDED = Change([], [])  # what a heartbeat extending its newest segment returns; shared: callers only read it


def _touch(seg: SegmentLike, fact: StateFact) -> None:
    seg.first_seq = min(seg.first_seq, fact.seq)
    seg.last_seq = max(seg.last_seq, fact.seq)
    seg.records += 1


def _hull(seg: SegmentLike, start: int, end: int) -> None:
    """Widen the segment's approximate span to cover `[start, end)` (an empty span widens nothing)."""
    if start >= end:
        return
    if seg.approx_start_ms >= seg.approx_end_ms:
        seg.approx_start_ms, seg.approx_end_ms = start, end
    else:
        seg.approx_start_ms = min(seg.approx_start_ms, start)
        seg.approx_end_ms = max(seg.approx_end_ms, end)


def _merge_next(seg: SegmentLike, nxt: SegmentLike | None, change: Change) -> None:
    if nxt is not None and seg.end_ms == nxt.start_ms and seg.state == nxt.state:
        _hull(seg, nxt.approx_start_ms, nxt.approx_end_ms)
        seg.end_ms = nxt.end_ms
        seg.last_ts_ms = nxt.last_ts_ms
        seg.first_seq = min(seg.first_seq, nxt.first_seq)
        seg.last_seq = max(seg.last_seq, nxt.last_seq)
        seg.records += nxt.records
        change.removed.append(nxt)


def apply_state(
    prev: SegmentLike | None, nxt: SegmentLike | None, fact: StateFact, new: NewSegment = Segment
) -> Change:
    """Fold one state record into a device's segments.

    `prev` is the segment with the latest start at or before the record's ts, `nxt` the first one
    starting after it (None when there is none). Modifies them in place and says what to add or delete.
    """
    t, s = fact.ts_ms, fact.state
    if nxt is None and prev is not None and prev.state == s and prev.last_ts_ms <= t <= prev.end_ms:
        # a heartbeat extending the newest segment: by far the commonest case, kept cheap
        prev.last_ts_ms, prev.end_ms = t, t + fact.valid_ms
        if fact.seq < prev.first_seq:
            prev.first_seq = fact.seq
        if fact.seq > prev.last_seq:
            prev.last_seq = fact.seq
        prev.records += 1
        return EXTENDED
    limit = nxt.start_ms if nxt is not None else _INF
    end = min(t + fact.valid_ms, limit)
    change = Change([], [])

    def open_segment(start: int, stop: int, state: str, last_ts: int) -> SegmentLike:
        seg = new(
            state=state,
            start_ms=start,
            end_ms=stop,
            last_ts_ms=last_ts,
            first_seq=fact.seq,
            last_seq=fact.seq,
            records=1,
            approx_start_ms=0,
            approx_end_ms=0,
        )
        change.created.append(seg)
        return seg

    if prev is None or t > prev.end_ms or (t == prev.end_ms and prev.state != s):
        _merge_next(open_segment(t, end, s, t), nxt, change)
    elif prev.state == s:
        _touch(prev, fact)
        if t >= prev.last_ts_ms:
            prev.last_ts_ms = t
            prev.end_ms = end
            _merge_next(prev, nxt, change)
    elif t >= prev.last_ts_ms:
        if t == prev.start_ms:  # every record of prev shares this ts: the later seq decides the state
            prev.state, prev.end_ms, prev.last_ts_ms = s, end, t
            prev.first_seq = prev.last_seq = fact.seq
            prev.records = 1
            _merge_next(prev, nxt, change)
        else:
            prev.end_ms = t
            _merge_next(open_segment(t, end, s, t), nxt, change)
    else:
        change.approximate = True
        tail_end, late_end = prev.end_ms, min(t + fact.valid_ms, prev.end_ms)
        heartbeat_ms = max(prev.end_ms - prev.last_ts_ms, 0)  # the validity of prev's newest record
        guessed_end = min(tail_end, t + max(fact.valid_ms, heartbeat_ms))
        tail = (prev.state, prev.first_seq, prev.last_seq, prev.approx_start_ms, prev.approx_end_ms)
        if t == prev.start_ms:
            prev.state, prev.end_ms, prev.last_ts_ms = s, late_end, t
            prev.first_seq = prev.last_seq = fact.seq
            prev.records = 1
            late = prev
        else:
            prev.end_ms, prev.last_ts_ms = t, prev.start_ms
            late = open_segment(t, late_end, s, t)
        _hull(late, t, late_end)
        if late_end < tail_end:
            rest = new(
                state=tail[0],
                start_ms=late_end,
                end_ms=tail_end,
                last_ts_ms=late_end,
                first_seq=tail[1],
                last_seq=tail[2],
                records=0,
                approx_start_ms=0,
                approx_end_ms=0,
            )
            _hull(rest, max(tail[3], late_end), min(tail[4], tail_end))
            _hull(rest, late_end, guessed_end)
            change.created.append(rest)
    return change


def fold_in_order(facts: list[StateFact]) -> list[Segment]:
    """The segments a device's records imply, by sorting them and folding one by one (reference)."""
    segs: list[Segment] = []
    for fact in sorted(facts, key=lambda f: (f.ts_ms, f.seq)):
        prev = segs[-1] if segs else None
        change = apply_state(prev, None, fact)
        for seg in change.removed:
            segs.remove(seg)  # type: ignore[arg-type]
        segs.extend(change.created)  # type: ignore[arg-type]
    return segs
