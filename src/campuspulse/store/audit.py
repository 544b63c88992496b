"""The audit log: every change to the inventory, who made it, old → new, in an append-only hash chain.

Changes are captured from the ORM session after each flush, in the same transaction, so no write path
can forget them. A session that changes an audited row must name its actor in `session.info["actor"]`.
Appends are serialised by locking the one `audit_head` row, which also guards against a deleted tail.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session

from campuspulse.store.access_schema import ApiToken, AuditEntry, AuditHead, ServerSecret, User
from campuspulse.store.alert_schema import Alert
from campuspulse.store.inventory_schema import (
    CalendarDef,
    DaySchedule,
    DeviceKind,
    EquipmentItem,
    ExperimentItem,
    ExperimentRecord,
    Region,
    Room,
    SchoolEdition,
    SchoolTimetable,
    Standard,
    StandardItem,
)
from campuspulse.store.report_schema import IssuedReport
from campuspulse.store.schema import Agent, CalendarDay, Device, School

GENESIS = "0" * 64
HIDDEN = "<hidden>"


@dataclass(frozen=True, slots=True)
class _Spec:
    entity: str
    columns: tuple[str, ...] | None = None
    hidden: tuple[str, ...] = ()
    digested: tuple[str, ...] = ()  # shown as a fingerprint: a change is visible, the value is not


AUDITED: dict[type, _Spec] = {
    Region: _Spec("region"),
    School: _Spec("school"),
    Agent: _Spec("agent", columns=("id", "school", "credentials_issued_at", "credentials_issued_by")),
    Device: _Spec("device"),
    CalendarDay: _Spec("calendar_day"),
    Room: _Spec("room"),
    EquipmentItem: _Spec("equipment_item"),
    Standard: _Spec("standard"),
    StandardItem: _Spec("standard_item"),
    ExperimentItem: _Spec("experiment"),
    ExperimentRecord: _Spec("experiment_record"),
    CalendarDef: _Spec("calendar"),
    DaySchedule: _Spec("day_schedule"),
    SchoolTimetable: _Spec("timetable"),
    SchoolEdition: _Spec("school_edition"),
    DeviceKind: _Spec("device_kind"),
    User: _Spec("user", hidden=("password_hash",)),
    ApiToken: _Spec("api_token", hidden=("secret_hash",)),
    ServerSecret: _Spec("server_secret", digested=("value",)),
    Alert: _Spec(
        "alert",
        columns=("id", "rule", "subject", "school", "state", "acknowledged_by", "acknowledged_at", "resolved_at"),
    ),
    IssuedReport: _Spec(
        "issued_report",
        columns=(
            "id",
            "kind",
            "scope",
            "ident",
            "period_from",
            "period_to",
            "issued_by",
            "sha256",
            "size",
            "audit_seq",
            "audit_hash",
        ),
    ),
}


class MissingActor(RuntimeError):
    """An audited row was changed by a session that did not say who is acting."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _columns(obj: object, spec: _Spec) -> list[str]:
    names = [a.key for a in inspect(type(obj)).column_attrs]
    return [n for n in names if spec.columns is None or n in spec.columns]


def _snapshot(obj: object, spec: _Spec, which: str) -> dict[str, Any]:
    state = inspect(obj)
    out: dict[str, Any] = {}
    for name in _columns(obj, spec):
        hist = state.attrs[name].history
        if which == "new":
            value = getattr(obj, name)
        else:
            value = hist.deleted[0] if hist.deleted else (hist.unchanged[0] if hist.unchanged else getattr(obj, name))
        if value is not None and name in spec.hidden:
            value = HIDDEN
        elif value is not None and name in spec.digested:
            value = fingerprint(str(value))
        out[name] = _plain(value)
    return out


def fingerprint(value: str) -> str:
    """`sha256:` and the first 16 hex digits of the value's SHA-256: tells values apart without showing them."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def _key(obj: object) -> str:
    ident = inspect(type(obj)).primary_key_from_instance(obj)
    return "/".join(str(_plain(v)) for v in ident)


def _school(obj: object) -> str | None:
    if isinstance(obj, School):
        return obj.code
    school = getattr(obj, "school", None)
    return school if isinstance(school, str) else None


def _changes(session: Session) -> list[tuple[str, object, dict[str, Any] | None, dict[str, Any] | None]]:
    found: list[tuple[str, object, dict[str, Any] | None, dict[str, Any] | None]] = []
    for obj in session.new:
        if (spec := AUDITED.get(type(obj))) is not None:
            found.append(("create", obj, None, _snapshot(obj, spec, "new")))
    for obj in session.dirty:
        if (spec := AUDITED.get(type(obj))) is not None:
            old, new = _snapshot(obj, spec, "old"), _snapshot(obj, spec, "new")
            if old != new:
                found.append(("update", obj, old, new))
    for obj in session.deleted:
        if (spec := AUDITED.get(type(obj))) is not None:
            found.append(("delete", obj, _snapshot(obj, spec, "old"), None))
    return found


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(prev_hash: str, e: dict[str, Any]) -> str:
    """The chain hash of one entry given the previous entry's hash."""
    content = [e["seq"], e["at"], e["actor"], e["action"], e["entity"], e["key"], e["school"], e["old"], e["new"]]
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, _ctx: object) -> None:
    changes = _changes(session)
    if not changes:
        return
    actor = session.info.get("actor")
    if not actor:
        raise MissingActor("inventory changed without an actor; set session.info['actor'] to who is acting")
    conn = session.connection()
    head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()).one()
    seq, prev = head.seq, head.hash
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = []
    for action, obj, old, new in changes:
        seq += 1
        entity = AUDITED[type(obj)].entity
        e = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "entity": entity,
            "key": _key(obj),
            "school": _school(obj),
            "old": _dump(old),
            "new": _dump(new),
        }
        e["prev_hash"], e["hash"] = prev, entry_hash(prev, e)
        prev = e["hash"]
        rows.append(e)
    conn.execute(insert(AuditEntry), rows)
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))


def verify_chain(s: Session) -> dict[str, Any]:
    """Recompute the chain; report the first entry whose link or content does not match, if any."""
    prev, expected_seq, checked = GENESIS, 1, 0
    for row in s.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000)).scalars():
        e = {c: getattr(row, c) for c in ("seq", "at", "actor", "action", "entity", "key", "school", "old", "new")}
        problem = None
        if row.seq != expected_seq:
            problem = f"entries {expected_seq}..{row.seq - 1} are missing"
        elif row.prev_hash != prev:
            problem = "prev_hash does not match the hash of the entry before"
        elif entry_hash(prev, e) != row.hash:
            problem = "content does not match its hash (the entry was altered)"
        if problem:
            return {"ok": False, "entries": checked, "first_broken": {"seq": expected_seq, "reason": problem}}
        prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    head = s.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    if head.seq != checked or head.hash != prev:
        reason = f"the log ends at entry {checked} but its head says {head.seq} (entries were removed)"
        return {"ok": False, "entries": checked, "first_broken": {"seq": checked + 1, "reason": reason}}
    return {"ok": True, "entries": checked, "head": prev}
