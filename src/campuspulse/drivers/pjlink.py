"""Projectors and flat panels speaking PJLink class 1 over TCP (port 4352).

Each read opens a connection, answers the greeting (`PJLINK 0` without, `PJLINK 1 <random>` with
authentication: the MD5 hex digest of random + password prefixes the first command), asks
`%1POWR ?` and `%1ERST ?`, and closes. Power on is `in_use`, warming up or cooling down `idle`,
standby `off`; an error in the error status (a `2` digit) is `fault`. Values: `power` (0 standby,
1 on, 2 cooling, 3 warm-up) and `errors` (count of error digits). Tested against a simulator of
the JBMIA PJLink class 1 specification. Greetings and answers are read case-insensitively (some projectors
answer `%1powr=0` or greet `pjlink 0`), the authentication seed as sent; a line ending in CR LF is read as CR.
"""

import asyncio
import hashlib
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from campuspulse.drivers.base import DeviceError, Observation

_STATE = {"0": "off", "1": "in_use", "2": "idle", "3": "idle"}
_ERRORS = {
    "ERR1": "undefined command",
    "ERR2": "out of parameter",
    "ERR3": "unavailable time",
    "ERR4": "projector failure",
}


class PjlinkConfig(BaseModel):
    """Options of the `pjlink` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["pjlink"] = "pjlink"
    host: str
    port: int = Field(4352, ge=1, le=65535)
    password: SecretStr | None = Field(None, description="set CAMPUSPULSE_AGENT__DEVICES__<n>__SOURCE__PASSWORD")
    timeout_s: float = Field(3.0, gt=0)


class PjlinkDriver:
    """One PJLink projector or display."""

    def __init__(self, config: PjlinkConfig) -> None:
        self.config = config

    async def open(self) -> None:
        """Nothing to keep open: PJLink devices drop idle connections, so each read connects."""

    async def close(self) -> None:
        """Nothing to release."""

    async def read(self) -> Observation:
        """Ask power and error status."""
        c = self.config
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(c.host, c.port), c.timeout_s)
        except TimeoutError:
            raise DeviceError(f"{c.host}:{c.port}: no connection within {c.timeout_s} s") from None
        try:
            greeting = await self._line(reader)
            prefix = self._auth_prefix(greeting)
            power = await self._ask(reader, writer, prefix + "%1POWR ?", "%1POWR=")
            errors = await self._ask(reader, writer, "%1ERST ?", "%1ERST=")
        finally:
            writer.close()
        if power not in _STATE:
            raise DeviceError(f"{c.host}: unknown power status {power!r}")
        if len(errors) != 6 or not set(errors) <= {"0", "1", "2"}:
            raise DeviceError(f"{c.host}: unknown error status {errors!r}")
        state = "fault" if "2" in errors else _STATE[power]
        return Observation(
            int(time.time() * 1000), {"power": float(power), "errors": float(errors.count("2"))}, state=state
        )

    async def _line(self, reader: asyncio.StreamReader) -> str:
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r"), self.config.timeout_s)
        except TimeoutError:
            raise DeviceError(f"{self.config.host}: no answer within {self.config.timeout_s} s") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise DeviceError(f"{self.config.host}: the connection closed mid-answer") from None
        return raw[:-1].decode("ascii", "replace").lstrip("\n")  # the LF of a CR LF ending lands here

    def _auth_prefix(self, greeting: str) -> str:
        word = greeting.upper()
        if word == "PJLINK 0":
            return ""
        if word.startswith("PJLINK 1 ") and len(greeting) == 17:
            if self.config.password is None:
                raise DeviceError(f"{self.config.host} asks for a PJLink password; set `password`")
            seed = greeting[9:] + self.config.password.get_secret_value()
            return hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()
        if word == "PJLINK ERRA":
            raise DeviceError(f"{self.config.host}: PJLink authentication failed")
        raise DeviceError(f"{self.config.host}: not a PJLink greeting: {greeting!r}")

    async def _ask(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: str, answer_prefix: str
    ) -> str:
        writer.write(command.encode("ascii") + b"\r")
        await writer.drain()
        line = await self._line(reader)
        word = line.upper()
        if word == "PJLINK ERRA":
            raise DeviceError(f"{self.config.host}: PJLink authentication failed (wrong password?)")
        if not word.startswith(answer_prefix):
            raise DeviceError(f"{self.config.host}: answer {line!r} to {command.split('%')[-1]!r} is not PJLink")
        value = word[len(answer_prefix) :]
        if value in _ERRORS:
            raise DeviceError(f"{self.config.host}: {_ERRORS[value]} ({value})")
        return value
