"""The demo's campus in a store with ten days of generated history, for dashboard tests in a real browser."""

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from campuspulse.demo.campus import TZ, build_campus, local_now, teaching_days
from campuspulse.demo.campus_data import provision_campus
from campuspulse.server.access.credentials import create_user
from campuspulse.server.access.principals import Role, ScopeKind
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.telemetry import format_ts, parse_records_payload

STEP_S = 600
EXTRA_USERS = {  # name: (role, scope kind, scope id)
    "junior-manager": (Role.SCHOOL_MANAGER, ScopeKind.SCHOOL, "hd-junior-01"),
    "cy-auditor": (Role.AUDITOR, ScopeKind.REGION, "chaoyang"),
    "jr-teacher": (Role.TEACHER, ScopeKind.SCHOOL, "hd-junior-01"),
}
PASSWORD = "correct horse battery staple"
WHOLE_DAY = [("00:00", "23:59")]  # today is taught all day, so that records sent now count


def seed(engine: Engine, back: int = 10) -> dict[str, int]:
    """Provision the campus and its users (password PASSWORD) and ingest `back` days of history up to today (in
    the campus's zone, as the dashboard counts); the next seq per agent."""
    today = local_now().date()
    campus = build_campus()
    history = [d.isoformat() for d in teaching_days(today, back)]
    provision_campus(engine, campus, {sc.code: WHOLE_DAY for sc in campus}, history, today.isoformat())
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        for name, (role, kind, scope) in EXTRA_USERS.items():
            create_user(s, name, role, kind, scope, PASSWORD)
        for name in ("hd-manager", "auditor"):
            create_user(s, f"{name}-2", *_role_of(name), PASSWORD)
    tz, rnd, writer = ZoneInfo(TZ), random.Random(5), TelemetryWriter(engine)
    next_seq: dict[str, int] = {}
    for sc in campus:
        for room in sc.rooms:
            recs: list[dict] = []
            for day in history:
                start = datetime.combine(date.fromisoformat(day), datetime.min.time(), tz) + timedelta(hours=7.5)
                for dev in room.devices:
                    state = "idle"
                    for step in range(10 * 3600 // STEP_S):
                        if step % 4 == 0:
                            state = "in_use" if rnd.random() < dev.use_share else "idle"
                        at = int((start + timedelta(seconds=step * STEP_S)).timestamp() * 1000)
                        recs.append(
                            {
                                "type": "state",
                                "seq": 0,
                                "ts": format_ts(at),
                                "device": dev.id,
                                "state": state,
                                "valid_s": 2 * STEP_S,
                            }
                        )
            for i, r in enumerate(recs):
                r["seq"] = i
            body = orjson.dumps({"v": 1, "agent": room.agent, "school": sc.code, "records": recs})
            writer.ingest(parse_records_payload(body), "test")
            next_seq[room.agent] = len(recs)
    return next_seq


def _role_of(name: str) -> tuple[Role, ScopeKind, str]:
    return (
        (Role.DISTRICT_MANAGER, ScopeKind.REGION, "haidian")
        if name == "hd-manager"
        else (Role.AUDITOR, ScopeKind.ALL, "")
    )
