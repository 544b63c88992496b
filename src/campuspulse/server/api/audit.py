"""The audit log: who changed what, old → new, and a check that the hash chain is unbroken."""

import json
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from campuspulse.server.access.principals import Role, readable_schools, require_admin
from campuspulse.server.api.auth import Caller
from campuspulse.server.deps import Db
from campuspulse.store.access_schema import AuditEntry
from campuspulse.store.audit import verify_chain

router = APIRouter(tags=["audit"])


@router.get("/audit")
def list_audit(
    db: Db,
    caller: Caller,
    school: str | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="entries after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, object]:
    """Audit entries in order; outside admins and city-wide auditors, only those of schools in scope."""
    q = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if school is not None:
        q = q.where(AuditEntry.school == school)
    within = readable_schools(db, caller)
    if within is not None:
        q = q.where(AuditEntry.school.in_(within))
    rows = db.scalars(q).all()
    cols = ("seq", "at", "actor", "action", "entity", "key", "school", "old", "new", "hash")
    entries = [{c: getattr(r, c) for c in cols} for r in rows]
    for e in entries:
        e["old"], e["new"] = (json.loads(e[k]) if e[k] else None for k in ("old", "new"))
    return {"entries": entries}


@router.get("/audit/verify")
def verify(db: Db, caller: Caller) -> dict[str, object]:
    """Recompute the whole chain; name the first broken link (admins and auditors)."""
    if caller.role is not Role.AUDITOR:
        require_admin(caller, "verify the audit chain")
    return verify_chain(db)
