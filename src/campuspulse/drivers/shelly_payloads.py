"""Shelly payloads: the status of one component of a Gen2/Gen3 device, and Gen1's MQTT topics.

Gen2/Gen3 (RPC) devices publish a component's whole status on `<id>/status/<component>` (when "generic status
update" is on), and on `<id>/events/rpc` a `NotifyStatus` with only the fields that changed, or a
`NotifyFullStatus` with every component (the factory default on many devices). Components:

- `switch:N`: `output`, and on metered switches `apower` (W), `voltage`, `current`, `aenergy.total` (Wh);
- `pm1:N`: a power meter without a relay, the same fields without `output`;
- `em:N`: a three-phase meter, `a_/b_/c_act_power`, `total_act_power`, `a_/b_/c_voltage`, `total_current`;
- `em1:N`: one channel of a single-phase meter, `act_power`, `voltage`, `current`.

Gen1 devices publish plain numbers: `shellies/<id>/relay/<n>/power` (W), `.../relay/<n>/energy` (watt-minutes)
and `.../relay/<n>` (`on` / `off`).
"""

import re
from typing import Any

from campuspulse.drivers.base import DeviceError
from campuspulse.drivers.json_values import json_object, number

COMPONENT = re.compile(r"^(switch|pm1|em|em1):(\d{1,2})$")
METHODS = {"switch": "Switch.GetStatus", "pm1": "PM1.GetStatus", "em": "EM.GetStatus", "em1": "EM1.GetStatus"}


def _put(values: dict[str, float], name: str, value: object) -> None:
    if (v := number(value)) is not None:
        values[name] = v


def shelly_values(payload: object, component: str = "switch:0") -> dict[str, float]:
    """Values of the status of one Gen2/Gen3 component (`switch:0`, `pm1:0`, `em:0`, `em1:1`, …)."""
    status = json_object(payload, "Shelly status")
    kind = component.split(":")[0]
    values: dict[str, float] = {}
    if kind in ("switch", "pm1"):
        _put(values, "power_w", status.get("apower"))
        _put(values, "voltage_v", status.get("voltage"))
        _put(values, "current_a", status.get("current"))
        aenergy = status.get("aenergy")
        if isinstance(aenergy, dict) and (total := number(aenergy.get("total"))) is not None:
            values["energy_kwh"] = total / 1000  # Shelly counts Wh
        if kind == "switch" and isinstance(status.get("output"), bool):
            values["relay"] = 1.0 if status["output"] else 0.0
    elif kind == "em":
        phases = [number(status.get(f"{p}_act_power")) for p in "abc"]
        total = number(status.get("total_act_power"))
        if total is None and all(p is not None for p in phases):
            total = sum(p for p in phases if p is not None)
        if total is not None:
            values["power_w"] = total
        volts = [v for p in "abc" if (v := number(status.get(f"{p}_voltage"))) is not None]
        if volts:
            values["voltage_v"] = sum(volts) / len(volts)
        _put(values, "current_a", status.get("total_current"))
    elif kind == "em1":
        _put(values, "power_w", status.get("act_power"))
        _put(values, "voltage_v", status.get("voltage"))
        _put(values, "current_a", status.get("current"))
    if "power_w" not in values and "relay" not in values:
        raise DeviceError(f"no power and no output in the status of Shelly {component}: {status!r:.200}")
    return values


def merge_notification(known: dict[str, Any], payload: object, component: str) -> dict[str, Any] | None:
    """The component's status after an `events/rpc` frame: NotifyFullStatus replaces it, NotifyStatus updates the
    fields it carries (nested objects too); None if the frame does not speak of the component."""
    frame = json_object(payload, "Shelly RPC frame")
    params = frame.get("params")
    if frame.get("method") not in ("NotifyStatus", "NotifyFullStatus") or not isinstance(params, dict):
        return None
    update = params.get(component)
    if not isinstance(update, dict):
        return None
    if frame["method"] == "NotifyFullStatus":
        return dict(update)
    merged = dict(known)
    for key, value in update.items():
        old = merged.get(key)
        merged[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def gen1_value(topic_tail: str, payload: bytes) -> dict[str, float]:
    """Values of a Gen1 relay topic's payload: `power` (W), `energy` (watt-minutes), or the relay (`on`/`off`)."""
    text = payload.strip().decode("ascii", "replace").lower()
    if topic_tail == "":
        if text in ("on", "off"):
            return {"relay": 1.0 if text == "on" else 0.0}
        raise DeviceError(f"Shelly Gen1 relay state {text!r:.40} is neither on nor off")
    try:
        value = number(float(text))
    except ValueError:
        value = None
    if value is None:
        raise DeviceError(f"Shelly Gen1 {topic_tail} {text!r:.40} is not a number")
    if topic_tail == "power":
        return {"power_w": value}
    if topic_tail == "energy":
        return {"energy_kwh": value / 60_000}  # watt-minutes
    raise DeviceError(f"Shelly Gen1 topic .../{topic_tail} is not read")
