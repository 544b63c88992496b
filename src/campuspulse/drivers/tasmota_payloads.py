"""Tasmota payloads: ENERGY of one channel or all, power at a JSON path for meters without ENERGY, relay states.

Tasmota publishes `tele/<topic>/SENSOR` every TelePeriod and answers `cmnd/<topic>/STATUS 8` on
`stat/<topic>/STATUS8` (the same sensors under `StatusSNS`). Multi-channel devices send each ENERGY value as an
array (one entry per channel) or an object (one entry per phase). A relay's state is `ON`/`OFF` on
`stat/<topic>/POWER<n>`, or a `POWER<n>` key of `stat/<topic>/RESULT` and `tele/<topic>/STATE`.
"""

from typing import Any

import orjson

from campuspulse.drivers.base import DeviceError
from campuspulse.drivers.json_values import json_object, number

_SUMMED = (("Power", "power_w"), ("Current", "current_a"), ("Total", "energy_kwh"))


def _channels(value: object) -> list[float] | None:
    """The finite numbers of a Tasmota energy value: a number, an array per channel, or an object per phase."""
    items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    numbers = [number(v) for v in items]
    return [n for n in numbers if n is not None] if numbers and all(n is not None for n in numbers) else None


def _path(report: dict[str, Any], path: str) -> object:
    node: object = report
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise DeviceError(f"no {path} in the Tasmota payload (power_path)")
        node = node[key]
    return node


def tasmota_values(payload: object, channel: int | None = None, power_path: str | None = None) -> dict[str, float]:
    """Values of a Tasmota SENSOR or STATUS8 payload: ENERGY's values of `channel` (1-based) of multi-channel
    devices, or summed over channels (voltage averaged); or the number at `power_path` for devices without ENERGY."""
    report = json_object(payload, "Tasmota payload")
    if isinstance(report.get("StatusSNS"), dict):  # STATUS 8 nests the sensors here
        report = report["StatusSNS"]
    if power_path is not None:
        power = number(_path(report, power_path))
        if power is None:
            raise DeviceError(f"{power_path} in the Tasmota payload is not a number")
        return {"power_w": power}
    energy = report.get("ENERGY")
    if not isinstance(energy, dict):
        raise DeviceError("no ENERGY in the Tasmota payload: set power_path for a meter without it (e.g. SML)")
    values: dict[str, float] = {}
    for key, name in (*_SUMMED, ("Voltage", "voltage_v")):
        numbers = _channels(energy.get(key))
        if not numbers:
            continue
        if channel is not None:
            if channel <= len(numbers):
                values[name] = numbers[channel - 1]
        elif name == "voltage_v":
            values[name] = sum(numbers) / len(numbers)
        else:
            values[name] = sum(numbers)
    return values


def tasmota_relay(payload: bytes, relay: int) -> float | None:
    """1.0 / 0.0 for relay `relay` from a POWER<n> payload ("ON") or a STATE / RESULT object; None if absent."""
    text = payload.strip()
    if not text.startswith(b"{"):
        word = text.upper()
        return 1.0 if word == b"ON" else 0.0 if word == b"OFF" else None
    try:
        report = orjson.loads(text)
    except ValueError:
        return None
    if not isinstance(report, dict):
        return None
    for key in (f"POWER{relay}", "POWER") if relay == 1 else (f"POWER{relay}",):
        state = report.get(key)
        if isinstance(state, str) and state.upper() in ("ON", "OFF"):
            return 1.0 if state.upper() == "ON" else 0.0
    return None
