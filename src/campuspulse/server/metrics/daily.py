"""Utilization day by day: a school's teaching days as UTC windows, and each device's figures for one day.

Both the daily rollups and the live part of a query use these, so a sum of days equals the direct figure:
sessions that run on from one teaching day into the next are flagged (`continues_from`) and counted once.
"""

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from campuspulse.server.metrics.available_time import local_ms
from campuspulse.server.metrics.utilization import Interval, UtilizationFigures, continues_before, device_utilization

ROLLUP_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class TeachingDay:
    """One local teaching day: its periods (clipped to a query range), and the previous teaching day."""

    day: str
    periods: list[tuple[int, int]]
    prev_day: str | None
    boundary_ms: int | None  # end of the previous teaching day's last period
    start_ms: int  # local midnight
    end_ms: int  # next local midnight

    @property
    def lower_ms(self) -> int:
        """From when segments matter to this day's figures."""
        return min(self.start_ms, self.boundary_ms) if self.boundary_ms is not None else self.start_ms


def teaching_days(
    calendar: Mapping[str, Sequence[Sequence[str]]],
    tz: ZoneInfo,
    first: date,
    last: date,
    clip: tuple[int, int] | None = None,
) -> list[TeachingDay]:
    """The teaching days from `first` to `last` with their periods (clipped to `clip`, dropped if none remain)."""
    ordered = sorted(d for d, periods in calendar.items() if periods)
    out = []
    for day in ordered[bisect.bisect_left(ordered, first.isoformat()) : bisect.bisect_right(ordered, last.isoformat())]:
        d = date.fromisoformat(day)
        periods = [(local_ms(d, a, tz), local_ms(d, b, tz)) for a, b in calendar[day]]
        if clip is not None:
            periods = [(max(p0, clip[0]), min(p1, clip[1])) for p0, p1 in periods]
            periods = [(p0, p1) for p0, p1 in periods if p0 < p1]
            if not periods:
                continue
        i = bisect.bisect_left(ordered, day)
        prev = ordered[i - 1] if i > 0 else None
        boundary = local_ms(date.fromisoformat(prev), calendar[prev][-1][1], tz) if prev else None
        out.append(
            TeachingDay(
                day, periods, prev, boundary, local_ms(d, "00:00", tz), local_ms(d + timedelta(days=1), "00:00", tz)
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class DeviceSegments:
    """A device's segments, sorted and disjoint, with their bounds for bisecting."""

    intervals: list[Interval]
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, intervals: list[Interval]) -> "DeviceSegments":
        """Index `intervals` (sorted by start)."""
        return cls(intervals, [i.start_ms for i in intervals], [i.end_ms for i in intervals])

    def between(self, lo: int, hi: int) -> list[Interval]:
        """The intervals that end at or after `lo` and start before `hi`."""
        return self.intervals[bisect.bisect_left(self.ends, lo) : bisect.bisect_left(self.starts, hi)]


def device_day(
    segs: DeviceSegments, td: TeachingDay, period_threshold: float = ROLLUP_THRESHOLD
) -> tuple[UtilizationFigures, str | None]:
    """A device's figures for one teaching day, and the previous teaching day its first session continues."""
    intervals = segs.between(td.lower_ms, td.end_ms)
    fig = device_utilization(intervals, td.periods, period_threshold)
    continues = None
    if fig.sessions and td.boundary_ms is not None and continues_before(intervals, td.periods, td.boundary_ms):
        continues = td.prev_day
    return fig, continues
