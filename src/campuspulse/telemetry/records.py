"""Pydantic models of the status and records payloads (contract.md, v1)."""

import math
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

from campuspulse.telemetry.timestamps import format_ts, parse_ts
from campuspulse.telemetry.topics import ID_PATTERN

MAX_RECORDS_PER_BATCH = 10_000
MAX_VALUES = 64
DEFAULT_VALID_S = 180
MAX_VALID_S = 86_400
VALUE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


def _ts_in(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError("expected an RFC 3339 string with an offset, got a number")
    return parse_ts(value)  # type: ignore[arg-type]


Id = Annotated[str, StringConstraints(pattern=rf"^{ID_PATTERN}$")]
# The incarnation of an agent's queue, made anew with each new queue file; "" for payloads that name none.
Epoch = Annotated[str, StringConstraints(pattern=rf"^{ID_PATTERN}$")]
# Milliseconds since the epoch inside the program, RFC 3339 text on the wire.
Timestamp = Annotated[int, BeforeValidator(_ts_in), PlainSerializer(format_ts, return_type=str)]
MAX_SEQ = 2**63 - 1  # what a BIGINT holds
MIN_INT = -(2**63)  # integers beyond 64 bits break the contract wherever they are
Seq = Annotated[int, Field(strict=True, ge=0, le=MAX_SEQ)]
Count = Annotated[int, Field(ge=0, le=MAX_SEQ)]
MAX_DEVICES = 10_000  # devices one status may list
MAX_DROPPED_RANGES = 10_000


class State(StrEnum):
    """Usage states a device can be in."""

    IN_USE = "in_use"
    IDLE = "idle"
    OFF = "off"
    FAULT = "fault"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: Seq
    ts: Timestamp
    device: Id


class StateRecord(_Record):
    """From `ts` the device is in `state`, until its next state record but at most `valid_s` seconds."""

    type: Literal["state"] = "state"
    state: State
    valid_s: Annotated[int, Field(strict=True, gt=0, le=MAX_VALID_S)] = DEFAULT_VALID_S


class ReadingRecord(_Record):
    """Numeric values read from a device at `ts`."""

    type: Literal["reading"] = "reading"
    values: dict[str, float] = Field(min_length=1, max_length=MAX_VALUES)

    @field_validator("values", mode="before")
    @classmethod
    def _check_values(cls, values: object) -> object:
        if not isinstance(values, dict):
            return values
        for name, v in values.items():
            if not isinstance(name, str) or not re.fullmatch(VALUE_NAME_PATTERN, name):
                raise ValueError(f"value name {name!r} is invalid, expected [a-z][a-z0-9_]{{0,63}}")
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"value {name}={v!r} is not a number")
            if isinstance(v, int) and not MIN_INT <= v <= MAX_SEQ:
                raise ValueError(f"value {name} is an integer beyond 64 bits, expected a number within ±9.2e18")
            if not math.isfinite(v):
                raise ValueError(f"value {name}={v!r} is not finite (NaN and infinity are rejected)")
        return values


Record = Annotated[StateRecord | ReadingRecord, Field(discriminator="type")]


class RecordsPayload(BaseModel):
    """A batch of 1..10,000 records from one agent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    agent: Id
    school: Id
    epoch: Epoch = ""
    records: list[Record] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)


class QueueStatus(BaseModel):
    """What an agent has waiting on disk for the broker (an addition to the status payload)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    records: Count
    oldest_ts: Timestamp | None = None
    # Since when the queue's disk refuses writes (full or failing), and how many observations wait in memory.
    unwritable_since: Timestamp | None = None
    held: Count = 0


class StatusPayload(BaseModel):
    """An agent's birth or death message on its retained status topic."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    agent: Id
    school: Id
    epoch: Epoch = ""
    online: bool
    ts: Timestamp
    session: Timestamp | None = None  # when the connection this status belongs to began; its last will says it too
    version: Annotated[str, StringConstraints(max_length=64)] | None = None
    devices: list[Id] = Field(default_factory=list, max_length=MAX_DEVICES)
    dropped: list[tuple[Seq, Seq]] = Field(default_factory=list, max_length=MAX_DROPPED_RANGES)
    queue: QueueStatus | None = None
    sent_through: Seq | None = None  # every seq up to here has left the agent's queue (acknowledged or dropped)

    @field_validator("dropped")
    @classmethod
    def _ordered_ranges(cls, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for first, last in ranges:
            if first > last:
                raise ValueError(f"dropped range [{first}, {last}] is reversed, expected first <= last")
        return ranges
