"""Validation of incoming payloads: the envelope as a whole, then each record on its own.

A bad record never spoils its batch: it comes back as a `Rejected` with the reason, for the
dead-letter store, while the good records go on.
"""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from campuspulse.telemetry.codec import loads
from campuspulse.telemetry.errors import ContractError
from campuspulse.telemetry.records import MAX_RECORDS_PER_BATCH, Id, Record, StatusPayload
from campuspulse.telemetry.topics import Topic

_record_adapter: TypeAdapter[Record] = TypeAdapter(Record)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    v: Literal[1]
    agent: Id
    school: Id
    records: list[Any] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that broke the contract: its position, its raw form and why."""

    index: int
    raw: Any
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """A records payload split into valid records and rejected ones."""

    agent: str
    school: str
    records: list[Record]
    rejected: list[Rejected]


def describe(exc: ValidationError, where: str = "") -> str:
    """One line per problem: `where.field: what is wrong (got …)`."""
    parts = []
    for err in exc.errors(include_url=False):
        raw_loc = err["loc"]
        if len(raw_loc) > 1 and raw_loc[0] in ("state", "reading"):  # the union's tag, not a field
            raw_loc = raw_loc[1:]
        loc = ".".join(str(p) for p in raw_loc)
        path = f"{where}.{loc}" if where and loc else (where or loc)
        msg = err["msg"].removeprefix("Value error, ")
        shown = err.get("input")
        if err["type"] != "missing" and not isinstance(shown, dict | list) and repr(shown) not in msg:
            msg = f"{msg} (got {shown!r})"
        parts.append(f"{path}: {msg}" if path else msg)
    return "; ".join(parts)


def _decode(raw: bytes | str | Any) -> Any:
    if isinstance(raw, bytes | str):
        try:
            return loads(raw)
        except ValueError as exc:
            raise ContractError(f"payload is not valid JSON: {exc}") from None
    return raw


def _check_topic(topic: Topic | None, agent: str, school: str) -> None:
    if topic is not None and (topic.agent != agent or topic.school != school):
        raise ContractError(
            f"payload says school={school!r} agent={agent!r} but was published on "
            f"{topic}, expected the same school and agent as the topic"
        )


def parse_records_payload(raw: bytes | str | dict[str, Any], topic: Topic | None = None) -> ParsedBatch:
    """Validate a records payload; raise ContractError if the envelope itself is unusable."""
    data = _decode(raw)
    if not isinstance(data, dict):
        raise ContractError(f"payload is a JSON {type(data).__name__}, expected an object")
    try:
        env = _Envelope.model_validate(data)
    except ValidationError as exc:
        raise ContractError(describe(exc)) from None
    _check_topic(topic, env.agent, env.school)
    good: list[Record] = []
    bad: list[Rejected] = []
    for i, rec in enumerate(env.records):
        try:
            good.append(_record_adapter.validate_python(rec))
        except ValidationError as exc:
            bad.append(Rejected(i, rec, describe(exc, f"records[{i}]")))
    return ParsedBatch(env.agent, env.school, good, bad)


def parse_status_payload(raw: bytes | str | dict[str, Any], topic: Topic | None = None) -> StatusPayload:
    """Validate a status payload; raise ContractError saying what is wrong."""
    data = _decode(raw)
    try:
        status = StatusPayload.model_validate(data)
    except ValidationError as exc:
        raise ContractError(describe(exc)) from None
    _check_topic(topic, status.agent, status.school)
    return status
