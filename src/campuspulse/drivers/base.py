"""The shape every driver has: a pydantic config, `async open()`, `async read()`, `async close()`."""

from dataclasses import dataclass, field
from typing import Protocol


class DeviceError(OSError):
    """The device answered wrongly or not at all; the agent reports `fault` and tries again."""


class NoReportYet(Exception):
    """A device that reports by itself has not reported since the driver opened: not a fault. The agent records
    nothing (the time stays unknown) and keeps the driver open."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What one read of a device gave: numeric values, and the state if the device reports it itself."""

    ts_ms: int
    values: dict[str, float] = field(default_factory=dict)
    state: str | None = None


class Driver(Protocol):
    """A device family's driver."""

    async def open(self) -> None:
        """Connect to the device; raise OSError (or a subclass) when it cannot be reached."""

    async def read(self) -> Observation:
        """One observation; raise OSError when the device does not answer."""

    async def close(self) -> None:
        """Release the device."""
