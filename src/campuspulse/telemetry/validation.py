"""Validation of incoming payloads: the envelope as a whole, then each record on its own.

A bad record never spoils its batch: it comes back as a `Rejected` with the reason, for the
dead-letter store, while the good records go on.
"""

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from campuspulse.telemetry.codec import loads
from campuspulse.telemetry.errors import ContractError
from campuspulse.telemetry.parsed import ParsedReading, ParsedRecord, ParsedState
from campuspulse.telemetry.records import (
    DEFAULT_VALID_S,
    MAX_RECORDS_PER_BATCH,
    MAX_SEQ,
    MAX_VALID_S,
    MAX_VALUES,
    MIN_INT,
    VALUE_NAME_PATTERN,
    Epoch,
    Id,
    ReadingRecord,
    Record,
    State,
    StateRecord,
    StatusPayload,
)
from campuspulse.telemetry.timestamps import parse_ts
from campuspulse.telemetry.topics import ID_RE, Topic

_record_adapter: TypeAdapter[Record] = TypeAdapter(Record)
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024  # a full batch of 10,000 records with a few values each is about 2 MB
MAX_DEPTH = 16


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    v: Literal[1]
    agent: Id
    school: Id
    epoch: Epoch = ""
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
    records: list[ParsedRecord]
    rejected: list[Rejected]
    epoch: str = ""  # the incarnation of the agent's queue: (agent, epoch, seq) is a record's identity


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
            got = repr(shown)
            msg = f"{msg} (got {got if len(got) <= 80 else got[:60] + f'… ({len(got):,} characters)'})"
        parts.append(f"{path}: {msg}" if path else msg)
    return "; ".join(parts)


def _decode(raw: bytes | str | Any) -> Any:
    if isinstance(raw, bytes | str):
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
        if size > MAX_PAYLOAD_BYTES:
            raise ContractError(f"payload is {size:,} bytes, more than {MAX_PAYLOAD_BYTES:,}: send smaller batches")
        try:
            data = loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ContractError(f"payload is not valid JSON: {str(exc)[:200]}") from None
        _check_depth(data)
        return data
    return raw


def _check_depth(data: Any) -> None:
    """Refuse JSON nested deeper than the contract allows (its own payloads nest 4 levels)."""
    level: list[Any] = [data]
    for depth in range(1, MAX_DEPTH + 2):
        inner = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else ())
            if isinstance(child, dict | list)
        ]
        if not inner:
            return
        if depth == MAX_DEPTH:
            raise ContractError(f"payload is nested deeper than {MAX_DEPTH} levels")
        level = inner


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
    good: list[ParsedRecord] = []
    bad: list[Rejected] = []
    for i, rec in enumerate(env.records):
        fast = _fast_record(rec)
        if fast is not None:
            good.append(fast)
            continue
        try:
            model = _record_adapter.validate_python(rec)
        except ValidationError as exc:
            bad.append(Rejected(i, rec, describe(exc, f"records[{i}]")))
            continue
        good.append(_from_model(model))
    return ParsedBatch(env.agent, env.school, good, bad, env.epoch)


_STATES = frozenset(s.value for s in State)
_NAME_RE = re.compile(VALUE_NAME_PATTERN)
_good_names: set[str] = set()
_good_ids: set[str] = set()  # ids seen valid before: a set lookup is cheaper than the regex


def _from_model(m: StateRecord | ReadingRecord) -> ParsedRecord:
    if isinstance(m, StateRecord):
        return ParsedState(m.seq, m.ts, m.device, m.state.value, m.valid_s)
    return ParsedReading(m.seq, m.ts, m.device, m.values)


def _fast_record(rec: Any) -> ParsedRecord | None:
    """The common, well-formed record checked without building a model; None sends it to the full validation.

    It accepts only what the pydantic models accept; anything unusual takes the slow path, which also
    words the error.
    """
    if type(rec) is not dict:
        return None
    seq, ts, device = rec.get("seq"), rec.get("ts"), rec.get("device")
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ or type(device) is not str:
        return None
    if device not in _good_ids:
        if not ID_RE.match(device):
            return None
        if len(_good_ids) < 1_000_000:
            _good_ids.add(device)
    if type(ts) is not str:
        return None
    try:
        ts_ms = parse_ts(ts)
    except ContractError:
        return None
    kind = rec.get("type")
    if kind == "state":
        state, valid_s = rec.get("state"), rec.get("valid_s", DEFAULT_VALID_S)
        if type(state) is not str or state not in _STATES or type(valid_s) is not int or not 0 < valid_s <= MAX_VALID_S:
            return None
        return ParsedState(seq, ts_ms, device, state, valid_s)
    if kind == "reading":
        values = rec.get("values")
        if type(values) is not dict or not 0 < len(values) <= MAX_VALUES:
            return None
        for name, v in values.items():
            if type(v) is float:
                if not math.isfinite(v):
                    return None
            elif type(v) is not int or not MIN_INT <= v <= MAX_SEQ:
                return None
            if name not in _good_names:
                if type(name) is not str or not _NAME_RE.fullmatch(name):
                    return None
                if len(_good_names) < 10_000:
                    _good_names.add(name)
        return ParsedReading(seq, ts_ms, device, values)
    return None


def parse_status_payload(raw: bytes | str | dict[str, Any], topic: Topic | None = None) -> StatusPayload:
    """Validate a status payload; raise ContractError saying what is wrong."""
    data = _decode(raw)
    try:
        status = StatusPayload.model_validate(data)
    except ValidationError as exc:
        raise ContractError(describe(exc)) from None
    _check_topic(topic, status.agent, status.school)
    return status
