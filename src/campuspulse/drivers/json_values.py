"""Numbers and objects out of device JSON, where anything may be of any type."""

import math
from typing import Any

from campuspulse.drivers.base import DeviceError


def number(value: object) -> float | None:
    """A finite float from a JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def json_object(value: object, what: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else a DeviceError naming `what`."""
    if not isinstance(value, dict):
        raise DeviceError(f"{what} is not a JSON object: {value!r:.200}")
    return value
