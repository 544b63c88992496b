"""Utilization of one device over its available time: pure interval arithmetic (domain.md).

All times are integer milliseconds since the epoch; figures come out in seconds.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IN_USE = "in_use"


@dataclass(frozen=True, slots=True)
class Interval:
    """A state held over `[start_ms, end_ms)`; inferred, not recorded, over `[approx_start_ms, approx_end_ms)`."""

    start_ms: int
    end_ms: int
    state: str
    approx_start_ms: int = 0
    approx_end_ms: int = 0


@dataclass(slots=True)
class UtilizationFigures:
    """The additive parts of utilization; ratios are derived so that roll-ups pool seconds.

    `approximate_ms` is the part of `known_ms` whose state the store inferred around very late records.
    """

    available_ms: int = 0
    in_use_ms: int = 0
    known_ms: int = 0
    approximate_ms: int = 0
    sessions: int = 0
    used_periods: int = 0
    available_periods: int = 0
    devices: int = 0
    devices_used: int = 0

    def add(self, other: "UtilizationFigures") -> None:
        """Pool another device's or group's figures into these."""
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_row(self, key: str) -> dict[str, object]:
        """The API's row: seconds and the three ratios (None where the denominator is 0)."""
        a, u, k = self.available_ms, self.in_use_ms, self.known_ms
        return {
            "key": key,
            "available_s": a / 1000,
            "in_use_s": u / 1000,
            "known_s": k / 1000,
            "approximate_s": self.approximate_ms / 1000,
            "utilization": round(u / a, 6) if a else None,
            "utilization_known": round(u / k, 6) if k else None,
            "coverage": round(k / a, 6) if a else None,
            "sessions": self.sessions,
            "used_periods": self.used_periods,
            "available_periods": self.available_periods,
            "devices": self.devices,
            "devices_used": self.devices_used,
        }


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def _runs(intervals: Iterable[Interval]) -> list[tuple[int, int]]:
    """Maximal in_use runs: in_use intervals that touch or overlap are one run."""
    runs: list[tuple[int, int]] = []
    for iv in intervals:
        if iv.state != IN_USE or iv.end_ms <= iv.start_ms:
            continue
        if runs and iv.start_ms <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], iv.end_ms))
        else:
            runs.append((iv.start_ms, iv.end_ms))
    return runs


def device_utilization(
    intervals: Sequence[Interval], periods: Sequence[tuple[int, int]], period_threshold: float = 0.5
) -> UtilizationFigures:
    """Figures of one device: `intervals` sorted and disjoint, `periods` sorted and disjoint (A)."""
    fig = UtilizationFigures(devices=1, available_periods=len(periods))
    fig.available_ms = sum(p1 - p0 for p0, p1 in periods)
    runs = _runs(intervals)
    i = 0
    for p0, p1 in periods:
        while i < len(intervals) and intervals[i].end_ms <= p0:
            i += 1
        in_use = 0
        j = i
        while j < len(intervals) and intervals[j].start_ms < p1:
            iv = intervals[j]
            ov = _overlap(iv.start_ms, iv.end_ms, p0, p1)
            fig.known_ms += ov
            if iv.approx_end_ms > iv.approx_start_ms:
                a0, a1 = max(iv.approx_start_ms, iv.start_ms), min(iv.approx_end_ms, iv.end_ms)
                fig.approximate_ms += _overlap(a0, a1, p0, p1)
            if iv.state == IN_USE:
                in_use += ov
            j += 1
        fig.in_use_ms += in_use
        if in_use and in_use >= period_threshold * (p1 - p0):
            fig.used_periods += 1
    k = 0
    for r0, r1 in runs:
        while k < len(periods) and periods[k][1] <= r0:
            k += 1
        if k < len(periods) and periods[k][0] < r1:
            fig.sessions += 1
    fig.devices_used = 1 if fig.in_use_ms > 0 else 0
    return fig


def continues_before(intervals: Sequence[Interval], periods: Sequence[tuple[int, int]], boundary_ms: int) -> bool:
    """Whether the first in_use run that overlaps `periods` began before `boundary_ms`.

    With `boundary_ms` the end of the previous teaching day's last period, such a run overlapped that day's
    available time as well: it is the same session, counted once when days are added up.
    `intervals` must reach back to `boundary_ms`.
    """
    for r0, r1 in _runs(intervals):
        if any(p0 < r1 and r0 < p1 for p0, p1 in periods):
            return r0 < boundary_ms
    return False
