"""The teacher's page, phone first: record that a class did an experiment (class, experiment of its grade from the
catalog in the school's edition, date, 分组/演示), see the class's progress this term, undo one's own records.
A school's managers and admins use it too, for any school they may change."""

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Forbidden, Principal, Role, require_record_write
from campuspulse.server.deps import Db, RowId
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.inventory import experiments
from campuspulse.server.inventory.experiments import ExperimentRecordIn
from campuspulse.server.metrics.offering import TYPES
from campuspulse.server.metrics.offering_service import class_names, class_plan
from campuspulse.server.metrics.service import term_of
from campuspulse.server.web.console import refused_page
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import local_today, render
from campuspulse.server.web.session import form_token_ok, page_principal
from campuspulse.store.inventory_schema import ExperimentItem, ExperimentRecord
from campuspulse.store.schema import School

router = APIRouter(prefix="/ui", include_in_schema=False)
RECENT = 12


class Refused(ValueError):
    """A record the page refuses; `message` is in the page's language."""

    def __init__(self, message: str, status_code: int = status.HTTP_422_UNPROCESSABLE_CONTENT) -> None:
        super().__init__(message)
        self.message, self.status_code = message, status_code


def _school(db: Session, user: Principal, code: str | None) -> School:
    code = user.scope_id if user.role is Role.TEACHER else (code or user.scope_id)
    if not code:
        raise NotFound("choose a school: /ui/teach?school=<code>")
    require_record_write(db, user, code)
    school = db.get(School, code)
    if school is None:
        raise NotFound(f"no school {code!r}")
    return school


def _page(
    request: Request,
    db: Session,
    user: Principal,
    school: School,
    chosen: str | None,
    code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    t = Text(lang_of(request))
    today = local_today(request)
    recorded = set(db.scalars(select(ExperimentRecord.class_).where(ExperimentRecord.school == school.code)))
    classes = class_names(school, recorded)
    term = term_of(today.isoformat())
    if chosen not in classes:
        chosen = _first_with_experiments(db, school, classes, term)
    plan = class_plan(db, school, chosen, term) if chosen else []
    required = [p for p in plan if p["required"]]
    progress = [
        (kind, sum(bool(p["done"]) for p in required if p["type"] == kind), sum(p["type"] == kind for p in required))
        for kind in TYPES
    ]
    mine = select(ExperimentRecord).where(ExperimentRecord.school == school.code)
    if user.role is Role.TEACHER:
        mine = mine.where(ExperimentRecord.recorded_by == user.name)
    recent = db.scalars(mine.order_by(ExperimentRecord.id.desc()).limit(RECENT)).all()
    codes = {r.experiment for r in recent}
    names = dict(
        db.execute(select(ExperimentItem.code, ExperimentItem.name).where(ExperimentItem.code.in_(codes))).all()
    )
    done = request.query_params.get("done")
    return render(
        request,
        "teach.html",
        code,
        user=user,
        school=school,
        classes=classes,
        chosen=chosen,
        term=term,
        plan=plan,
        progress=progress,
        recent=recent,
        names=names,
        today=today.isoformat(),
        earliest=(today - timedelta(days=366)).isoformat(),
        school_query=urlencode({"school": school.code}) if user.role is not Role.TEACHER else "",
        form=form or {"teacher": user.name},
        error=error,
        done=t("record_added") if done == "added" else t("record_deleted") if done == "deleted" else None,
    )


def _first_with_experiments(db: Session, school: School, classes: list[str], term: str) -> str | None:
    """The first class whose grade has experiments this term (the first class if none has)."""
    seen: set[str] = set()
    for name in classes:
        grade = name.partition("-")[0]
        if grade not in seen:
            seen.add(grade)
            if class_plan(db, school, name, term):
                return name
    return classes[0] if classes else None


@router.get("/teach")
def teach(request: Request, db: Db, school: str | None = None, class_: str | None = None) -> Response:
    """The record form and the chosen class's progress this term."""
    user = page_principal(request, db)
    try:
        sc = _school(db, user, school)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return _page(request, db, user, sc, request.query_params.get("class", class_))


def _back(school: School, user: Principal, class_name: str, done: str) -> Response:
    query = {"class": class_name, "done": done}
    if user.role is not Role.TEACHER:
        query["school"] = school.code
    return RedirectResponse(f"/ui/teach?{urlencode(query)}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/teach")
def add(
    request: Request,
    db: Db,
    class_name: Annotated[str, Form(alias="class", max_length=64)],
    experiment: Annotated[str, Form(max_length=64)],
    day: Annotated[str, Form(max_length=32)],
    teacher: Annotated[str, Form(max_length=200)] = "",
    evidence: Annotated[str, Form(max_length=1000)] = "",
    school: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Record an experiment; a wrong field comes back on the form, in the page's language."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    try:
        sc = _school(db, user, school or None)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    form = {"class": class_name, "experiment": experiment, "day": day, "teacher": teacher, "evidence": evidence}
    try:
        if not form_token_ok(request, csrf):
            raise Refused(t("form_expired"), status.HTTP_403_FORBIDDEN)
        body = _body(t, form, local_today(request))
        experiments.add_record(db, sc.code, body, user.name)
    except Refused as exc:
        return _page(request, db, user, sc, class_name, exc.status_code, exc.message, form)
    except (NotFound, Conflict) as exc:
        return _page(request, db, user, sc, class_name, 422, t("record_refused", why=str(exc)), form)
    return _back(sc, user, class_name, "added")


def _body(t: Text, form: dict[str, str], today: date) -> ExperimentRecordIn:
    try:
        when = date.fromisoformat(form["day"])
    except ValueError:
        raise Refused(t("record_bad_date")) from None
    if when > today or when < today - timedelta(days=366):
        raise Refused(t("record_date_range"))
    data: dict[str, Any] = {
        "class": form["class"].strip(),
        "experiment": form["experiment"].strip(),
        "date": when,
        "teacher": form["teacher"].strip(),
        "evidence": form["evidence"].strip(),
    }
    try:
        return ExperimentRecordIn.model_validate(data)
    except ValidationError as exc:
        field = str(exc.errors(include_url=False)[0]["loc"][0])
        raise Refused(
            t(f"record_bad_{field}" if field in ("class", "experiment", "teacher", "evidence") else "bad_input")
        ) from None


@router.post("/teach/records/{record_id}/delete")
def delete(
    request: Request,
    db: Db,
    record_id: RowId,
    school: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Undo a record (a teacher: one they entered)."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    try:
        sc = _school(db, user, school or None)
        if not form_token_ok(request, csrf):
            raise Forbidden(t("form_expired"))
        row = db.get(ExperimentRecord, record_id)
        class_name = row.class_ if row is not None and row.school == sc.code else ""
        experiments.delete_record(db, sc.code, record_id, user.name if user.role is Role.TEACHER else None)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return _back(sc, user, class_name, "deleted")
