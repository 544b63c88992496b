"""A school's records in the dashboard: its equipment ledger (download, upload with every row problem shown in
the page), its rooms and devices (new ones, and the names of all, in the page or in Excel), and its calendar
(the calendar and day schedule it follows, its teaching days month by month, holidays merged by admins)."""

import asyncio
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Forbidden, Principal, Role, covers_school
from campuspulse.server.deps import XLSX, Db
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.inventory import equipment_ledger, service, timetables
from campuspulse.server.inventory import names as names_sheet
from campuspulse.server.inventory.calendar_files import events_from_csv, events_from_ics
from campuspulse.server.inventory.excel import SheetRejected
from campuspulse.server.inventory.kinds import kind_names, put_kind
from campuspulse.server.inventory.school_fields import DeviceIn, RoomIn
from campuspulse.server.web import views
from campuspulse.server.web.console import MAX_UPLOAD, may_change, refused_page, school_of, school_to_change
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import local_today, render
from campuspulse.server.web.problems_zh import problem_zh
from campuspulse.server.web.session import form_token_ok, page_principal
from campuspulse.store.inventory_schema import EquipmentItem, Room, SchoolTimetable
from campuspulse.store.schema import Agent, Device, School
from campuspulse.telemetry.topics import ID_PATTERN

router = APIRouter(prefix="/ui", include_in_schema=False)


# --- equipment ledger --------------------------------------------------------------------------------------------


def _ledger_page(
    request: Request,
    db: Session,
    user: Principal,
    school: School,
    code: int = 200,
    problems: list[dict[str, Any]] | None = None,
    error: str | None = None,
    result: dict[str, int] | None = None,
) -> Response:
    lines = db.scalar(select(func.count()).where(EquipmentItem.school == school.code)) or 0
    labels = {c.key: c.label for c in equipment_ledger.COLUMNS}
    said = problem_zh if lang_of(request) == "zh" else str
    return render(
        request,
        "ledger.html",
        code,
        user=user,
        school=school,
        lines=lines,
        may_change=may_change(user) and covers_school(db, user, school.code),
        problems=[
            {**p, "label": labels.get(p["column"], p["column"]), "message": said(p["message"])} for p in problems or []
        ],
        error=error,
        result=result,
        crumbs=views.crumbs_of(user, db, school.district),
    )


@router.get("/schools/{code}/ledger")
def ledger(request: Request, db: Db, code: str) -> Response:
    """A school's equipment ledger: download it or the template, upload a changed one."""
    user = page_principal(request, db)
    try:
        school = school_of(db, user, code)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return _ledger_page(request, db, user, school)


@router.get("/schools/{code}/equipment.xlsx")
def ledger_file(request: Request, db: Db, code: str) -> Response:
    """The school's ledger as the workbook the upload reads."""
    user = page_principal(request, db)
    try:
        school_of(db, user, code)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    name = f"{code}-equipment.xlsx"
    return Response(
        equipment_ledger.export_ledger(db, code),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/templates/equipment.xlsx")
def ledger_template(request: Request, db: Db) -> Response:
    """An empty ledger with a sheet explaining each column."""
    page_principal(request, db)
    return Response(
        equipment_ledger.template(),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="equipment-template.xlsx"'},
    )


@router.post("/schools/{code}/ledger")
async def upload_ledger(
    request: Request,
    db: Db,
    code: str,
    file: Annotated[UploadFile, File()],
    mode: Annotated[Literal["upsert", "replace"], Form()] = "upsert",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Import a ledger: every row checked first; with any problem nothing is written and each is listed."""
    got = await asyncio.to_thread(school_to_change, request, db, code, csrf)
    if isinstance(got, Response):
        return got
    user, school = got
    t = Text(lang_of(request))
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _ledger_page(request, db, user, school, 413, error=t("upload_too_large", mb=MAX_UPLOAD // 2**20))
    try:
        result = await asyncio.to_thread(equipment_ledger.import_ledger, db, code, data, mode)
    except SheetRejected as exc:
        problems = [p.as_dict() for p in exc.problems]
        return _ledger_page(
            request, db, user, school, 422, problems=problems, error=t("ledger_rejected", n=len(problems))
        )
    done = {"created": result.created, "updated": result.updated, "deleted": result.deleted}
    return _ledger_page(request, db, user, school, result=done)


# --- names of rooms and devices ----------------------------------------------------------------------------------

MAX_NAME = 200


def _names_page(
    request: Request,
    db: Session,
    user: Principal,
    school: School,
    code: int = 200,
    error: str | None = None,
    problems: list[dict[str, Any]] | None = None,
) -> Response:
    t = Text(lang_of(request))
    said = problem_zh if t.lang == "zh" else str
    labels = {c.key: c.label for c in names_sheet.COLUMNS}
    rooms = db.scalars(select(Room).where(Room.school == school.code).order_by(Room.room)).all()
    devices = db.scalars(select(Device).where(Device.school == school.code).order_by(Device.room, Device.device)).all()
    return render(
        request,
        "names.html",
        code,
        user=user,
        school=school,
        rooms=rooms,
        devices=devices,
        agents=db.scalars(select(Agent.id).where(Agent.school == school.code).order_by(Agent.id)).all(),
        kinds=sorted(set(kind_names(db)) | {d.kind for d in devices}),
        kind_names=kind_names(db),
        may_name_kinds=user.role is Role.ADMIN,
        may_change=may_change(user) and covers_school(db, user, school.code),
        crumbs=views.crumbs_of(user, db, school.district),
        error=error,
        problems=[
            {**p, "label": labels.get(p["column"], p["column"]), "message": said(p["message"])} for p in problems or []
        ],
        done=t("names_saved") if request.query_params.get("done") == "saved" else None,
    )


@router.get("/schools/{code}/names")
def names(request: Request, db: Db, code: str) -> Response:
    """The names of a school's rooms and devices (their codes stay their ids), editable by its managers."""
    user = page_principal(request, db)
    try:
        school = school_of(db, user, code)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return _names_page(request, db, user, school)


@router.post("/schools/{code}/names")
async def save_names(request: Request, db: Db, code: str) -> Response:
    """Save the names the form holds: `room:<code>` and `device:<code>` fields; an empty device name clears it (a
    room keeps one)."""
    form = await request.form(max_files=0, max_fields=5000)
    got = school_to_change(request, db, code, str(form.get("csrf", "")))
    if isinstance(got, Response):
        return got
    user, school = got
    t = Text(lang_of(request))
    rooms = {r.room: r for r in db.scalars(select(Room).where(Room.school == code))}
    devices = {d.device: d for d in db.scalars(select(Device).where(Device.school == code))}
    for field, value in form.multi_items():
        kind, _, ident = field.partition(":")
        name = str(value).strip()
        if kind not in ("room", "device") or len(name) > MAX_NAME:
            if len(name) > MAX_NAME:
                return _names_page(request, db, user, school, 422, t("name_too_long", n=MAX_NAME))
            continue
        if kind == "room" and ident in rooms and name and rooms[ident].name != name:
            rooms[ident].name = name
        elif kind == "device" and ident in devices and (devices[ident].name or "") != name:
            devices[ident].name = name or None
    return RedirectResponse(f"/ui/schools/{code}/names?done=saved", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/schools/{code}/names.xlsx")
def names_file(request: Request, db: Db, code: str) -> Response:
    """The names as a workbook to edit in Excel and upload again."""
    user = page_principal(request, db)
    try:
        school_of(db, user, code)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return Response(
        names_sheet.export_names(db, code),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{code}-names.xlsx"'},
    )


@router.post("/schools/{code}/names.xlsx")
async def upload_names(
    request: Request,
    db: Db,
    code: str,
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Set the names of an edited workbook: all of them, or none and each problem listed."""
    got = school_to_change(request, db, code, csrf)
    if isinstance(got, Response):
        return got
    user, school = got
    t = Text(lang_of(request))
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _names_page(request, db, user, school, 413, t("upload_too_large", mb=MAX_UPLOAD // 2**20))
    try:
        await asyncio.to_thread(names_sheet.import_names, db, code, data, user.role is Role.ADMIN)
    except SheetRejected as exc:
        found = [p.as_dict() for p in exc.problems]
        return _names_page(request, db, user, school, 422, t("ledger_rejected", n=len(found)), found)
    return RedirectResponse(f"/ui/schools/{code}/names?done=saved", status_code=status.HTTP_303_SEE_OTHER)


# --- new rooms and devices ---------------------------------------------------------------------------------------


def _new_thing_refused(request: Request, db: Session, user: Principal, school: School, exc: Exception) -> Response:
    t = Text(lang_of(request))
    if isinstance(exc, ValidationError):
        said = problem_zh if t.lang == "zh" else str
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return _names_page(
            request, db, user, school, 422, f"{where}: {said(first['msg'].removeprefix('Value error, '))}"
        )
    if isinstance(exc, Conflict | NotFound):
        return _names_page(request, db, user, school, 422, str(exc))
    return _names_page(request, db, user, school, 422, t("bad_input"))


@router.post("/schools/{code}/rooms")
def add_room(
    request: Request,
    db: Db,
    code: str,
    room: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=200)],
    type: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Add (or rename and retype) a room of the school."""
    got = school_to_change(request, db, code, csrf)
    if isinstance(got, Response):
        return got
    user, school = got
    t = Text(lang_of(request))
    if not re.fullmatch(ID_PATTERN, room.strip()):
        return _names_page(request, db, user, school, 422, t("code_form"))
    try:
        body = RoomIn.model_validate({"name": name.strip(), "type": type.strip()})
    except ValidationError as exc:
        return _new_thing_refused(request, db, user, school, exc)
    service.put_room(db, code, room.strip(), body.model_dump())
    return RedirectResponse(f"/ui/schools/{code}/names?done=saved", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/schools/{code}/devices")
def add_device(
    request: Request,
    db: Db,
    code: str,
    device: Annotated[str, Form(max_length=64)],
    kind: Annotated[str, Form(max_length=64)],
    room: Annotated[str, Form(max_length=64)],
    agent: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Add a device to the school, watched by one of its agents (an existing code is replaced)."""
    got = school_to_change(request, db, code, csrf)
    if isinstance(got, Response):
        return got
    user, school = got
    t = Text(lang_of(request))
    if not re.fullmatch(ID_PATTERN, device.strip()):
        return _names_page(request, db, user, school, 422, t("code_form"))
    try:
        body = DeviceIn.model_validate(
            {"agent": agent.strip(), "room": room.strip(), "kind": kind.strip(), "name": name.strip() or None}
        )
        service.put_device(db, code, device.strip(), body.model_dump())
    except (ValidationError, Conflict, NotFound) as exc:
        return _new_thing_refused(request, db, user, school, exc)
    return RedirectResponse(f"/ui/schools/{code}/names?done=saved", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/schools/{code}/calendar/import")
async def import_calendar_events(
    request: Request,
    db: Db,
    code: str,
    calendar: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Add holidays, make-up days and terms from an .ics or CSV file to a calendar (admins: calendars are shared by
    schools); every school following it is compiled again. Shown from a school's calendar page."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    try:
        school = await asyncio.to_thread(school_of, db, user, code)
        if not form_token_ok(request, csrf):
            raise Forbidden(t("form_expired"))
        if user.role is not Role.ADMIN:
            raise Forbidden(t("calendars_by_admins"))
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _calendar_page(request, db, user, school, 413, t("upload_too_large", mb=MAX_UPLOAD // 2**20))
    csv = (file.filename or "").lower().endswith(".csv")

    def run() -> int:
        events = events_from_csv(data) if csv else events_from_ics(data)
        return timetables.import_events(db, calendar, events)[1]

    try:
        schools = await asyncio.to_thread(run)
    except SheetRejected as exc:
        said = problem_zh if t.lang == "zh" else str
        lines = "; ".join(f"{p.row}: {said(p.message)}" for p in exc.problems[:20])
        return _calendar_page(request, db, user, school, 422, f"{t('calendar_rejected')} {lines}")
    except (ValidationError, Conflict, NotFound) as exc:
        return _calendar_page(request, db, user, school, 422, f"{t('calendar_rejected')} {exc}")
    query = urlencode({"done": "imported", "n": schools})
    return RedirectResponse(f"/ui/schools/{code}/calendar?{query}", status_code=status.HTTP_303_SEE_OTHER)


# --- calendar and day schedule -----------------------------------------------------------------------------------


def _month(value: str | None, today: date) -> date:
    try:
        return date.fromisoformat(f"{value}-01") if value else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)


def _calendar_page(
    request: Request, db: Session, user: Principal, school: School, code: int = 200, error: str | None = None
) -> Response:
    t = Text(lang_of(request))
    first = _month(request.query_params.get("month"), local_today(request))
    after = (first + timedelta(days=32)).replace(day=1)
    days = {d.day: d.periods for d in service.list_calendar_days(db, school.code, first.isoformat(), after.isoformat())}
    weeks: list[list[dict[str, Any] | None]] = [[None] * first.weekday()]
    day = first
    while day < after:
        if len(weeks[-1]) == 7:
            weeks.append([])
        weeks[-1].append({"day": day, "periods": days.get(day.isoformat())})
        day += timedelta(days=1)
    weeks[-1] += [None] * (7 - len(weeks[-1]))
    current = db.get(SchoolTimetable, school.code)
    before = (first - timedelta(days=1)).replace(day=1)
    done = request.query_params.get("done")
    return render(
        request,
        "calendar.html",
        code,
        user=user,
        school=school,
        month=first,
        weeks=weeks,
        teaching=len(days),
        prev_month=before.strftime("%Y-%m"),
        next_month=after.strftime("%Y-%m"),
        timetable=current,
        calendars=timetables.list_calendars(db),
        schedules=[s for s in timetables.list_schedules(db) if s.stage in (school.stage, "")]
        or timetables.list_schedules(db),
        may_change=may_change(user) and covers_school(db, user, school.code),
        crumbs=views.crumbs_of(user, db, school.district),
        weekdays=t("weekdays").split(","),
        error=error,
        done=t("timetable_saved", n=request.query_params.get("n", ""))
        if done == "saved"
        else t("calendar_imported", n=request.query_params.get("n", ""))
        if done == "imported"
        else None,
        may_import=user.role is Role.ADMIN,
    )


@router.get("/schools/{code}/calendar")
def calendar(request: Request, db: Db, code: str) -> Response:
    """A school's teaching days month by month, and the calendar and day schedule it follows."""
    user = page_principal(request, db)
    try:
        school = school_of(db, user, code)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    return _calendar_page(request, db, user, school)


@router.post("/schools/{code}/calendar")
def set_calendar(
    request: Request,
    db: Db,
    code: str,
    calendar: Annotated[str, Form(max_length=64)],
    schedule: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Make the school follow a calendar and a day schedule: its teaching days are compiled again."""
    got = school_to_change(request, db, code, csrf)
    if isinstance(got, Response):
        return got
    user, school = got
    t = Text(lang_of(request))
    try:
        written = timetables.set_timetable(db, code, calendar, schedule)
    except NotFound:
        return _calendar_page(request, db, user, school, 422, t("timetable_unknown"))
    query = urlencode({"done": "saved", "n": written})
    return RedirectResponse(f"/ui/schools/{code}/calendar?{query}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/device-kinds")
async def name_kinds(request: Request, db: Db) -> Response:
    """Name device kinds (admins: the names are the whole city's): `zh:<kind>` and `en:<kind>` fields; an empty
    Chinese name leaves a kind as it was."""
    form = await request.form(max_files=0, max_fields=2000)
    code = str(form.get("school", ""))[:64]
    got = school_to_change(request, db, code, str(form.get("csrf", "")))
    if isinstance(got, Response):
        return got
    user, school = got
    t = Text(lang_of(request))
    if user.role is not Role.ADMIN:
        return refused_page(request, user, Forbidden(t("kinds_by_admins")))
    names = kind_names(db)
    for field, value in form.multi_items():
        lang, _, kind = field.partition(":")
        if lang != "zh" or not kind or not str(value).strip():
            continue
        zh, en = str(value).strip(), str(form.get(f"en:{kind}", "")).strip() or None
        if len(zh) > 100 or (en and len(en) > 100) or not re.fullmatch(ID_PATTERN, kind):
            return _names_page(request, db, user, school, 422, t("name_too_long", n=100))
        if names.get(kind) != (zh, en or names.get(kind, ("", kind))[1]):
            put_kind(db, kind, zh, en)
    return RedirectResponse(f"/ui/schools/{code}/names?done=saved", status_code=status.HTTP_303_SEE_OTHER)
