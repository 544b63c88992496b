"""Idle and peak insight: equipment unused for N teaching days, the most and least used rooms, and the
hour-of-week pattern of use (in-use share of available time per weekday and local hour)."""

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Scope
from campuspulse.server.metrics.available_time import local_date
from campuspulse.server.metrics.daily import teaching_days
from campuspulse.server.metrics.rollups import school_segments
from campuspulse.server.metrics.service import GroupBy, devices_in_scope, utilization
from campuspulse.server.metrics.utilization import IN_USE
from campuspulse.store.schema import CalendarDay, StateSegment
from campuspulse.telemetry import format_ts


def idle_equipment(s: Session, scope: Scope, ident: str, teaching_days_n: int, now_ms: int) -> dict[str, Any]:
    """Devices in scope not in use during their school's last `teaching_days_n` teaching days (up to now)."""
    by_school: dict[str, list[Any]] = defaultdict(list)
    for d in devices_in_scope(s, scope, ident):
        by_school[d.school.code].append(d)
    idle = []
    for code, devs in by_school.items():
        tz = ZoneInfo(devs[0].school.tz)
        today = local_date(now_ms, tz).isoformat()
        days = list(
            s.scalars(
                select(CalendarDay.day)
                .where(CalendarDay.school == code, CalendarDay.day <= today)
                .order_by(CalendarDay.day.desc())
                .limit(teaching_days_n)
            )
        )
        if not days:
            continue
        tomorrow = (local_date(now_ms, tz) + timedelta(days=1)).isoformat()
        rows = utilization(s, Scope.SCHOOL, code, days[-1], tomorrow, GroupBy.DEVICE, now_ms=now_ms)
        unused = {str(r["key"]).partition("/")[2] for r in rows if not r["in_use_s"]}
        last_used = dict(
            s.execute(
                select(StateSegment.device, func.max(StateSegment.end_ms))
                .where(StateSegment.school == code, StateSegment.state == IN_USE, StateSegment.device.in_(unused))
                .group_by(StateSegment.device)
            ).all()
        )
        for d in devs:
            if d.device in unused:
                last = last_used.get(d.device)
                idle.append(
                    {
                        "school": code,
                        "device": d.device,
                        "room": d.room,
                        "since": days[-1],
                        "teaching_days": len(days),
                        "last_used": format_ts(last) if last else None,
                    }
                )
    return {"scope": scope.value, "id": ident, "teaching_days": teaching_days_n, "devices": idle}


def ranked_rooms(s: Session, scope: Scope, ident: str, from_: str, to: str, limit: int, now_ms: int) -> dict[str, Any]:
    """Rooms by utilization over [from, to): the `limit` most used and the `limit` least used."""
    rows = [r for r in utilization(s, scope, ident, from_, to, GroupBy.ROOM, now_ms=now_ms) if r["available_s"]]
    rows.sort(key=lambda r: (-(cast(float | None, r["utilization"]) or 0), str(r["key"])))
    return {
        "scope": scope.value,
        "id": ident,
        "from": from_,
        "to": to,
        "top": rows[:limit],
        "bottom": list(reversed(rows[-limit:])),
    }


def _hour_slices(a: int, b: int, tz: ZoneInfo) -> list[tuple[int, int, int]]:
    """(weekday 1–7, local hour, ms) pieces of [a, b)."""
    out = []
    t = a
    while t < b:
        local = datetime.fromtimestamp(t / 1000, tz)
        next_hour = int((local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).timestamp() * 1000)
        end = min(b, next_hour)
        out.append((local.isoweekday(), local.hour, end - t))
        t = end
    return out


def heatmap(s: Session, scope: Scope, ident: str, from_: date, to: date, now_ms: int) -> dict[str, Any]:
    """Per weekday and local hour: available and in-use seconds pooled over the devices in scope, and the share."""
    available: dict[tuple[int, int], int] = defaultdict(int)
    in_use: dict[tuple[int, int], int] = defaultdict(int)
    by_school: dict[str, list[Any]] = defaultdict(list)
    for d in devices_in_scope(s, scope, ident):
        by_school[d.school.code].append(d)
    for code, devs in by_school.items():
        tz = ZoneInfo(devs[0].school.tz)
        within = (
            (CalendarDay.school == code) & (CalendarDay.day >= from_.isoformat()) & (CalendarDay.day < to.isoformat())
        )
        calendar = {c.day: c.periods for c in s.scalars(select(CalendarDay).where(within))}
        tds = teaching_days(calendar, tz, from_, to - timedelta(days=1), clip=(0, now_ms))
        if not tds:
            continue
        segs = school_segments(
            s,
            code,
            min(td.start_ms for td in tds),
            max(td.end_ms for td in tds),
            [d.device for d in devs] if scope in (Scope.ROOM, Scope.DEVICE) else None,
        )
        for td in tds:
            for p0, p1 in td.periods:
                for wd, hour, ms in _hour_slices(p0, p1, tz):
                    available[(wd, hour)] += ms * len(devs)
            for dev in devs:
                if dev.device not in segs:
                    continue
                for iv in segs[dev.device].between(td.start_ms, td.end_ms):
                    if iv.state != IN_USE:
                        continue
                    for p0, p1 in td.periods:
                        a, b = max(iv.start_ms, p0), min(iv.end_ms, p1)
                        if a < b:
                            for wd, hour, ms in _hour_slices(a, b, tz):
                                in_use[(wd, hour)] += ms
    cells = [
        {
            "weekday": wd,
            "hour": h,
            "available_s": available[(wd, h)] / 1000,
            "in_use_s": in_use[(wd, h)] / 1000,
            "utilization": round(in_use[(wd, h)] / available[(wd, h)], 6),
        }
        for wd, h in sorted(available)
    ]
    return {"scope": scope.value, "id": ident, "from": from_.isoformat(), "to": to.isoformat(), "cells": cells}
