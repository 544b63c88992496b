"""Finding a campus's plugs and projectors: listen on its broker for a bounded time, probe the addresses named.

On the broker: Tasmota's discovery messages (`tasmota/discovery/<mac>/config`, retained, with the device topic,
FullTopic, relays and model; `.../sensors` tells whether it meters energy); Shelly Gen1's `shellies/announce`
(asked for with `announce` on `shellies/command`); Shelly Gen2/Gen3 devices' `<id>/online`, each then asked
`Shelly.GetDeviceInfo` and `Shelly.GetStatus` over MQTT RPC for its model and components. PJLink is probed only on
the addresses the user gives: nothing else on the network is scanned. What is found becomes device sections for the
agent's config, for the user to review.
"""

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import orjson
import yaml

from campuspulse.drivers.shelly_payloads import COMPONENT

RPC_SOURCE = "campuspulse-discover"
_SHELLY_ID = re.compile(r"^shelly[a-z0-9-]*$", re.IGNORECASE)


@dataclass
class Found:
    """A device found: family, identity, model, what it measures, and its agent device section."""

    family: str
    ident: str
    model: str = ""
    channels: int = 1
    metered: bool | None = None
    source: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def section(self) -> dict[str, Any]:
        """The device section for the agent's config (review the id and the detector before use)."""
        slug = re.sub(r"[^a-z0-9_-]+", "-", self.ident.lower()).strip("-")[:64] or "device"
        detector = (
            {"value": "power_w", "in_use_above": 20, "idle_below": 10, "off_below": 1}
            if self.metered
            else {"value": "relay", "in_use_above": 0.5, "idle_below": 0.5, "off_below": 0.5}
        )
        out: dict[str, Any] = {"id": slug, "poll_s": 10, "source": self.source}
        if self.family != "pjlink":
            out["detector"] = detector
        return out


class _Listener:
    """What the broker says within the listening time."""

    def __init__(self, broker_host: str, broker_port: int) -> None:
        self.host, self.port = broker_host, broker_port
        self.found: dict[tuple[str, str], Found] = {}
        self._tasmota_metered: dict[str, bool] = {}

    def tasmota(self, topic: str, payload: bytes) -> None:
        mac = topic.split("/")[2]
        data = orjson.loads(payload)
        if not isinstance(data, dict):
            return
        if topic.endswith("/sensors"):
            sensors = data.get("sn")
            metered = isinstance(sensors, dict) and isinstance(sensors.get("ENERGY"), dict)
            self._tasmota_metered[mac] = metered
            for f in self.found.values():
                if f.family == "tasmota" and f.note == mac:
                    f.metered = metered
            return
        dev_topic = data.get("t")
        if not isinstance(dev_topic, str):
            return
        full_topic = data.get("ft") or data.get("t_f") or "%prefix%/%topic%/"
        relays = [r for r in data.get("rl") or [] if r]
        source: dict[str, Any] = {"driver": "smart_plug", "firmware": "tasmota", "topic": dev_topic}
        source |= {"broker_host": self.host, "broker_port": self.port}
        if full_topic != "%prefix%/%topic%/":
            source["full_topic"] = full_topic
        self.found[("tasmota", dev_topic)] = Found(
            "tasmota",
            dev_topic,
            str(data.get("md") or ""),
            max(len(relays), 1),
            self._tasmota_metered.get(mac),
            source,
            note=mac,
        )

    def shelly_gen1(self, payload: bytes) -> None:
        data = orjson.loads(payload)
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return
        ident = data["id"]
        source = {"driver": "smart_plug", "firmware": "shelly-gen1", "topic": ident, "component": "relay:0"}
        source |= {"broker_host": self.host, "broker_port": self.port}
        self.found[("shelly-gen1", ident)] = Found("shelly-gen1", ident, str(data.get("model") or ""), 1, None, source)

    def shelly_rpc(self, payload: bytes) -> None:
        frame = orjson.loads(payload)
        result = frame.get("result") if isinstance(frame, dict) else None
        ident = frame.get("src") if isinstance(frame, dict) else None
        if not isinstance(result, dict) or not isinstance(ident, str):
            return
        f = self.found.setdefault(("shelly", ident), Found("shelly", ident))
        if frame.get("id") == 1:  # Shelly.GetDeviceInfo
            f.model = str(result.get("model") or result.get("app") or "")
            return
        components = sorted(k for k in result if COMPONENT.match(k))  # Shelly.GetStatus
        meters = [k for k in components if isinstance(result[k], dict) and _measures_power(result[k])]
        chosen = (meters or components or ["switch:0"])[0]
        f.channels, f.metered = max(len(components), 1), bool(meters)
        f.source = {"driver": "smart_plug", "firmware": "shelly", "topic": ident, "component": chosen}
        f.source |= {"broker_host": self.host, "broker_port": self.port}


def _measures_power(status: dict[str, Any]) -> bool:
    return any(k in status for k in ("apower", "act_power", "total_act_power"))


async def listen(
    host: str, port: int, seconds: float, username: str | None = None, password: str | None = None
) -> list[Found]:
    """Devices that announce themselves on the broker within `seconds`."""
    listener = _Listener(host, port)
    asked: set[str] = set()
    async with aiomqtt.Client(host, port, username=username, password=password) as mq:
        for topic in ("tasmota/discovery/+/config", "tasmota/discovery/+/sensors", "shellies/announce", "+/online"):
            await mq.subscribe(topic)
        await mq.subscribe(f"{RPC_SOURCE}/rpc")
        await mq.publish("shellies/command", b"announce")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(anext(mq.messages), left)
            except (TimeoutError, StopAsyncIteration):
                break
            topic, payload = str(message.topic), bytes(message.payload)
            try:
                if topic.startswith("tasmota/discovery/"):
                    listener.tasmota(topic, payload)
                elif topic == "shellies/announce":
                    listener.shelly_gen1(payload)
                elif topic == f"{RPC_SOURCE}/rpc":
                    listener.shelly_rpc(payload)
                elif topic.endswith("/online") and payload.strip() == b"true":
                    ident = topic.split("/")[0]
                    if _SHELLY_ID.match(ident) and ident not in asked:
                        asked.add(ident)
                        for rpc_id, method in ((1, "Shelly.GetDeviceInfo"), (2, "Shelly.GetStatus")):
                            ask = {"id": rpc_id, "src": RPC_SOURCE, "method": method}
                            await mq.publish(f"{ident}/rpc", orjson.dumps(ask))
            except ValueError:
                continue  # a message that is not what its topic promises: not a device of ours
    return [f for f in listener.found.values() if f.source]


async def probe_pjlink(address: str, timeout_s: float = 3.0) -> Found | None:
    """A PJLink projector at `host[:port]`, if its greeting says so (its name and model when it needs no password)."""
    host, _, port_text = address.partition(":")
    port = int(port_text) if port_text else 4352
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return None
    try:
        greeting = (await asyncio.wait_for(reader.readuntil(b"\r"), timeout_s)).decode("ascii", "replace").strip()
        word = greeting.upper()
        if not word.startswith("PJLINK "):
            return None
        source: dict[str, Any] = {"driver": "pjlink", "host": host}
        if port != 4352:
            source["port"] = port
        if word.startswith("PJLINK 1"):
            return Found("pjlink", address, "", 1, None, source, note="asks for a password: set `password`")
        answers = []
        for command in ("%1INF1 ?", "%1INF2 ?"):
            writer.write(command.encode() + b"\r")
            await writer.drain()
            line = (await asyncio.wait_for(reader.readuntil(b"\r"), timeout_s)).decode("ascii", "replace").strip()
            answers.append(line.partition("=")[2] if not line.upper().endswith("ERR1") else "")
        return Found("pjlink", address, " ".join(a for a in answers if a), 1, None, source)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    finally:
        writer.close()


def device_sections(found: list[Found]) -> str:
    """The YAML of the found devices' sections, under `agent: devices:`, to paste after review."""
    header = (
        "# Found by `campuspulse agent discover`. Review each device: its id, the detector's thresholds (what\n"
        "# power means in use for what is plugged in), and credentials; then paste under `agent: devices:`.\n"
    )
    return header + yaml.safe_dump({"devices": [f.section() for f in found]}, sort_keys=False, allow_unicode=True)
