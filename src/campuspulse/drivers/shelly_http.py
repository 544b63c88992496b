"""Shelly Gen1 plugs and relays polled over HTTP (`GET /status`), for campuses where they do not use MQTT.

`/status` lists `relays` (`ison`) and, on metered models, `meters` (`power` in W, `total` in watt-minutes) or
`emeters` (Shelly EM, 3EM: `power`, `voltage`, `current`, `total` in Wh), one entry per channel. A device that
asks for credentials gets HTTP Basic, as Gen1 devices use it.
"""

import time
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from campuspulse.drivers.base import DeviceError, Observation
from campuspulse.drivers.json_values import json_object, number


class ShellyHttpConfig(BaseModel):
    """Options of the `shelly_http` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["shelly_http"] = "shelly_http"
    host: str = Field(description="the device's address, host[:port]")
    channel: int = Field(0, ge=0, le=7, description="which relay and meter (0: the first)")
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(3.0, gt=0)


def gen1_status_values(payload: object, channel: int = 0) -> dict[str, float]:
    """Values of channel `channel` of a Gen1 `/status` answer; DeviceError if it has neither relay nor meter."""
    status = json_object(payload, "Shelly /status")
    values: dict[str, float] = {}
    relays, meters, emeters = (status.get(k) for k in ("relays", "meters", "emeters"))
    relay = relays[channel] if isinstance(relays, list) and channel < len(relays) else None
    if isinstance(relay, dict) and isinstance(ison := relay.get("ison"), bool):
        values["relay"] = 1.0 if ison else 0.0
    meter: Any = None
    if isinstance(meters, list) and channel < len(meters):
        meter, total_per_kwh = meters[channel], 60_000.0  # watt-minutes
    elif isinstance(emeters, list) and channel < len(emeters):
        meter, total_per_kwh = emeters[channel], 1_000.0  # Wh
    if isinstance(meter, dict) and meter.get("is_valid", True) is not False:
        for key, name in (("power", "power_w"), ("voltage", "voltage_v"), ("current", "current_a")):
            if (v := number(meter.get(key))) is not None:
                values[name] = v
        if (total := number(meter.get("total"))) is not None:
            values["energy_kwh"] = total / total_per_kwh
    if not values:
        raise DeviceError(f"Shelly /status has no relay or meter {channel}")
    return values


class ShellyHttpDriver:
    """One Gen1 device's channel, polled."""

    def __init__(self, config: ShellyHttpConfig) -> None:
        self.config = config
        secret = config.password.get_secret_value() if config.password else ""
        self._auth = httpx.BasicAuth(config.username, secret) if config.username else None

    async def open(self) -> None:
        """Nothing to keep open: each read is one request."""

    async def close(self) -> None:
        """Nothing to release."""

    async def read(self) -> Observation:
        """GET /status and read the channel."""
        url = f"http://{self.config.host}/status"
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_s, auth=self._auth) as client:
                r = await client.get(url)
        except httpx.TimeoutException:
            raise DeviceError(f"{url}: no answer within {self.config.timeout_s} s") from None
        except httpx.TransportError as exc:
            raise OSError(f"{url}: {exc}") from None
        if r.status_code == 401:
            raise DeviceError(f"{url} asks for credentials: set username and password (HTTP Basic)")
        if r.status_code != 200:
            raise DeviceError(f"{url} answered {r.status_code}")
        try:
            payload = r.json()
        except ValueError:
            raise DeviceError(f"{url} did not answer JSON") from None
        return Observation(int(time.time() * 1000), gen1_status_values(payload, self.config.channel))
