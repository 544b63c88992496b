"""MQTT smart plugs measuring the power of what is plugged in: Tasmota and Shelly Gen2 firmware.

The plugs publish to a broker of their own (often the campus one); the driver subscribes with
aiomqtt and keeps the newest report. Payloads as the firmware sends them:

- Tasmota: `tele/<topic>/SENSOR` every TelePeriod, `{"Time": …, "ENERGY": {"Power": 86, "Voltage":
  230, "Current": 0.39, "Total": 1.234, …}}`, and `stat/<topic>/STATUS8` (`{"StatusSNS": {"ENERGY":
  …}}`), which the driver asks for on connect with `cmnd/<topic>/STATUS 8`. Multi-channel devices send
  each value as an array (or an object per phase): one channel, or their sum. Meters without ENERGY (SML
  reading heads, CT sensors) give power at a configured JSON path. The relay's state comes from
  `stat/<topic>/POWER<n>`, `RESULT` and `tele/<topic>/STATE` (asked on connect with `cmnd/<topic>/POWER<n>`),
  so a relay without metering reports `relay` alone. Topics follow the device's FullTopic.
- Shelly Gen2/Plus: `<id>/status/switch:0`, `{"output": true, "apower": 86.5, "voltage": 230.1,
  "current": 0.39, "aenergy": {"total": 1234.5}}`.

A read returns the newest report. Before the first one it raises NoReportYet (the agent waits, the time stays
unknown); on open the driver asks for one at once (Tasmota `STATUS 8`, Shelly `Switch.GetStatus` over MQTT RPC,
answered on `<src>/rpc`). A report older than `stale_after_s` is a DeviceError (the plug is gone or unpowered),
reported by the agent as `fault`. Values: power_w, voltage_v, current_a,
energy_kwh, and relay (1 on, 0 off).
"""

import asyncio
import contextlib
import math
import time
from typing import Any, Literal

import aiomqtt
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from campuspulse.drivers.base import DeviceError, NoReportYet, Observation


class SmartPlugConfig(BaseModel):
    """Options of the `smart_plug` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["smart_plug"] = "smart_plug"
    firmware: Literal["tasmota", "shelly"]
    topic: str = Field(description="tasmota: the device topic (tasmota_ABC123); shelly: the device id prefix")
    full_topic: str = Field(
        "%prefix%/%topic%/",
        pattern=r"^[^#+]*%prefix%[^#+]*$",
        description="tasmota: the device's FullTopic (%prefix% is cmnd, stat or tele; %topic% the topic)",
    )
    channel: int | None = Field(
        None, ge=1, le=8, description="tasmota: the channel (1-based) of multi-channel energy values; default: the sum"
    )
    power_path: str | None = Field(
        None,
        pattern=r"^[^.]+(\.[^.]+)*$",
        description="tasmota: dotted path to the power value in SENSOR for devices without ENERGY (SML.Power_curr)",
    )
    relay: int = Field(1, ge=1, le=32, description="tasmota: which relay's POWER<n> state to report")
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    stale_after_s: float = Field(660.0, gt=0, description="a report older than this is a fault")
    connect_timeout_s: float = Field(10.0, gt=0)


def _number(value: object) -> float | None:
    """A finite float from a JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DeviceError(f"{what} is not a JSON object: {value!r:.200}")
    return value


_SUMMED = (("Power", "power_w"), ("Current", "current_a"), ("Total", "energy_kwh"))


def _channels(value: object) -> list[float] | None:
    """The finite numbers of a Tasmota energy value: a number, an array per channel, or an object per phase."""
    items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    numbers = [_number(v) for v in items]
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
    report = _object(payload, "Tasmota payload")
    if isinstance(report.get("StatusSNS"), dict):  # STATUS 8 nests the sensors here
        report = report["StatusSNS"]
    if power_path is not None:
        power = _number(_path(report, power_path))
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


def shelly_values(payload: object) -> dict[str, float]:
    """Values of a Shelly Gen2 `status/switch:N` payload."""
    report = _object(payload, "Shelly payload")
    power = _number(report.get("apower"))
    if power is None:
        raise DeviceError(f"no apower in Shelly payload {report!r:.200}")
    values = {"power_w": power}
    for key, name in (("voltage", "voltage_v"), ("current", "current_a")):
        if (v := _number(report.get(key))) is not None:
            values[name] = v
    aenergy = report.get("aenergy")
    if isinstance(aenergy, dict) and (total := _number(aenergy.get("total"))) is not None:
        values["energy_kwh"] = total / 1000  # Shelly counts Wh
    if isinstance(report.get("output"), bool):
        values["relay"] = 1.0 if report["output"] else 0.0
    return values


class SmartPlugDriver:
    """Keeps the newest report of one plug."""

    def __init__(self, config: SmartPlugConfig) -> None:
        self.config = config
        self._latest: tuple[float, dict[str, float]] | None = None
        self._relay: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._rpc_src = f"campuspulse-{config.topic}"[:64]  # where a Shelly answers our RPC requests
        if config.firmware == "tasmota":
            power = "POWER" if config.relay == 1 else f"POWER{config.relay}"
            self._sensor = {self._tasmota("tele", "SENSOR"), self._tasmota("stat", "STATUS8")}
            self._relay_topics = {
                self._tasmota("stat", power),
                self._tasmota("stat", f"POWER{config.relay}"),
                self._tasmota("stat", "RESULT"),
                self._tasmota("tele", "STATE"),
            }
            self._topics = sorted(self._sensor | self._relay_topics)
            self._asks = [(self._tasmota("cmnd", "STATUS"), b"8"), (self._tasmota("cmnd", power), b"")]
        else:
            self._topics = [f"{config.topic}/status/switch:0", f"{self._rpc_src}/rpc"]

    def _tasmota(self, prefix: str, command: str) -> str:
        """A topic of the plug under its FullTopic."""
        return self.config.full_topic.replace("%prefix%", prefix).replace("%topic%", self.config.topic) + command

    async def open(self) -> None:
        """Subscribe to the plug's reports (in the background, reconnecting by itself)."""
        self._task = asyncio.create_task(self._listen())
        try:
            await asyncio.wait_for(self._connected.wait(), self.config.connect_timeout_s)
        except TimeoutError:
            await self.close()
            raise OSError(
                f"smart plug broker {self.config.broker_host}:{self.config.broker_port} unreachable"
            ) from None

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._connected.clear()

    async def _listen(self) -> None:
        c = self.config
        password = c.password.get_secret_value() if c.password else None
        while True:
            try:
                async with aiomqtt.Client(c.broker_host, c.broker_port, username=c.username, password=password) as mq:
                    for topic in self._topics:
                        await mq.subscribe(topic, qos=0)
                    if c.firmware == "tasmota":
                        for topic, payload in self._asks:  # the sensors, and the relay's state
                            await mq.publish(topic, payload)
                    else:
                        ask = {"id": 1, "src": self._rpc_src, "method": "Switch.GetStatus", "params": {"id": 0}}
                        await mq.publish(f"{c.topic}/rpc", orjson.dumps(ask))
                    self._connected.set()
                    async for message in mq.messages:
                        self._take(str(message.topic), bytes(message.payload))
            except aiomqtt.MqttError:
                self._connected.clear()
                await asyncio.sleep(2)

    def _take(self, topic: str, payload: bytes) -> None:
        c = self.config
        if c.firmware == "tasmota" and topic in self._relay_topics:
            relay = tasmota_relay(payload, c.relay)
            if relay is not None:
                self._relay = relay
                values = dict(self._latest[1]) if self._latest is not None else {}
                self._latest = (time.time(), {**values, "relay": relay})
            return
        try:
            data = orjson.loads(payload)
            if topic == f"{self._rpc_src}/rpc":  # the answer to Switch.GetStatus: {"id":1,"src":…,"result":{…}}
                data = data.get("result") if isinstance(data, dict) else None
            tasmota = c.firmware == "tasmota"
            values = tasmota_values(data, c.channel, c.power_path) if tasmota else shelly_values(data)
        except (ValueError, DeviceError):
            return  # a malformed report is ignored; staleness will tell if none good follows
        if self._relay is not None and "relay" not in values:
            values["relay"] = self._relay
        self._latest = (time.time(), values)

    async def read(self) -> Observation:
        """The newest report, if fresh enough."""
        if self._latest is None:
            raise NoReportYet(f"plug {self.config.topic}: no report yet")
        age = time.time() - self._latest[0]
        if age > self.config.stale_after_s:
            raise DeviceError(f"plug {self.config.topic}: no report for {age:.0f} s")
        return Observation(int(time.time() * 1000), dict(self._latest[1]))
