"""Local time of a school: query bounds as UTC milliseconds, local dates and local clock times."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campuspulse.telemetry import ContractError, parse_ts

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def local_ms(day: date, hhmm: str, tz: ZoneInfo) -> int:
    """Milliseconds since the epoch of `hhmm` on `day` in the time zone `tz`."""
    h, m = (int(x) for x in hhmm.split(":"))
    if h == 24 and m == 0:
        day, h = day + timedelta(days=1), 0
    return int(datetime.combine(day, time(h, m), tzinfo=tz).timestamp() * 1000)


EARLIEST_MS, LATEST_MS = 0, 253370764800000  # 1970-01-01 and 9999-01-01, UTC


def bound_ms(value: str, tz: ZoneInfo) -> int:
    """A query bound: an RFC 3339 time, or a date read as local midnight in the school's zone (1970 to 9998)."""
    if _DATE.match(value):
        try:
            ms = local_ms(date.fromisoformat(value), "00:00", tz)
        except (ValueError, OverflowError) as exc:
            raise ContractError(f"date {value!r} is invalid: {exc}") from None
    else:
        ms = parse_ts(value)
    if not EARLIEST_MS <= ms < LATEST_MS:
        raise ContractError(f"{value!r} is out of range, expected a time from 1970 to 9998")
    return ms


def local_date(ms: int, tz: ZoneInfo) -> date:
    """The local calendar date of an instant."""
    return datetime.fromtimestamp(ms / 1000, tz).date()
