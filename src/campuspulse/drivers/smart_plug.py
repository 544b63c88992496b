"""MQTT smart plugs measuring the power of what is plugged in: Tasmota and Shelly Gen2 firmware.

The plugs publish to a broker of their own (often the campus one); the driver subscribes with
aiomqtt and keeps the newest report. Payloads as the firmware sends them:

- Tasmota: `tele/<topic>/SENSOR` every TelePeriod, `{"Time": …, "ENERGY": {"Power": 86, "Voltage":
  230, "Current": 0.39, "Total": 1.234, …}}`, and `stat/<topic>/STATUS8` (`{"StatusSNS": {"ENERGY":
  …}}`), which the driver asks for on connect with `cmnd/<topic>/STATUS 8`.
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


def tasmota_values(payload: object) -> dict[str, float]:
    """Values of a Tasmota SENSOR or STATUS8 payload."""
    report = _object(payload, "Tasmota payload")
    status = report.get("StatusSNS")  # STATUS 8 nests ENERGY here
    energy = _object(
        report.get("ENERGY") or (status.get("ENERGY") if isinstance(status, dict) else None),
        "ENERGY of the Tasmota payload",
    )
    pairs = (("Power", "power_w"), ("Voltage", "voltage_v"), ("Current", "current_a"), ("Total", "energy_kwh"))
    return {name: v for key, name in pairs if (v := _number(energy.get(key))) is not None}


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
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._rpc_src = f"campuspulse-{config.topic}"[:64]  # where a Shelly answers our RPC requests
        if config.firmware == "tasmota":
            self._topics = [f"tele/{config.topic}/SENSOR", f"stat/{config.topic}/STATUS8", f"stat/{config.topic}/POWER"]
        else:
            self._topics = [f"{config.topic}/status/switch:0", f"{self._rpc_src}/rpc"]

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
                        await mq.publish(f"cmnd/{c.topic}/STATUS", b"8")
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
        if topic.endswith("/POWER"):  # Tasmota relay state: "ON" / "OFF"
            if self._latest is not None:
                relay = 1.0 if payload.strip().upper() == b"ON" else 0.0
                self._latest = (time.time(), {**self._latest[1], "relay": relay})
            return
        try:
            data = orjson.loads(payload)
            if topic == f"{self._rpc_src}/rpc":  # the answer to Switch.GetStatus: {"id":1,"src":…,"result":{…}}
                data = data.get("result") if isinstance(data, dict) else None
            values = tasmota_values(data) if self.config.firmware == "tasmota" else shelly_values(data)
        except (ValueError, DeviceError):
            return  # a malformed report is ignored; staleness will tell if none good follows
        self._latest = (time.time(), values)

    async def read(self) -> Observation:
        """The newest report, if fresh enough."""
        if self._latest is None:
            raise NoReportYet(f"plug {self.config.topic}: no report yet")
        age = time.time() - self._latest[0]
        if age > self.config.stale_after_s:
            raise DeviceError(f"plug {self.config.topic}: no report for {age:.0f} s")
        return Observation(int(time.time() * 1000), dict(self._latest[1]))
