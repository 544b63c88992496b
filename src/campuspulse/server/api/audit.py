"""The audit log: who changed what, old → new, and a check that the hash chain is unbroken."""

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from campuspulse.server.access.principals import Role, readable_schools, require_admin
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.audit_checkpoints import verify_everything
from campuspulse.server.deps import Db
from campuspulse.store.access_schema import AuditEntry

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=answers.AuditEntries)
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


@router.get("/audit/verify", response_model=answers.AuditVerification, response_model_exclude_unset=True)
def verify(request: Request, db: Db, caller: Caller) -> dict[str, object]:
    """Recompute the whole chain and name the first broken link; then check it against the heads issued reports
    carry and, when this server publishes checkpoints to a file, against those signed checkpoints: `problems`
    names every disagreement (admins and auditors)."""
    if caller.role is not Role.AUDITOR:
        require_admin(caller, "verify the audit chain")
    return verify_everything(db, request.app.state.checkpointer)
