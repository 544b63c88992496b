"""What happened, in the dashboard: the audit log of one's scope with a check of the whole chain (admins and
auditors), and dead letters with their reasons."""

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from campuspulse.server.access.principals import (
    Forbidden,
    Role,
    readable_schools,
)
from campuspulse.server.audit_checkpoints import verify_everything
from campuspulse.server.deps import Db
from campuspulse.server.web.console import refused_page
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import render
from campuspulse.server.web.session import page_principal
from campuspulse.store.access_schema import AuditEntry
from campuspulse.store.health import dead_letters

router = APIRouter(prefix="/ui", include_in_schema=False)
AUDIT_PAGE = 100


# --- audit log ---------------------------------------------------------------------------------------------------


def _shown(value: str | None) -> str:
    if not value:
        return ""
    try:
        text = json.dumps(json.loads(value), ensure_ascii=False, sort_keys=True)
    except ValueError:
        text = value
    return text if len(text) <= 400 else text[:400] + " …"


@router.get("/audit")
def audit(request: Request, db: Db, school: str | None = None, before: int | None = None, verify: int = 0) -> Response:
    """The audit log of the user's scope, newest first, a page at a time; `verify=1` checks the whole chain
    (admins and auditors)."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    if user.role is Role.TEACHER:
        return refused_page(request, user, Forbidden(t("teachers_record_only")))
    q = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(AUDIT_PAGE)
    if before is not None:
        q = q.where(AuditEntry.seq < max(0, min(before, 2**63 - 1)))
    if school:
        q = q.where(AuditEntry.school == school[:64])
    within = readable_schools(db, user)
    if within is not None:
        q = q.where(AuditEntry.school.in_(within))
    entries = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "entity": e.entity,
            "key": e.key,
            "school": e.school,
            "old": _shown(e.old),
            "new": _shown(e.new),
        }
        for e in db.scalars(q)
    ]
    may_verify = user.role in (Role.ADMIN, Role.AUDITOR)
    checked = verify_everything(db, request.app.state.checkpointer) if verify and may_verify else None
    older = (
        {"before": entries[-1]["seq"], **({"school": school} if school else {})} if len(entries) == AUDIT_PAGE else None
    )
    return render(
        request,
        "audit.html",
        user=user,
        entries=entries,
        school=school or "",
        older=urlencode(older) if older else None,
        may_verify=may_verify,
        checked=checked,
    )


# --- dead letters ------------------------------------------------------------------------------------------------


@router.get("/dead-letters")
def dead_letter_list(request: Request, db: Db, school: str | None = None) -> Response:
    """The newest input that broke the contract, of the user's scope, with the reason."""
    user = page_principal(request, db)
    if user.role is Role.TEACHER:
        return refused_page(request, user, Forbidden(Text(lang_of(request))("teachers_record_only")))
    letters = dead_letters(db, 200, None, (school or "")[:64] or None, readable_schools(db, user))
    for d in letters:
        raw = d["raw"] if isinstance(d["raw"], str) else repr(d["raw"])
        d["raw"] = raw if len(raw) <= 300 else raw[:300] + " …"
    return render(request, "dead_letters.html", user=user, letters=letters, school=school or "")
