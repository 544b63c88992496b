"""The one InfluxDB line-protocol encoder, for the contract's time-series mapping."""

from collections.abc import Iterable
from functools import lru_cache

from campuspulse.telemetry.parsed import ParsedReading, ParsedRecord, ParsedState
from campuspulse.telemetry.records import StatusPayload

STATE_MEASUREMENT = "equipment_state"
READING_MEASUREMENT = "equipment_reading"
STATUS_MEASUREMENT = "agent_status"

_TAG_ESCAPE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


@lru_cache(maxsize=65536)
def _tags(school: str, agent: str, device: str | None = None) -> str:
    # Contract identifiers cannot hold the characters line protocol escapes; escape anyway for safety.
    tags = f"school={school.translate(_TAG_ESCAPE)},agent={agent.translate(_TAG_ESCAPE)}"
    if device is not None:
        tags += f",device={device.translate(_TAG_ESCAPE)}"
    return tags


def _float(v: float) -> str:
    return repr(float(v))


def _string(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


@lru_cache(maxsize=64)
def _state_fields(state: str) -> str:
    return f"state={_string(state)},in_use={1 if state == 'in_use' else 0}i"


def state_line(school: str, agent: str, rec: ParsedState) -> str:
    """`equipment_state,school=…,agent=…,device=… state="in_use",in_use=1i,valid_s=180i,seq=41i <ts ms>`."""
    return (
        f"{STATE_MEASUREMENT},{_tags(school, agent, rec.device)} "
        f"{_state_fields(rec.state)},valid_s={rec.valid_s}i,seq={rec.seq}i {rec.ts}"
    )


# Field keys a reading's values may not take as they are: the line's own `seq`, and `time`, which InfluxDB refuses.
RESERVED_FIELDS = frozenset({"seq", "time"})


def field_names(names: Iterable[str]) -> dict[str, str]:
    """The field key of each value name: itself, or for a reserved name `value_<name>` (with more `value_` until
    it is free), so that no line ever holds a key twice or a key the store refuses."""
    names = list(names)
    taken = set(names) | RESERVED_FIELDS
    out = {}
    for name in names:
        key = name
        if name in RESERVED_FIELDS:
            while key in taken:
                key = f"value_{key}"
            taken.add(key)
        out[name] = key
    return out


def reading_line(school: str, agent: str, rec: ParsedReading) -> str:
    """`equipment_reading,school=…,agent=…,device=… power_w=86.5,…,seq=42i <ts ms>` (a value named `seq` or `time`
    is written as `value_seq`, `value_time`)."""
    values = rec.values
    if RESERVED_FIELDS.isdisjoint(values):
        fields = ",".join(f"{k}={_float(v)}" for k, v in values.items())
    else:
        keys = field_names(values)
        fields = ",".join(f"{keys[k]}={_float(v)}" for k, v in values.items())
    return f"{READING_MEASUREMENT},{_tags(school, agent, rec.device)} {fields},seq={rec.seq}i {rec.ts}"


def status_line(status: StatusPayload) -> str:
    """`agent_status,school=…,agent=… online=true[,queue_records=12i,queue_held=0i] <ts ms>`."""
    online = "true" if status.online else "false"
    q = status.queue
    queue = f",queue_records={q.records}i,queue_held={q.held}i" if q is not None else ""
    return f"{STATUS_MEASUREMENT},{_tags(status.school, status.agent)} online={online}{queue} {status.ts}"


def record_lines(school: str, agent: str, records: Iterable[ParsedRecord]) -> list[str]:
    """Line-protocol lines (millisecond precision) for a batch of records."""
    return [
        state_line(school, agent, r) if isinstance(r, ParsedState) else reading_line(school, agent, r) for r in records
    ]
