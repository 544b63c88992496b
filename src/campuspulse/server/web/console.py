"""The dashboard's management console (管理): its hub page, and what its pages share — the schools a user reads,
whether their role changes anything, the school a form changes (or the page refusing it). The pages themselves:
`reports_console`, `audit_console`, `school_console`, `agent_setup`, `school_admin`."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import (
    MANAGES_NOTHING,
    Forbidden,
    Principal,
    readable_schools,
    require_read,
    require_write,
)
from campuspulse.server.deps import Db
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import render
from campuspulse.server.web.session import form_token_ok, page_principal
from campuspulse.store.inventory_schema import EquipmentItem
from campuspulse.store.schema import School

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_UPLOAD = 50 * 1024 * 1024


def refused_page(request: Request, user: Principal, exc: Exception) -> Response:
    """The error page of a refusal (403, 404 or 409) with its reason."""
    t = Text(lang_of(request))
    code = {Forbidden: 403, NotFound: 404, Conflict: 409}.get(type(exc), 403)
    heading = t({403: "forbidden", 404: "not_found"}.get(code, "bad_input"))
    return render(request, "error.html", code, user=user, heading=heading, message=str(exc))


def schools_of(db: Session, user: Principal) -> list[School]:
    """The schools a user may read."""
    within = readable_schools(db, user)
    q = select(School).order_by(School.district, School.code)
    return list(db.scalars(q if within is None else q.where(School.code.in_(within))))


@router.get("/manage")
def manage(request: Request, db: Db) -> Response:
    """What this user may run from the dashboard, and each school's ledger."""
    user = page_principal(request, db)
    schools = schools_of(db, user)
    lines = dict(
        db.execute(
            select(EquipmentItem.school, func.count())
            .where(EquipmentItem.school.in_([s.code for s in schools]))
            .group_by(EquipmentItem.school)
        ).all()
    )
    return render(request, "manage.html", user=user, schools=schools, lines=lines, may_change=may_change(user))


def may_change(user: Principal) -> bool:
    """Whether a user's role changes anything (not auditors, not teachers)."""
    return user.role not in MANAGES_NOTHING


def school_of(db: Session, user: Principal, code: str) -> School:
    """A school the user may read (Forbidden, or NotFound)."""
    require_read(db, user, code)
    row = db.get(School, code)
    if row is None:
        raise NotFound(f"no school {code!r}")
    return row


def school_to_change(request: Request, db: Session, code: str, csrf: str) -> tuple[Principal, School] | Response:
    """The user and the school a form changes, or the page refusing it (scope, role, or a form from elsewhere)."""
    user = page_principal(request, db)
    try:
        school = school_of(db, user, code)
        if not form_token_ok(request, csrf):
            raise Forbidden(Text(lang_of(request))("form_expired"))
        require_write(db, user, code)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return user, school
