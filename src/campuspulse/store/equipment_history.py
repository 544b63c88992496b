"""Each equipment ledger line's history: every change of its quantity, status, value or catalog code, and its
removal, is kept with the date it took effect, so that compliance can be computed as of an earlier date.

Kept from the ORM session before each flush, in the same transaction, so no write path can forget it. The date a
change took effect is the line's `status_since` when the writer gives one (the day it broke, say), else today in
the school's time zone; a line's first entry takes effect from its purchase (earlier dates see it as first entered).
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from campuspulse.store.inventory_schema import EquipmentHistory, EquipmentItem
from campuspulse.store.schema import School

TRACKED = ("catalog_code", "quantity", "unit_value_fen", "status", "purchase_date", "status_since")


def _today(s: Session, school: str) -> date:
    with s.no_autoflush:
        tz = s.scalar(select(School.tz).where(School.code == school)) or "Asia/Shanghai"
    return datetime.now(ZoneInfo(tz)).date()


def _entry(line: EquipmentItem, since: date, removed: bool = False) -> EquipmentHistory:
    return EquipmentHistory(
        school=line.school,
        item=line.item,
        since=since,
        catalog_code=line.catalog_code,
        quantity=line.quantity,
        unit_value_fen=line.unit_value_fen,
        status=line.status,
        purchase_date=line.purchase_date,
        removed=removed,
    )


@event.listens_for(Session, "before_flush")
def _keep_history(session: Session, _ctx: object, _instances: object) -> None:
    for line in list(session.new):
        if isinstance(line, EquipmentItem):
            since = line.status_since or line.purchase_date or _today(session, line.school)
            line.status_since = line.status_since or since
            session.add(_entry(line, since))
    for line in list(session.dirty):
        if not isinstance(line, EquipmentItem):
            continue
        state = inspect(line)
        changed = {name for name in TRACKED if state.attrs[name].history.has_changes()}
        if not changed:
            continue
        if "status_since" not in changed or line.status_since is None:
            line.status_since = _today(session, line.school)
        session.add(_entry(line, line.status_since))
    for line in list(session.deleted):
        if isinstance(line, EquipmentItem):
            session.add(_entry(line, _today(session, line.school), removed=True))
