"""Validated records as the rest of the program uses them: small, immutable, times in milliseconds."""

from dataclasses import dataclass
from typing import Any

from campuspulse.telemetry.timestamps import format_ts


@dataclass(frozen=True, slots=True)
class ParsedState:
    """A valid `state` record."""

    seq: int
    ts: int
    device: str
    state: str
    valid_s: int

    def to_wire(self) -> dict[str, Any]:
        """The record as the contract's JSON object."""
        return {
            "type": "state",
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "device": self.device,
            "state": self.state,
            "valid_s": self.valid_s,
        }


@dataclass(frozen=True, slots=True)
class ParsedReading:
    """A valid `reading` record."""

    seq: int
    ts: int
    device: str
    values: dict[str, float]

    def to_wire(self) -> dict[str, Any]:
        """The record as the contract's JSON object."""
        return {
            "type": "reading",
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "device": self.device,
            "values": self.values,
        }


ParsedRecord = ParsedState | ParsedReading
