"""MQTT smart plugs and meters measuring the power of what is plugged in: Tasmota, Shelly Gen2/Gen3 and Gen1.

The devices publish to a broker of their own (often the campus one); the driver subscribes with aiomqtt and keeps
the newest values. What each firmware sends is read by `tasmota_payloads` and `shelly_payloads`.

A read returns the newest values. Before the first report it raises NoReportYet (the agent waits, the time stays
unknown); on open the driver asks for a report at once (Tasmota `STATUS 8` and `POWER<n>`; Shelly Gen2 the
component's `GetStatus` over MQTT RPC, answered on `<src>/rpc`; Gen1 `update` on `shellies/<id>/command`). Values
older than `stale_after_s` are a DeviceError (the device is gone or unpowered), reported by the agent as `fault`.
Values: power_w, voltage_v, current_a, energy_kwh, and relay (1 on, 0 off).
"""

import asyncio
import contextlib
import time
from typing import Any, Literal

import aiomqtt
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from campuspulse.drivers.base import DeviceError, NoReportYet, Observation
from campuspulse.drivers.shelly_payloads import METHODS, gen1_value, merge_notification, shelly_values
from campuspulse.drivers.tasmota_payloads import tasmota_relay, tasmota_values


class SmartPlugConfig(BaseModel):
    """Options of the `smart_plug` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["smart_plug"] = "smart_plug"
    firmware: Literal["tasmota", "shelly", "shelly-gen1"]
    topic: str = Field(description="tasmota: the device topic (tasmota_ABC123); shelly: the device id")
    component: str = Field(
        "switch:0",
        pattern=r"^(switch|pm1|em|em1|relay):\d{1,2}$",
        description="shelly: the component read (switch:N, pm1:N, em:N, em1:N); shelly-gen1: relay:N",
    )
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

    @model_validator(mode="after")
    def _component_of_the_firmware(self) -> "SmartPlugConfig":
        gen1 = self.component.startswith("relay:")
        if (self.firmware == "shelly-gen1" and not gen1) or (self.firmware == "shelly" and gen1):
            raise ValueError(f"component {self.component!r} is not one of a {self.firmware} device")
        return self


class SmartPlugDriver:
    """Keeps the newest report of one plug."""

    def __init__(self, config: SmartPlugConfig) -> None:
        self.config = config
        self._latest: tuple[float, dict[str, float]] | None = None
        self._relay: float | None = None
        self._status: dict[str, Any] = {}  # Shelly Gen2: the component's status, as notifications update it
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._rpc_src = f"campuspulse-{config.topic}"[:64]  # where a Shelly answers our RPC requests
        self._relay_topics: set[str] = set()
        self._asks: list[tuple[str, bytes]] = []
        kind, _, index = config.component.partition(":")
        if config.firmware == "tasmota":
            power = "POWER" if config.relay == 1 else f"POWER{config.relay}"
            sensor = {self._tasmota("tele", "SENSOR"), self._tasmota("stat", "STATUS8")}
            self._relay_topics = {
                self._tasmota("stat", power),
                self._tasmota("stat", f"POWER{config.relay}"),
                self._tasmota("stat", "RESULT"),
                self._tasmota("tele", "STATE"),
            }
            self._topics = sorted(sensor | self._relay_topics)
            self._asks = [(self._tasmota("cmnd", "STATUS"), b"8"), (self._tasmota("cmnd", power), b"")]
        elif config.firmware == "shelly":
            t = config.topic
            self._topics = [f"{t}/status/{config.component}", f"{t}/events/rpc", f"{self._rpc_src}/rpc"]
            ask = {"id": 1, "src": self._rpc_src, "method": METHODS[kind], "params": {"id": int(index)}}
            self._asks = [(f"{t}/rpc", orjson.dumps(ask))]
        else:
            self._gen1 = f"shellies/{config.topic}/relay/{index}"
            self._topics = [self._gen1, f"{self._gen1}/power", f"{self._gen1}/energy"]
            self._asks = [(f"shellies/{config.topic}/command", b"update")]

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
                    for topic, payload in self._asks:  # a first report now, not at the next periodic one
                        await mq.publish(topic, payload)
                    self._connected.set()
                    async for message in mq.messages:
                        self._take(str(message.topic), bytes(message.payload))
            except aiomqtt.MqttError:
                self._connected.clear()
                await asyncio.sleep(2)

    def _take(self, topic: str, payload: bytes) -> None:
        try:
            values = self._values(topic, payload)
        except (ValueError, DeviceError):
            return  # a malformed report is ignored; staleness will tell if none good follows
        if values is not None:
            self._latest = (time.time(), values)

    def _values(self, topic: str, payload: bytes) -> dict[str, float] | None:
        """The device's values after this message (None if it changes nothing)."""
        c = self.config
        known = dict(self._latest[1]) if self._latest is not None else {}
        if c.firmware == "tasmota":
            if topic in self._relay_topics:
                relay = tasmota_relay(payload, c.relay)
                if relay is None:
                    return None
                self._relay = relay
                return {**known, "relay": relay}
            values = tasmota_values(orjson.loads(payload), c.channel, c.power_path)
            return values | ({"relay": self._relay} if self._relay is not None else {})
        if c.firmware == "shelly-gen1":
            return {**known, **gen1_value(topic.removeprefix(self._gen1).lstrip("/"), payload)}
        data = orjson.loads(payload)
        if topic.endswith("/events/rpc"):
            status = merge_notification(self._status, data, c.component)
        elif topic == f"{self._rpc_src}/rpc":  # the answer to GetStatus: {"id":1,"src":…,"result":{…}}
            status = data.get("result") if isinstance(data, dict) else None
        else:
            status = data
        if not isinstance(status, dict):
            return None
        self._status = status
        return shelly_values(status, c.component)

    async def read(self) -> Observation:
        """The newest report, if fresh enough."""
        if self._latest is None:
            raise NoReportYet(f"plug {self.config.topic}: no report yet")
        age = time.time() - self._latest[0]
        if age > self.config.stale_after_s:
            raise DeviceError(f"plug {self.config.topic}: no report for {age:.0f} s")
        return Observation(int(time.time() * 1000), dict(self._latest[1]))
