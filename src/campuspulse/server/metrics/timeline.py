"""A device's states over a window as contiguous pieces, the time no record covers named `unknown`."""

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from campuspulse.server.errors import NotFound
from campuspulse.server.metrics.available_time import bound_ms
from campuspulse.server.metrics.rollups import school_segments
from campuspulse.store.schema import Device, School
from campuspulse.telemetry import ContractError, format_ts

MAX_SPAN_MS = 32 * 86400_000


def window(s: Session, school: str, device: str, from_: str, to: str, now_ms: int) -> tuple[int, int]:
    """[from, min(to, now)) of a registered device in ms (dates in its school's zone), at most 32 days long."""
    if s.get(Device, (school, device)) is None:
        raise NotFound(f"device {device!r} of school {school!r} is not registered")
    sc = s.get(School, school)
    assert sc is not None  # a device's school exists
    tz = ZoneInfo(sc.tz)
    f_ms, t_ms = bound_ms(from_, tz), bound_ms(to, tz)
    if not 0 < t_ms - f_ms <= MAX_SPAN_MS:
        raise ContractError("a timeline covers more than nothing and at most 32 days: check from and to")
    return f_ms, max(min(t_ms, now_ms), f_ms)


def device_timeline(s: Session, school: str, device: str, from_: str, to: str, now_ms: int) -> dict[str, Any]:
    """Pieces `{state, start, end, approximate}` covering [from, min(to, now)) without gaps, the seconds per state,
    and the seconds whose state was inferred around very late records (`approximate_s`)."""
    f_ms, t_ms = window(s, school, device, from_, to, now_ms)
    tz_name = s.get(School, school).tz  # type: ignore[union-attr]
    pieces: list[dict[str, Any]] = []
    at = f_ms
    segs = school_segments(s, school, f_ms, t_ms, [device]).get(device)
    for iv in segs.intervals if segs else []:
        a, b = max(iv.start_ms, at), min(iv.end_ms, t_ms)
        if b <= a:
            continue
        if a > at:
            pieces.append(_piece("unknown", at, a))
        x0, x1 = max(iv.approx_start_ms, a), min(iv.approx_end_ms, b)
        if x0 < x1:
            for lo, hi, approximate in ((a, x0, False), (x0, x1, True), (x1, b, False)):
                if lo < hi:
                    pieces.append(_piece(iv.state, lo, hi, approximate))
        else:
            pieces.append(_piece(iv.state, a, b))
        at = b
    if at < t_ms:
        pieces.append(_piece("unknown", at, t_ms))
    seconds: dict[str, float] = {}
    for p in pieces:
        seconds[p["state"]] = seconds.get(p["state"], 0) + (p["end_ms"] - p["start_ms"]) / 1000
    return {
        "school": school,
        "device": device,
        "tz": tz_name,
        "from": format_ts(f_ms),
        "to": format_ts(t_ms),
        "pieces": pieces,
        "seconds": seconds,
        "approximate_s": sum(p["end_ms"] - p["start_ms"] for p in pieces if p["approximate"]) / 1000,
    }


def _piece(state: str, a: int, b: int, approximate: bool = False) -> dict[str, Any]:
    return {
        "state": state,
        "start": format_ts(a),
        "end": format_ts(b),
        "start_ms": a,
        "end_ms": b,
        "approximate": approximate,
    }
