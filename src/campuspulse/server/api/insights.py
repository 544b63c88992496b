"""Idle and peak insight: unused equipment, most and least used rooms, the hour-of-week pattern."""

import time
from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from campuspulse.server.access.principals import Scope, require_read, require_scope_read
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.deps import Db
from campuspulse.server.errors import NotFound
from campuspulse.server.metrics import insights, timeline
from campuspulse.server.metrics.readings import ReadingsStore, ReadingsUnavailable
from campuspulse.telemetry import format_ts

router = APIRouter(tags=["figures"])
WindowFrom = Annotated[str, Query(alias="from", description="RFC 3339 time or a date in the school's time zone")]
WindowTo = Annotated[str, Query(description="exclusive; at most 32 days after from")]


@router.get("/insights/idle", response_model=answers.IdleAnswer)
def idle_equipment(
    db: Db, caller: Caller, scope: Scope, id: str = "", days: Annotated[int, Query(ge=1, le=200)] = 10
) -> dict[str, object]:
    """Devices not in use on any of their school's last `days` teaching days, with when they were last used."""
    require_scope_read(db, caller, scope, id)
    return insights.idle_equipment(db, scope, id, days, int(time.time() * 1000))


@router.get("/insights/rooms", response_model=answers.RoomsAnswer)
def ranked_rooms(
    db: Db,
    caller: Caller,
    scope: Scope,
    from_: Annotated[str, Query(alias="from")],
    to: str,
    id: str = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, object]:
    """The most and the least used rooms over [from, to)."""
    require_scope_read(db, caller, scope, id)
    return insights.ranked_rooms(db, scope, id, from_, to, limit, int(time.time() * 1000))


@router.get("/insights/heatmap", response_model=answers.HeatmapAnswer)
def heatmap(
    db: Db,
    caller: Caller,
    scope: Scope,
    from_: Annotated[date, Query(alias="from")],
    to: Annotated[date, Query(description="exclusive")],
    id: str = "",
) -> dict[str, object]:
    """In-use share of available time per weekday (1 = Monday) and local hour, pooled over the devices in scope."""
    require_scope_read(db, caller, scope, id)
    return insights.heatmap(db, scope, id, from_, to, int(time.time() * 1000))


@router.get("/schools/{school}/devices/{device}/timeline", response_model=answers.TimelineAnswer)
def device_timeline(
    db: Db,
    caller: Caller,
    school: str,
    device: str,
    from_: WindowFrom,
    to: WindowTo,
) -> dict[str, object]:
    """A device's states over [from, min(to, now)) as contiguous pieces (`unknown` where no record covers the
    time), with the seconds spent in each state."""
    require_read(db, caller, school)
    return timeline.device_timeline(db, school, device, from_, to, int(time.time() * 1000))


@router.get("/schools/{school}/devices/{device}/readings", response_model=answers.ReadingsAnswer)
def device_readings(
    request: Request,
    db: Db,
    caller: Caller,
    school: str,
    device: str,
    from_: WindowFrom,
    to: WindowTo,
) -> dict[str, object]:
    """A device's readings (field → [[ts_ms, value], …], averaged down to 1,000 points) from the time-series
    store named by `server.readings_url`."""
    require_read(db, caller, school)
    store: ReadingsStore | None = request.app.state.readings
    if store is None:
        raise NotFound(
            "readings are kept in the time-series store: set server.readings_url to the VictoriaMetrics "
            "the collector writes to"
        )
    f_ms, t_ms = timeline.window(db, school, device, from_, to, int(time.time() * 1000))
    try:
        fields = store.device_readings(school, device, f_ms, t_ms)
    except ReadingsUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return {"school": school, "device": device, "from": format_ts(f_ms), "to": format_ts(t_ms), "fields": fields}
