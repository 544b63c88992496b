"""Folding one agent's state facts into its devices' segments within a session, noting the days it touches."""

from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from campuspulse.server.ledger.schema import StateSegment
from campuspulse.server.ledger.stale_days import day_window, local_days
from campuspulse.server.ledger.state_segments import Segment, StateFact, apply_state


@dataclass(frozen=True, slots=True)
class Fact:
    """A record as the ledger folds it."""

    seq: int
    type: str
    device: str
    ts_ms: int
    state: str | None
    valid_s: int | None


_FIELDS = ("state", "start_ms", "end_ms", "last_ts_ms", "first_seq", "last_seq", "records")


class SegmentFolder:
    """Folds one agent's state facts into its devices' segments within a session.

    Records that extend the newest segment of a device (nearly all of them) are folded into plain
    working copies; `sync()` writes the copies back as row changes, once per transaction. A record
    older than the newest segment is folded directly on the rows in the database.
    """

    def __init__(self, s: Session, school: str, agent: str) -> None:
        self.s, self.school, self.agent = s, school, agent
        self._last: dict[str, Segment | None] = {}
        self._work: dict[str, list[Segment]] = defaultdict(list)
        self._rows: dict[int, StateSegment] = {}
        self.wanted: set[str] = set()
        self._touched: list[tuple[int, int]] = []

    def _touch(self, *segments: Any) -> None:
        self._touched.extend((g.start_ms, g.end_ms) for g in segments if g is not None)

    def touched_days(self, tz: ZoneInfo) -> set[str]:
        """The local days whose figures the folded facts may have changed."""
        days: set[str] = set()
        window = (0, 0)
        for lo, hi in self._touched:
            if window[0] <= lo and hi <= window[1]:
                continue
            spanned = local_days(lo, hi, tz)
            days.update(spanned)
            window = day_window(spanned[-1], tz)
            if not (window[0] <= lo and hi <= window[1]):
                window = (0, 0)
        return days

    def _copy(self, row: StateSegment) -> Segment:
        seg = Segment(*(getattr(row, f) for f in _FIELDS))
        self._rows[id(seg)] = row
        self._work[row.device].append(seg)
        return seg

    def preload(self, devices: set[str]) -> None:
        """Fetch the newest segment of each of these devices in one query."""
        todo = devices - self._last.keys()
        if not todo:
            return
        newer = aliased(StateSegment)
        newest = (
            select(func.max(newer.start_ms))
            .where(newer.school == StateSegment.school, newer.device == StateSegment.device)
            .scalar_subquery()
        )
        found = self.s.scalars(
            select(StateSegment).where(
                StateSegment.school == self.school, StateSegment.device.in_(todo), StateSegment.start_ms == newest
            )
        )
        self._last.update({d: None for d in todo})
        self._last.update({g.device: self._copy(g) for g in found})

    def _query(self, device: str) -> Any:
        return select(StateSegment).where(StateSegment.school == self.school, StateSegment.device == device)

    def fold(self, f: Fact) -> None:
        assert f.state is not None and f.valid_s is not None
        fact = StateFact(f.seq, f.ts_ms, f.state, f.valid_s * 1000)
        if f.device not in self._last:
            self.preload({f.device})
        last = self._last[f.device]
        self._touched.append((f.ts_ms, f.ts_ms + fact.valid_ms))
        if last is None or last.start_ms <= f.ts_ms:
            self._touch(last)
            change = apply_state(last, None, fact)
            self._touch(*change.removed, *change.created)
            work = self._work[f.device]
            for seg in change.removed:
                work.remove(seg)  # type: ignore[arg-type]
                row = self._rows.pop(id(seg), None)
                if row is not None:
                    self.s.delete(row)
            work.extend(change.created)  # type: ignore[arg-type]
            alive = [g for g in (last, *change.created) if g is not None and g not in change.removed]
            self._last[f.device] = max(alive, key=lambda g: g.start_ms) if alive else None  # type: ignore[arg-type]
            return
        self.sync()
        for seg in self._work.pop(f.device, []):
            self._rows.pop(id(seg), None)
        del self._last[f.device]
        prev = self.s.scalar(
            self._query(f.device)
            .where(StateSegment.start_ms <= f.ts_ms)
            .order_by(StateSegment.start_ms.desc())
            .limit(1)
        )
        nxt = self.s.scalar(
            self._query(f.device).where(StateSegment.start_ms > f.ts_ms).order_by(StateSegment.start_ms).limit(1)
        )
        self._touch(prev, nxt)
        change = apply_state(
            prev, nxt, fact, partial(StateSegment, school=self.school, device=f.device, agent=self.agent)
        )
        self._touch(*change.removed, *change.created)
        for seg in change.removed:
            self.s.delete(seg)
        self.s.add_all(change.created)  # type: ignore[arg-type]
        self.s.flush()

    def sync(self) -> None:
        """Write the working copies back to their rows (new rows for new segments)."""
        for device, segs in self._work.items():
            for seg in segs:
                row = self._rows.get(id(seg))
                if row is None:
                    row = StateSegment(school=self.school, device=device, agent=self.agent,
                                       **{f: getattr(seg, f) for f in _FIELDS})  # fmt: skip
                    self.s.add(row)
                    self._rows[id(seg)] = row
                    continue
                for name in _FIELDS:
                    value = getattr(seg, name)
                    if getattr(row, name) != value:
                        setattr(row, name, value)
