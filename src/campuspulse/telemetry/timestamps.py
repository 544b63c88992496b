"""The one time parser and formatter of the contract: RFC 3339 with an explicit offset, millisecond precision."""

import re
from datetime import UTC, datetime
from functools import lru_cache

from campuspulse.telemetry.errors import ContractError

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})?\Z")
EXAMPLE = "2026-09-07T08:00:00.000+08:00"
# The times the contract carries: from 2000 to 2099 (UTC). A device clock reset to 1970, or a stamp in year 0 or
# 9999, is an error in the record, not a time to store.
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z


def parse_ts(value: str) -> int:
    """Parse an RFC 3339 timestamp with an offset into milliseconds since the epoch (UTC).

    Sub-millisecond digits are truncated; a naive time or any other form raises ContractError.
    """
    if not isinstance(value, str):
        raise ContractError(f"timestamp {value!r} is not a string, expected RFC 3339 such as {EXAMPLE}")
    return _parse(value)


@lru_cache(maxsize=65536)  # agents stamp many devices at the same instants
def _parse(value: str) -> int:
    m = _RFC3339.match(value)
    if m is None:
        raise ContractError(f"timestamp {value!r} is not RFC 3339, expected a form such as {EXAMPLE}")
    offset = m.group(8)
    if offset is None:
        raise ContractError(f"timestamp {value!r} is naive, expected an explicit offset such as {EXAMPLE}")
    try:
        y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
        local = datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
    except ValueError as exc:
        raise ContractError(f"timestamp {value!r} is not a valid date/time: {exc}") from None
    shift = 0
    if offset not in ("Z", "z"):
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ContractError(f"timestamp {value!r} has an invalid offset {offset!r}")
        shift = (hours * 60 + minutes) * 60 * (1 if offset[0] == "+" else -1)
    frac = m.group(7)
    ms = (int(local.timestamp()) - shift) * 1000 + (int(frac[:3].ljust(3, "0")) if frac else 0)
    if not MIN_TS_MS <= ms < MAX_TS_MS:
        raise ContractError(f"timestamp {value!r} is outside the supported range, expected a time from 2000 to 2099")
    return ms


def format_ts(ms: int) -> str:
    """Format milliseconds since the epoch as RFC 3339 in UTC with millisecond precision (`...Z`)."""
    return f"{_second(ms // 1000)}.{ms % 1000:03d}Z"


@lru_cache(maxsize=4096)
def _second(s: int) -> str:
    return f"{datetime.fromtimestamp(s, UTC):%Y-%m-%dT%H:%M:%S}"  # agents stamp many records in the same second


def ms_to_datetime(ms: int) -> datetime:
    """Milliseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)
