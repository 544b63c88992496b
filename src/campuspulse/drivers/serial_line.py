"""Serial line instruments: a generic request/response driver over RS-232/USB serial.

Each read sends a command line and parses the answer with a regular expression whose named groups
become the observation's values. Two built-in profiles:

- `mt_sics`: Mettler-Toledo MT-SICS level 0 balances (`SI` → `S S     100.00 g` stable,
  `S D …` dynamic; `S I` busy, `S L` not executable, `S +`/`S -` overload/underload, `ES`/`ET`/`EL` errors;
  the compound unit `lb:oz` as `12:07.50`); values `weight_<unit>` and `stable` (1/0).
- `scpi`: SCPI instruments (IEEE 488.2 `*IDN?` on open, best effort; a `MEAS:…?` query per read answering
  numbers in NR1/NR2/NR3 form, the `index`-th of a comma-separated answer), value named by `field`.
- `lg_display`: flat panels speaking the LG commercial-display RS-232C protocol: the power query
  `ka <set id> ff` CR answered `a <set id> OK01x` (on) or `OK00x` (standby), `NG…x` when refused;
  value `power_on` (1/0). Other panels: `custom` with `command`, `pattern` and `reply_ending`. Panels that
  stop answering in standby (as some LG models do) take `silent_means: off`: silence is then `off`, not `fault`.

Answers end in CR, LF or CR LF unless `reply_ending` says otherwise. SCPI's 9.91E37 (not a number) and
±9.9E37 (infinity: overload, no measurement) are no reading: the value is left out, never taken as a number.
Garbage, a wrong answer or silence raise DeviceError; a vanished port raises OSError. Either way the
agent reports the device as `fault` and reopens it with backoff while the other devices go on.
Uses pyserial-asyncio-fast; tests drive a byte-exact simulator through a socat pty pair.
"""

import asyncio
import logging
import re
import time
from typing import Literal

import serial_asyncio_fast
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from campuspulse.drivers.base import DeviceError, Observation

log = logging.getLogger(__name__)
_MT_SICS = re.compile(
    r"^S\s+(?P<status>[SD])\s+(?P<value>[-+]?\d+(?::\d+)?(?:\.\d+)?)\s+(?P<unit>[A-Za-z]+(?::[A-Za-z]+)?)\s*$"
)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[Ee][-+]?\d+)?"
NOT_A_READING = 9.9e37  # SCPI: 9.91E37 is NAN, ±9.9E37 ±INF (overload, no measurement)
_MAX_LINE = 4096


class NoAnswer(DeviceError):
    """The instrument said nothing within the timeout."""


class SerialLineConfig(BaseModel):
    """Options of the `serial_line` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["serial_line"] = "serial_line"
    port: str = Field(description="e.g. /dev/ttyUSB0 or COM3")
    baudrate: int = Field(9600, gt=0)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    profile: Literal["custom", "mt_sics", "scpi", "lg_display"] = "custom"
    command: str | None = Field(None, description="sent before each read, without the line ending")
    pattern: str | None = Field(None, description="regex; named groups that parse as numbers become values")
    field: str = Field("value", pattern=r"^[a-z][a-z0-9_]{0,63}$", description="scpi: the value's name")
    index: int = Field(0, ge=0, le=63, description="scpi: which value of a comma-separated answer (0: the first)")
    line_ending: str = "\r\n"
    reply_ending: str | None = Field(None, description="how answers end if not in CR, LF or CR LF (LG: x)")
    set_id: int = Field(1, ge=0, le=255, description="lg_display: the panel's Set ID (0: every panel)")
    silent_means: Literal["fault", "off"] = Field(
        "fault", description="what no answer means: a fault, or (panels silent in standby) the device is off"
    )
    timeout_s: float = Field(2.0, gt=0)

    @field_validator("silent_means", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @model_validator(mode="after")
    def _complete(self) -> "SerialLineConfig":
        if self.profile == "mt_sics":
            self.command = self.command or "SI"
        elif self.profile == "lg_display":
            self.command = self.command or f"ka {self.set_id:02x} ff"
            self.line_ending, self.reply_ending = "\r", self.reply_ending or "x"
            self.pattern = self.pattern or r"^a [0-9A-Fa-f]{2} OK0?(?P<power_on>[01])$"
        elif self.profile == "scpi":
            if not self.command:
                raise ValueError("profile scpi needs `command`, e.g. MEAS:VOLT:DC?")
            skip = rf"(?:[^,]*,){{{self.index}}}" if self.index else ""
            self.pattern = self.pattern or rf"^{skip}\s*(?P<{self.field}>{_NUMBER})\s*(?:,.*)?$"
        elif not (self.command and self.pattern):
            raise ValueError("profile custom needs both `command` and `pattern`")
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
        return self


class SerialLineDriver:
    """Request/response over a serial port."""

    def __init__(self, config: SerialLineConfig) -> None:
        self.config = config
        self.identity: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pattern = re.compile(config.pattern) if config.pattern else None

    async def open(self) -> None:
        """Open the port (and, for SCPI, ask the instrument who it is)."""
        c = self.config
        self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
            url=c.port, baudrate=c.baudrate, bytesize=c.bytesize, parity=c.parity, stopbits=c.stopbits
        )
        if c.profile == "scpi":
            try:
                self.identity = await self._ask("*IDN?")
            except DeviceError as exc:  # the measurement is what counts; some instruments never answer *IDN?
                log.warning("%s: no identity (%s); measuring all the same", c.port, exc)

    async def close(self) -> None:
        """Close the port."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def _ask(self, command: str) -> str:
        if self._reader is None or self._writer is None:
            raise DeviceError(f"{self.config.port} is not open")
        ending = self.config.line_ending.encode()
        stale = getattr(self._reader, "_buffer", None)
        if stale:  # bytes left from an earlier garbled or late answer would be read as this one's
            stale.clear()
        self._writer.write(command.encode("ascii") + ending)
        await self._writer.drain()
        try:
            line = await asyncio.wait_for(self._line(self._reader), self.config.timeout_s)
        except TimeoutError:
            raise NoAnswer(f"{self.config.port}: no answer to {command!r} within {self.config.timeout_s} s") from None
        except asyncio.IncompleteReadError:
            raise OSError(f"{self.config.port}: the port closed") from None
        except asyncio.LimitOverrunError:
            raise DeviceError(f"{self.config.port}: an answer without line ending") from None
        return line.decode("ascii", "replace").strip()

    async def _line(self, reader: asyncio.StreamReader) -> bytes:
        """One answer: up to `reply_ending`, or else up to CR, LF or CR LF (empty lines skipped)."""
        if self.config.reply_ending:
            end = self.config.reply_ending.encode()
            return (await reader.readuntil(end))[: -len(end)]
        line = bytearray()
        while True:
            byte = await reader.readexactly(1)
            if byte in (b"\r", b"\n"):
                if line:
                    return bytes(line)
                continue  # the LF of a CR LF, or an empty line
            line += byte
            if len(line) > _MAX_LINE:
                raise asyncio.LimitOverrunError("no line ending", len(line))

    async def read(self) -> Observation:
        """Send the command, parse the answer."""
        assert self.config.command is not None
        try:
            answer = await self._ask(self.config.command)
        except NoAnswer:
            if self.config.silent_means != "off":
                raise
            return Observation(int(time.time() * 1000), {}, state="off")
        ts = int(time.time() * 1000)
        if self.config.profile == "mt_sics":
            return Observation(ts, parse_mt_sics(answer))
        assert self._pattern is not None
        m = self._pattern.match(answer)
        if m is None:
            raise DeviceError(f"{self.config.port}: answer {answer!r} does not match {self._pattern.pattern!r}")
        values, readings = {}, 0
        for name, text in m.groupdict().items():
            try:
                value = float(text)
            except (TypeError, ValueError):
                continue
            readings += 1
            if abs(value) < NOT_A_READING:  # NAN/INF: the instrument has no reading, e.g. overloaded
                values[name] = value
        if not readings:
            raise DeviceError(f"{self.config.port}: answer {answer!r} holds no number")
        return Observation(ts, values)


def parse_mt_sics(answer: str) -> dict[str, float]:
    """Values of an MT-SICS `SI`/`S` answer; DeviceError for errors, overload and garbage."""
    m = _MT_SICS.match(answer)
    if m is not None:
        unit, text = m.group("unit").lower(), m.group("value")
        if ":" in unit or ":" in text:
            if unit != "lb:oz" or ":" not in text:
                raise DeviceError(f"balance answers {text} {unit}: only lb:oz is a known compound unit")
            pounds, ounces = text.split(":")
            value, unit = float(pounds) + float(ounces) / 16 * (-1 if pounds.startswith("-") else 1), "lb"
        else:
            value = float(text)
        return {f"weight_{unit}": value, "stable": 1.0 if m.group("status") == "S" else 0.0}
    words = answer.split()
    meaning = {
        ("S", "I"): "busy",
        ("S", "L"): "a command it cannot execute now",
        ("S", "+"): "overload",
        ("S", "-"): "underload",
        ("ES",): "syntax error",
        ("ET",): "transmission error",
        ("EL",): "logical error",
    }.get(tuple(words[:2]) if words[:1] == ["S"] else tuple(words[:1]))
    if meaning:
        raise DeviceError(f"balance reports {meaning} ({answer!r})")
    raise DeviceError(f"not an MT-SICS answer: {answer!r}")
