"""Schools in the dashboard, for district managers and admins: the schools of their scope with what the figures
depend on (学段, students, classes grade by grade), a new school, and each one's details changed — checked as the
API checks them, the problems said in the page's language."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Forbidden, Principal, Role, region_districts, require_write
from campuspulse.server.deps import Db
from campuspulse.server.errors import NotFound
from campuspulse.server.inventory import service
from campuspulse.server.inventory.school_fields import SchoolIn
from campuspulse.server.inventory.stages import STAGE_GRADES
from campuspulse.server.reports.commission_xlsx import STAGE_NAMES
from campuspulse.server.web.console import refused_page, schools_of
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import render
from campuspulse.server.web.problems_zh import problem_zh
from campuspulse.server.web.session import form_token_ok, page_principal
from campuspulse.store.inventory_schema import Region
from campuspulse.store.schema import School
from campuspulse.telemetry.topics import ID_PATTERN

router = APIRouter(prefix="/ui/manage", include_in_schema=False)
FIELDS = ("name", "district", "stage", "students", "max_class_size")


def _districts(db: Session, user: Principal) -> list[tuple[str, str]]:
    """(code, name) of the districts a user may put schools in."""
    q = select(Region.code, Region.name).where(Region.level == "district").order_by(Region.code)
    rows = db.execute(q).all()
    if user.role is Role.ADMIN:
        return [(c, n) for c, n in rows]
    inside = region_districts(db, user.scope_id) if user.role is Role.DISTRICT_MANAGER else set()
    return [(c, n) for c, n in rows if c in inside]


def _may_manage(user: Principal) -> bool:
    return user.role in (Role.ADMIN, Role.DISTRICT_MANAGER)


def _page(
    request: Request,
    db: Session,
    user: Principal,
    school: School | None,
    code: int = 200,
    errors: list[str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    t = Text(lang_of(request))
    if form is None and school is not None:
        form = {k: getattr(school, k) for k in ("code", *FIELDS)}
        form["grades"] = {str(g): n for g, n in (school.classes_by_grade or {}).items()}
    done = request.query_params.get("done")
    return render(
        request,
        "schools_admin.html",
        code,
        user=user,
        schools=schools_of(db, user),
        school=school,
        form=form or {"stage": "junior", "grades": {}},
        districts=_districts(db, user),
        stages=[(k, STAGE_NAMES.get(k, k), list(v)) for k, v in STAGE_GRADES.items()],
        stage_names=STAGE_NAMES,
        may_manage=_may_manage(user),
        errors=errors or [],
        done=t("school_saved") if done == "saved" else None,
    )


@router.get("/schools")
def schools(request: Request, db: Db) -> Response:
    """The schools of one's scope, and a form for a new one."""
    user = page_principal(request, db)
    if user.role is Role.TEACHER:
        return refused_page(request, user, Forbidden(Text(lang_of(request))("teachers_record_only")))
    return _page(request, db, user, None)


@router.get("/schools/{code}")
def school(request: Request, db: Db, code: str) -> Response:
    """A school's details to change."""
    user = page_principal(request, db)
    try:
        row = db.get(School, code)
        if row is None:
            raise NotFound(f"no school {code!r}")
        if not any(s.code == code for s in schools_of(db, user)):
            raise Forbidden(f"{user.name} ({user.role.value}) may read {user.scope_label}, not school {code!r}")
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return _page(request, db, user, row)


def _body(form: dict[str, Any]) -> SchoolIn:
    grades_of_stage = {str(g) for g in STAGE_GRADES.get(str(form["stage"]), range(1, 13))}
    grades = {g: int(n) for g, n in form["grades"].items() if g in grades_of_stage and str(n).strip() not in ("", "0")}
    return SchoolIn.model_validate(
        {
            "name": form["name"],
            "district": form["district"],
            "stage": form["stage"],
            "students": form["students"] or 0,
            "max_class_size": form["max_class_size"] or 0,
            "classes_by_grade": grades or None,
        }
    )


def _said(t: Text, exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or t("school")
        message = e["msg"].removeprefix("Value error, ")
        out.append(
            f"{t('school_field_' + where) if where in FIELDS else where}: "
            f"{problem_zh(message) if t.lang == 'zh' else message}"
        )
    return out


@router.post("/schools")
async def save(request: Request, db: Db, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Create a school, or change one (`code` of an existing school): what the API's PUT does."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    raw = await request.form(max_files=0, max_fields=100)
    form: dict[str, Any] = {k: str(raw.get(k, "")).strip()[:200] for k in ("code", *FIELDS)}
    form["grades"] = {k.removeprefix("grade_"): str(v).strip()[:6] for k, v in raw.items() if k.startswith("grade_")}
    existing = db.get(School, form["code"]) if form["code"] else None
    try:
        if not _may_manage(user):
            raise Forbidden(t("schools_by_district_managers"))
        if not form_token_ok(request, csrf):
            raise Forbidden(t("form_expired"))
    except Forbidden as exc:
        return refused_page(request, user, exc)
    if not re.fullmatch(ID_PATTERN, form["code"]):
        return _page(request, db, user, existing, 422, [t("school_code_form")], form)
    try:
        body = _body(form)
    except ValidationError as exc:
        return _page(request, db, user, existing, 422, _said(t, exc), form)
    except ValueError:
        return _page(request, db, user, existing, 422, [t("school_numbers")], form)
    try:
        require_write(db, user, form["code"], body.district)
    except Forbidden as exc:
        return refused_page(request, user, exc)
    service.put_school(db, form["code"], body.model_dump())
    return RedirectResponse(f"/ui/manage/schools/{form['code']}?done=saved", status_code=status.HTTP_303_SEE_OTHER)
