"""The demo's store beyond devices: region tree, rooms, standards, equipment ledgers, experiments, users.

Standards and the experiment catalog come from the checkout's `config/` samples when they are there.
Each school's equipment ledger meets the sample standard to a different degree, so compliance varies.
"""

import random
import secrets
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from campuspulse.demo.campus import TZ, SimSchool
from campuspulse.server.access.credentials import create_user
from campuspulse.server.access.principals import Role, ScopeKind
from campuspulse.server.inventory import service as inventory
from campuspulse.server.inventory.experiments import ExperimentRecordIn, add_record, load_catalog_csv, put_catalog_item
from campuspulse.server.inventory.money import yuan_to_fen
from campuspulse.server.inventory.quantity_rules import QuantityRule, SchoolFacts, required
from campuspulse.server.inventory.stages import STAGE_GRADES
from campuspulse.server.inventory.standards import get_standard, load_standard_file, put_standard

CONFIG = Path(__file__).resolve().parents[3] / "config"
DISTRICTS = {"haidian": "海淀区", "chaoyang": "朝阳区"}
ROOM_WORDS = {
    "physics-lab": "物理实验室",
    "chemistry-lab": "化学实验室",
    "biology-lab": "生物实验室",
    "science-lab": "科学实验室",
    "classroom": "教室",
    "maker-space": "创客空间",
}


def room_name(room_id: str) -> str:
    """What a school calls a room of the sample campus: `physics-lab-1` → 物理实验室 1."""
    kind, _, number = room_id.rpartition("-")
    return f"{ROOM_WORDS.get(kind, kind)} {number}"


# share of each required item a school holds in working order, by school position
EQUIPPED = (1.0, 0.9, 0.7)


def _regions(s: Session) -> None:
    inventory.put_region(s, "beijing", "北京市", "city", None)
    for code, name in DISTRICTS.items():
        inventory.put_region(s, code, name, "district", "beijing")


def _standards(s: Session) -> dict[str, tuple[str, str]]:
    loaded = {}
    for f in sorted((CONFIG / "standards").glob("*.yaml")):
        code, version, body = load_standard_file(f)
        put_standard(s, code, version, body)
        loaded[body.stage] = (code, version)
    return loaded


def _equipment(s: Session, sc: SimSchool, position: int, standard: str, version: str, rnd: random.Random) -> None:
    _, items = get_standard(s, standard, version)
    rooms: dict[str, int] = {}
    for room in sc.rooms:
        rooms[room.type.replace("-", "_")] = rooms.get(room.type.replace("-", "_"), 0) + 1
    facts = SchoolFacts(sc.classes, sc.classes // 3, sc.students, 50, rooms)
    share = EQUIPPED[position % len(EQUIPPED)]
    for n, item in enumerate(items, start=1):
        need = required(QuantityRule.model_validate(item.rule), facts)
        good = need if share >= 1 or rnd.random() < share else int(need * share)
        lines = [("完好", good), ("待修", rnd.randint(0, 2))]
        for k, (status, quantity) in enumerate(lines):
            if quantity:
                inventory.put_equipment_item(
                    s,
                    sc.code,
                    f"{item.code}-{k}",
                    {
                        "catalog_code": item.code,
                        "name": item.name,
                        "room": None,
                        "quantity": quantity,
                        "unit": item.unit,
                        "unit_value_fen": item.reference_price_fen or yuan_to_fen(n),
                        "status": status,
                        "purchase_date": date(2019 + n % 6, 9, 1),
                    },
                )


def _experiments(s: Session, campus: list[SimSchool], today: date, rnd: random.Random) -> None:
    f = CONFIG / "experiments" / "sample-catalog.csv"
    if not f.exists():
        return
    catalog = load_catalog_csv(f)
    for item in catalog:
        put_catalog_item(s, item)
    term = 1 if today.month >= 8 or today.month == 1 else 2
    start = date(today.year if today.month >= 8 else today.year - 1, 9, 1) if term == 1 else date(today.year, 2, 20)
    days = max((today - start).days, 1)
    for position, sc in enumerate(campus):
        rate = (0.9, 0.6, 0.4)[position % 3]
        for grade in STAGE_GRADES.get(sc.stage, ()):
            for n in range(1, sc.classes // 3 + 1):
                for item in (i for i in catalog if i.grade == grade and i.term == term):
                    if rnd.random() < rate:
                        day = start + timedelta(days=rnd.randrange(days))
                        body = ExperimentRecordIn.model_validate(
                            {"class": f"{grade}-{n}", "experiment": item.code, "date": day, "teacher": "示例教师"}
                        )
                        add_record(s, sc.code, body)


def seed_store(s: Session, campus: list[SimSchool], today: date) -> dict[str, str]:
    """Fill the demo store; returns the demo users' passwords by name."""
    rnd = random.Random(7)
    _regions(s)
    for sc in campus:
        for room in sc.rooms:
            inventory.put_room(
                s, sc.code, room.id, {"name": room_name(room.id), "type": room.type.replace("-", "_"), "capacity": 50}
            )
    standards = _standards(s)
    for position, sc in enumerate(campus):
        if sc.stage in standards:
            _equipment(s, sc, position, *standards[sc.stage], rnd)
    _experiments(s, campus, today, rnd)
    users = {
        "admin": (Role.ADMIN, ScopeKind.ALL, ""),
        "hd-manager": (Role.DISTRICT_MANAGER, ScopeKind.REGION, "haidian"),
        "auditor": (Role.AUDITOR, ScopeKind.ALL, ""),
        "hd-teacher": (Role.TEACHER, ScopeKind.SCHOOL, "hd-junior-01"),
    }
    passwords = {}
    for name, (role, kind, scope) in users.items():
        passwords[name] = secrets.token_urlsafe(12)
        create_user(s, name, role, kind, scope, passwords[name])
    return passwords


def provision_campus(
    engine: Engine,
    campus: list[SimSchool],
    today_periods: dict[str, list[tuple[str, str]]],
    history: list[str],
    today: str,
) -> dict[str, str]:
    """Schools, calendars (past teaching days and today), agents, devices and the rest of the demo store; returns
    the demo users' passwords by name."""
    with Session(engine) as s, s.begin():
        s.info["actor"] = "demo"
        for sc in campus:
            inventory.put_school(
                s,
                sc.code,
                {
                    "name": sc.name,
                    "district": sc.district,
                    "stage": sc.stage,
                    "tz": TZ,
                    "classes": sc.classes,
                    "parallel_classes": sc.classes // 3,
                    "students": sc.students,
                    "max_class_size": 50,
                },
            )
            s.flush()
            for day in history:
                inventory.put_calendar_day(s, sc.code, day, [list(p) for p in sc.periods])
            inventory.put_calendar_day(s, sc.code, today, [list(p) for p in today_periods[sc.code]])
            for room in sc.rooms:
                inventory.put_agent(s, room.agent, sc.code)
                s.flush()
                for dev in room.devices:
                    inventory.put_device(s, sc.code, dev.id, {"agent": room.agent, "room": room.id, "kind": dev.kind})
        return seed_store(s, campus, date.fromisoformat(today))
