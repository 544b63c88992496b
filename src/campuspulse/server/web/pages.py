"""The dashboard's pages under `/ui/`: login, region ranking, school, device, and the live update stream."""

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.server.access import credentials
from campuspulse.server.access.principals import (
    Forbidden,
    Principal,
    Scope,
    ScopeKind,
    readable_schools,
    require_scope_read,
)
from campuspulse.server.deps import XLSX, Db
from campuspulse.server.errors import NotFound
from campuspulse.server.inventory.kinds import kind_names
from campuspulse.server.metrics.available_time import local_date
from campuspulse.server.metrics.readings import ReadingsStore, ReadingsUnavailable
from campuspulse.server.metrics.rules import COMPLIANCE_RULES, OFFERING_RULES, UTILIZATION_RULES
from campuspulse.server.metrics.service import GroupBy, utilization
from campuspulse.server.metrics.timeline import device_timeline
from campuspulse.server.reports import commission, commission_xlsx
from campuspulse.server.reports.commission import CommissionReport
from campuspulse.server.web import charts, views
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.session import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_token,
    form_token,
    page_principal,
    safe_next,
    set_csrf,
    start_session,
)
from campuspulse.store import health
from campuspulse.store.inventory_schema import Room
from campuspulse.store.schema import Agent, AgentProgress, Device, School
from campuspulse.telemetry import ContractError

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals |= {
    "percent": charts.percent,
    "bar": charts.bar,
    "heatmap": charts.heatmap,
    "colours": charts.STATE_COLOURS,
    "rules": {
        "utilization": UTILIZATION_RULES.split(":")[0],
        "compliance": COMPLIANCE_RULES.split(":")[0],
        "offering": OFFERING_RULES.split(":")[0],
    },
}
router = APIRouter(prefix="/ui", include_in_schema=False)


def local_time(value: datetime | str | None, tz: str) -> str:
    """A moment in the dashboard's time zone, to the minute (`—` for none)."""
    if value is None or value == "":
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


templates.env.globals["when"] = lambda value: local_time(value, "Asia/Shanghai")  # pages pass their own zone


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """A page in the language of the request, with what every page needs (language switch, form token, `when` for
    times in the dashboard's zone)."""
    engine = getattr(request.app.state, "engine", None)
    kinds = None
    if engine is not None:
        with Session(engine) as s:
            kinds = kind_names(s)
    t = Text(lang_of(request), kinds)
    tz = request.app.state.ui_tz
    context.setdefault("when", lambda value: local_time(value, tz))
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query["lang"] = "en" if t.lang == "zh" else "zh"
    context = {"t": t, "other_lang_query": urlencode(query), "logout_csrf": form_token(request), **context}
    user = context.get("user")
    if isinstance(user, Principal):
        from campuspulse.server.web.alert_centre import unresolved_counts

        context["alert_counts"] = unresolved_counts(request.app.state.engine, user)
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if request.query_params.get("lang") == t.lang:
        response.set_cookie("lang", t.lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


def _page(request: Request, name: str, user: Principal, build: Callable[[], dict[str, Any]]) -> Response:
    """Render a page from what `build` gathers, or the error page when scope or input forbid it."""
    t = Text(lang_of(request))
    try:
        return render(request, name, user=user, **build())
    except Forbidden as exc:
        heading, code, message = t("forbidden"), status.HTTP_403_FORBIDDEN, str(exc)
    except NotFound as exc:
        heading, code, message = t("not_found"), status.HTTP_404_NOT_FOUND, str(exc)
    except ContractError as exc:
        said = t(exc.key, days=views.MAX_DAYS) if isinstance(exc, views.PeriodRefused) else str(exc)
        heading, code, message = t("bad_input"), status.HTTP_422_UNPROCESSABLE_CONTENT, said
    return render(request, "error.html", code, user=user, heading=heading, message=message)


def local_today(request: Request) -> date:
    """Today in the dashboard's zone."""
    return local_date(int(time.time() * 1000), ZoneInfo(request.app.state.ui_tz))


def _period(request: Request) -> views.Period:
    """The page's period: `from`, and `until` (its last day, as the form asks) or `to` (exclusive, as links carry);
    by default the four weeks up to and including today."""
    q = request.query_params
    return views.period_of(q.get("from"), q.get("to"), local_today(request), q.get("until"))


def _crumbs(request: Request, db: Session, user: Principal, district: str | None = None) -> list[tuple[str, str]]:
    here = request.url.path
    return [(name, href) for name, href in views.crumbs_of(user, db, district) if href != here]


@router.get("/login")
def login_form(request: Request, next: str | None = None, expired: int = 0) -> Response:
    """The login form."""
    t = Text(lang_of(request))
    return _login_page(request, 200, next, t("expired") if expired else None)


def _login_page(request: Request, code: int, next_path: str | None, error: str | None, username: str = "") -> Response:
    csrf = csrf_token()
    response = render(request, "login.html", code, next=safe_next(next_path), csrf=csrf, error=error, username=username)
    set_csrf(request, response, csrf)
    return response


@router.post("/login")
def login(
    request: Request,
    db: Db,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ui/",
) -> Response:
    """Check the password (throttled like the API's login) and start a session."""
    t = Text(lang_of(request))
    error, code = None, status.HTTP_401_UNAUTHORIZED
    if not csrf or csrf != request.cookies.get(CSRF_COOKIE):
        error, code = t("expired"), status.HTTP_400_BAD_REQUEST
    else:
        limit, window = request.app.state.login_limit
        address = request.client.host if request.client else "?"
        try:
            user = credentials.log_in(db, username, password, address, limit, window)
        except credentials.TooManyAttempts:
            error, code = t("too_many"), status.HTTP_429_TOO_MANY_REQUESTS
        except credentials.BadCredentials:
            error = t("bad_login")
    if error is not None:
        return _login_page(request, code, next, error, username)
    ttl: timedelta = request.app.state.access_token_ttl
    response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    start_session(
        request,
        response,
        credentials.issue_access_token(user, request.app.state.jwt_key, ttl),
        int(ttl.total_seconds()),
    )
    return response


@router.post("/logout")
def logout(request: Request, db: Db, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session: its token is refused from now on, wherever a copy of it is (the form's token must match
    the session's, so another site cannot log a user out)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and not secrets.compare_digest(csrf, form_token(request)):
        return Response("the logout form is not this site's", status_code=status.HTTP_403_FORBIDDEN)
    if token:
        credentials.end_session(db, token, request.app.state.jwt_key)
    response = RedirectResponse("/ui/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request, db: Db) -> Response:
    """Send the user to the top of their scope."""
    return RedirectResponse(views.home_of(page_principal(request, db)), status_code=status.HTTP_303_SEE_OTHER)


@router.get("/region")
@router.get("/region/{region}")
def region_page(request: Request, db: Db, region: str | None = None) -> Response:
    """A city's districts or a district's schools, ranked."""
    user = page_principal(request, db)

    def build() -> dict[str, Any]:
        period = _period(request)
        view = views.region_view(db, user, region, period)
        return {
            "view": view,
            "period": period,
            **_trend(request, db, Scope(view["scope"]), view["id"], period),
            "crumbs": _crumbs(request, db, user),
            "live": f"/ui/live?{urlencode({'region': region or ''})}" if _runs_today(period) else None,
        }

    return _page(request, "region.html", user, build)


@router.get("/schools/{school}")
def school_page(request: Request, db: Db, school: str) -> Response:
    """A school's figures, rooms × weekdays, idle equipment, gaps, experiments and devices."""
    user = page_principal(request, db)

    def build() -> dict[str, Any]:
        period = _period(request)
        v = views.school_view(db, user, school, period, int(time.time() * 1000))
        return {
            "v": v,
            "period": period,
            **_trend(request, db, Scope.SCHOOL, school, period),
            "crumbs": _crumbs(request, db, user, v["school"].district),
            "live": f"/ui/live?{urlencode({'school': school})}" if _runs_today(period) else None,
            **_weekday_grid(v["heat"], Text(lang_of(request)), v["rooms"], v["room_names"]),
            **_class_grid(v["offering"]),
        }

    return _page(request, "school.html", user, build)


def _runs_today(period: views.Period) -> bool:
    """Whether a page's period includes today: only then do its figures refresh as records arrive."""
    return period.end > period.today.isoformat()


def _trend(request: Request, db: Session, scope: Scope, ident: str, period: views.Period) -> dict[str, Any]:
    """The trend of a page: by week (default) or month (`trend=month`), as columns and as a table."""
    by = GroupBy.MONTH if request.query_params.get("trend") == "month" else GroupBy.WEEK
    points = views.trend(db, scope, ident, period, by)
    return {
        "trend_by": by.value,
        "trend": points,
        "trend_chart": charts.columns([(p.label, p.figures.get("utilization")) for p in points]),
    }


def _weekday_grid(
    heat: dict[tuple[str, int], float | None], t: Text, rooms: list[str], names: dict[str, str]
) -> dict[str, Any]:
    """Heatmap rows by room name (with the code where names repeat) and cells keyed by weekday name; the weekend
    only where something was taught."""
    labels = t("weekdays").split(",")
    shown = [wd for wd in range(1, 8) if wd <= 5 or any(k[1] == wd for k in heat)]
    taken = [names.get(r, r) for r in rooms]
    row = {r: n if taken.count(n) == 1 else f"{n} ({r})" for r, n in zip(rooms, taken, strict=True)}
    return {
        "weekdays": [labels[wd - 1] for wd in shown],
        "room_rows": [row[r] for r in rooms],
        "heat": {(row.get(room, room), labels[wd - 1]): rate for (room, wd), rate in heat.items()},
    }


def _class_grid(offering: dict[str, Any]) -> dict[str, Any]:
    """Offering rows per class, one column group per experiment type (分组, 演示)."""
    by_class: dict[str, dict[str, Any]] = {}
    for r in offering.get("by_class", []):
        by_class.setdefault(str(r["class"]), {})[str(r["type"])] = r
    return {
        "by_class": list(by_class.items()),
        "class_types": sorted({ty for cells in by_class.values() for ty in cells}),
    }


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


@router.get("/schools/{school}/devices/{device}")
def device_page(
    request: Request, db: Db, school: str, device: str, day: str | None = None, span: str = "day"
) -> Response:
    """A device's state timeline for a day or a week, its figures and its agent's health."""
    user = page_principal(request, db)

    def build() -> dict[str, Any]:
        require_scope_read(db, user, Scope.SCHOOL, school)
        sc = db.get(School, school)
        dev = db.get(Device, (school, device))
        if sc is None or dev is None:
            raise NotFound(f"device {device!r} of school {school!r} is not registered")
        tz = ZoneInfo(sc.tz)
        now_ms = int(time.time() * 1000)
        try:
            first = date.fromisoformat(day) if day else local_date(now_ms, tz)
        except ValueError:
            raise ContractError(f"day {day!r} should be a date like 2026-09-07") from None
        width = 7 if span == "week" else 1
        if span == "week":
            first -= timedelta(days=first.weekday())
        end = first + timedelta(days=width)
        line = device_timeline(db, school, device, first.isoformat(), end.isoformat(), now_ms)
        rows = utilization(db, Scope.DEVICE, f"{school}/{device}", first.isoformat(), end.isoformat(), now_ms=now_ms)
        lo = int(line["pieces"][0]["start_ms"]) if line["pieces"] else now_ms
        hi = views.local_midnight(end, tz)
        names = {s: Text(lang_of(request)).state(s) for s in charts.STATE_COLOURS}
        field, overlay, note = _readings(request, school, device, lo, hi)
        return {
            "school": sc,
            "device": dev,
            "crumbs": _crumbs(request, db, user, sc.district),
            "room_name": room.name if (room := db.get(Room, (school, dev.room))) else dev.room,
            "school_link": user.scope_kind is not ScopeKind.SCHOOL or user.scope_id == school,
            "day": first.isoformat(),
            "span": "week" if width == 7 else "day",
            "line": line,
            "strip": charts.timeline(line["pieces"], lo, hi, tz, names, overlay, Text(lang_of(request))("approximate")),
            "hours": _hours,
            "reading": {"field": field, "max": max((v for _, v in overlay), default=None), "note": note},
            "figures": rows[0] if rows else {},
            "agents": [health.agent_health(db, dev.agent)],
            "live": f"/ui/live?{urlencode({'school': school})}" if end > local_date(now_ms, tz) else None,
        }

    return _page(request, "device.html", user, build)


def _report(request: Request, db: Session, user: Principal, scope: Scope, ident: str) -> CommissionReport:
    if scope not in (Scope.SCHOOL, Scope.DISTRICT, Scope.CITY):
        raise ContractError(f"reports are made for a school, district or city, not a {scope.value}")
    require_scope_read(db, user, scope, ident)
    period = _period(request)
    return commission.build(db, scope, ident, period.first, period.end)


@router.get("/report")
def report_page(request: Request, db: Db, scope: Scope, id: str = "") -> Response:
    """The commission report of a scope and period, laid out for printing, with its XLSX."""
    user = page_principal(request, db)

    def build() -> dict[str, Any]:
        r = _report(request, db, user, scope, id)
        period = {"from": r.first, "to": r.end}
        query = urlencode({"scope": scope.value, "id": id, **period})
        district = id if scope is Scope.DISTRICT else None
        if scope is Scope.SCHOOL:
            school = db.get(School, id)
            district = school.district if school else None
        crumbs = _crumbs(request, db, user, district)
        if scope is Scope.SCHOOL:
            crumbs.append((r.name, f"/ui/schools/{id}"))
        return {
            "r": r,
            "query": query,
            "period_query": urlencode(period),
            "crumbs": crumbs,
            "last_day": (date.fromisoformat(r.end) - timedelta(days=1)).isoformat(),
            "formulas": commission_xlsx.formula_lines(Text(lang_of(request))),
            "hours": _hours,
        }

    return _page(request, "report.html", user, build)


@router.get("/report.xlsx")
def report_file(request: Request, db: Db, scope: Scope, id: str = "") -> Response:
    """The commission report as XLSX, for a logged-in browser."""
    user = page_principal(request, db)
    r = _report(request, db, user, scope, id)
    name = commission.file_name(scope.value, id, r.first)
    return Response(
        commission_xlsx.workbook(r), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _readings(request: Request, school: str, device: str, lo: int, hi: int) -> tuple[str, list, str]:
    """(field, points, note) of the reading drawn over a timeline: power when there is one; the note says why
    there is none."""
    store: ReadingsStore | None = request.app.state.readings
    t = Text(lang_of(request))
    if store is None:
        return "", [], t("readings_off")
    try:
        fields = store.device_readings(school, device, lo, hi, max_points=960)
    except ReadingsUnavailable as exc:
        return "", [], str(exc)
    if not fields:
        return "", [], t("readings_none")
    field = "power_w" if "power_w" in fields else next(iter(fields))
    return field, fields[field], ""


def _marker(engine: Any, user: Principal, school: str | None) -> tuple[int, int]:
    """What changes when records arrive for the schools a page shows: settled seq and last-seen of their agents."""
    with Session(engine) as s:
        q = select(func.coalesce(func.sum(AgentProgress.max_seq), 0), func.count(Agent.last_seen)).join(
            Agent, Agent.id == AgentProgress.agent
        )
        within = readable_schools(s, user)
        if within is not None:
            q = q.where(Agent.school.in_(within))
        if school:
            q = q.where(Agent.school == school)
        seq, seen = s.execute(q).one()
        return int(seq), int(seen)


@router.get("/live")
def live(request: Request, school: str | None = None) -> Response:
    """Server-sent events: `changed` whenever new records arrive for what the page shows."""
    engine, every_s = request.app.state.engine, request.app.state.live_every_s
    with Session(engine) as db:  # not held open while the stream lasts
        user = page_principal(request, db)
        if school:
            require_scope_read(db, user, Scope.SCHOOL, school)

    async def events() -> AsyncIterator[str]:
        last = await asyncio.to_thread(_marker, engine, user, school)
        yield "retry: 5000\nevent: hello\ndata: {}\n\n"
        while not await request.is_disconnected():
            await asyncio.sleep(every_s)
            now = await asyncio.to_thread(_marker, engine, user, school)
            if now != last:
                last = now
                yield f"event: changed\ndata: {now[0]}\n\n"
            else:
                yield ": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
