"""The one time parser and formatter of the contract: RFC 3339 with an explicit offset, millisecond precision."""

import re
from datetime import UTC, datetime

from campuspulse.telemetry.errors import ContractError

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})?$")
EXAMPLE = "2026-09-07T08:00:00.000+08:00"


def parse_ts(value: str) -> int:
    """Parse an RFC 3339 timestamp with an offset into milliseconds since the epoch (UTC).

    Sub-millisecond digits are truncated; a naive time or any other form raises ContractError.
    """
    if not isinstance(value, str):
        raise ContractError(f"timestamp {value!r} is not a string, expected RFC 3339 such as {EXAMPLE}")
    m = _RFC3339.match(value)
    if m is None:
        raise ContractError(f"timestamp {value!r} is not RFC 3339, expected a form such as {EXAMPLE}")
    if m.group(8) is None:
        raise ContractError(f"timestamp {value!r} is naive, expected an explicit offset such as {EXAMPLE}")
    frac = (m.group(7) or "").ljust(3, "0")[:3]
    text = f"{value[:19]}.{frac}{'+00:00' if m.group(8) in 'Zz' else m.group(8)}"
    try:
        dt = datetime.fromisoformat(text.replace("t", "T"))
    except ValueError as exc:
        raise ContractError(f"timestamp {value!r} is not a valid date/time: {exc}") from None
    seconds = int(dt.timestamp())
    return seconds * 1000 + int(frac)


def format_ts(ms: int) -> str:
    """Format milliseconds since the epoch as RFC 3339 in UTC with millisecond precision (`...Z`)."""
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def ms_to_datetime(ms: int) -> datetime:
    """Milliseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def datetime_to_ms(dt: datetime) -> int:
    """An aware datetime as milliseconds since the epoch; naive datetimes are refused."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ContractError(f"datetime {dt!r} is naive, expected an aware datetime")
    return int(dt.timestamp() * 1000 // 1)
