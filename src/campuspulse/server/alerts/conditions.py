"""What each kind of rule finds in the store now: one finding per subject (an agent, a device, a school) whose
condition holds. Device rules are gateway-aware (a device behind an agent that is offline finds nothing: the
agent's alert names it) and calendar-aware (device silence counts inside teaching periods only)."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Scope
from campuspulse.server.alerts.rules import RuleIn
from campuspulse.server.inventory.standards import get_standard, list_standards
from campuspulse.server.metrics import insights
from campuspulse.server.metrics.compliance_service import compliance
from campuspulse.server.metrics.service import schools_in_scope
from campuspulse.store.schema import (
    Agent,
    CalendarDay,
    ClockSkew,
    DeadLetter,
    Device,
    School,
    SeqGap,
    StateSegment,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """A subject whose condition holds, in words and as data."""

    subject: str
    school: str | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """What one evaluation shares between rules."""

    now: datetime
    offline_agents: set[str] = field(default_factory=set)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _devices_of(s: Session, agents: set[str]) -> dict[str, list[str]]:
    hidden: dict[str, list[str]] = defaultdict(list)
    if agents:
        q = select(Device.agent, Device.school, Device.device).where(Device.agent.in_(agents))
        for agent, school, device in s.execute(q.order_by(Device.school, Device.device)):
            hidden[agent].append(f"{school}/{device}")
    return hidden


def offline_agents(s: Session, now: datetime, after_s: float) -> dict[str, tuple[Agent, str, str]]:
    """Agents the broker declared lost (their last will) or silent beyond `after_s`, with why (in English and
    Chinese); agents never heard from are not counted (not deployed yet)."""
    found = {}
    for agent in s.scalars(select(Agent).where(Agent.last_seen.is_not(None))):
        assert agent.last_seen is not None
        silent = int((now - agent.last_seen).total_seconds())
        if agent.online is False:
            found[agent.id] = (agent, "the broker delivered its last will (connection lost)", "连接中断（遗嘱消息）")
        elif silent > after_s:
            found[agent.id] = (
                agent,
                f"silent for {silent} s (no status beyond {int(after_s)} s)",
                f"已 {silent} 秒无状态上报（限 {int(after_s)} 秒）",
            )
    return found


def agent_offline(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """An agent offline: its last will, or silence beyond `after_s`; the finding names the devices it hides."""
    found = offline_agents(s, ctx.now, rule.after_s or 180)
    ctx.offline_agents |= set(found)
    hidden = _devices_of(s, set(found))
    return [
        Finding(
            f"agent:{agent_id}",
            agent.school,
            f"采集端 {agent_id} 离线：{why_zh}",
            {"agent": agent_id, "reason": why, "hides": hidden.get(agent_id, []), "last_seen": _iso(agent.last_seen)},
        )
        for agent_id, (agent, why, why_zh) in sorted(found.items())
    ]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _teaching_now(s: Session, now: datetime) -> dict[str, int]:
    """Schools in a teaching period at `now`: the start (ms) of the period under way."""
    within: dict[str, int] = {}
    zones = dict(s.execute(select(School.code, School.tz)).all())
    by_day: dict[str, list[str]] = defaultdict(list)
    for school, tz in zones.items():
        by_day[now.astimezone(ZoneInfo(tz)).date().isoformat()].append(school)
    for day, schools in by_day.items():
        for row in s.scalars(select(CalendarDay).where(CalendarDay.day == day, CalendarDay.school.in_(schools))):
            local = now.astimezone(ZoneInfo(zones[row.school]))
            hhmm = local.strftime("%H:%M")
            for start, end in row.periods:
                if start <= hhmm < end:
                    h, m = map(int, start.split(":"))
                    within[row.school] = _ms(local.replace(hour=h, minute=m, second=0, microsecond=0))
    return within


def device_silent(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """A device whose state is unknown for more than `after_s` of the teaching period under way (quiet outside
    teaching time, and for devices behind an agent that is offline)."""
    after_ms = int((rule.after_s or 600) * 1000)
    now_ms = _ms(ctx.now)
    teaching = _teaching_now(s, ctx.now)
    if not teaching:
        return []
    devices = s.execute(
        select(Device.school, Device.device, Device.agent, Device.room).where(Device.school.in_(teaching))
    ).all()
    known = dict(
        ((school, device), end)
        for school, device, end in s.execute(
            select(StateSegment.school, StateSegment.device, func.max(StateSegment.end_ms))
            .where(StateSegment.school.in_(teaching), StateSegment.end_ms > now_ms - 86_400_000)
            .group_by(StateSegment.school, StateSegment.device)
        )
    )
    found = []
    for school, device, agent, room in devices:
        if agent in ctx.offline_agents:
            continue
        unknown_since = max(known.get((school, device), 0), teaching[school])
        if now_ms - unknown_since >= after_ms:
            minutes = (now_ms - unknown_since) // 60_000
            found.append(
                Finding(
                    f"device:{school}/{device}",
                    school,
                    f"设备 {school}/{device}（{room}）上课期间 {minutes} 分钟无数据",
                    {"device": device, "room": room, "agent": agent, "unknown_since_ms": unknown_since},
                )
            )
    return found


def agent_disk(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """An agent whose disk refuses its queue's writes, or which holds observations in memory."""
    q = select(Agent).where((Agent.queue_unwritable_since.is_not(None)) | (Agent.queue_held > 0))
    return [
        Finding(
            f"agent:{a.id}",
            a.school,
            f"采集端 {a.id} 磁盘不可写，{a.queue_held or 0} 条记录暂存内存",
            {"agent": a.id, "unwritable_since": _iso(a.queue_unwritable_since), "held": a.queue_held},
        )
        for a in s.scalars(q.order_by(Agent.id))
        if a.id not in ctx.offline_agents
    ]


def _window(rule: RuleIn, ctx: Context, default_s: float) -> datetime:
    return ctx.now - timedelta(seconds=rule.window_s or default_s)


def seq_lost(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """An agent whose records were declared lost within the window."""
    since = _window(rule, ctx, 3600)
    q = (
        select(SeqGap, Agent.school)
        .join(Agent, Agent.id == SeqGap.agent)
        .where(SeqGap.reason == "lost", SeqGap.settled_at >= since)
    )
    lost: dict[str, list[SeqGap]] = defaultdict(list)
    school_of = {}
    for gap, school in s.execute(q):
        lost[gap.agent].append(gap)
        school_of[gap.agent] = school
    return [
        Finding(
            f"agent:{agent}",
            school_of[agent],
            f"采集端 {agent} 有 {sum(g.last_seq - g.first_seq + 1 for g in gaps)} 条记录已判定丢失",
            {"agent": agent, "ranges": [[g.epoch, g.first_seq, g.last_seq] for g in gaps]},
        )
        for agent, gaps in sorted(lost.items())
    ]


def dead_letters(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """Dead letters of a school (or of unknown origin) reaching `threshold` within the window."""
    since = _window(rule, ctx, 600)
    q = select(DeadLetter.school, func.count()).where(DeadLetter.received_at >= since).group_by(DeadLetter.school)
    threshold = rule.threshold or 10
    return [
        Finding(
            f"school:{school}" if school else "dead-letters:unknown",
            school,
            f"{n} 条不合规数据被拒收（{school or '来源未知'}）",
            {"dead_letters": n, "window_s": rule.window_s or 600},
        )
        for school, n in s.execute(q)
        if n >= threshold
    ]


def clock_skew(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """An agent whose records came from the future beyond the allowed skew, `threshold` times in the window."""
    since_ms = _ms(_window(rule, ctx, 3600))
    q = (
        select(ClockSkew.agent, Agent.school, func.count(), func.max(ClockSkew.ts_ms - ClockSkew.received_ms))
        .join(Agent, Agent.id == ClockSkew.agent)
        .where(ClockSkew.received_ms >= since_ms)
        .group_by(ClockSkew.agent, Agent.school)
    )
    return [
        Finding(
            f"agent:{agent}",
            school,
            f"采集端 {agent} 时钟超前约 {int(ahead) // 1000} 秒（{n} 条记录）",
            {"agent": agent, "records": n, "ahead_s": int(ahead) // 1000},
        )
        for agent, school, n, ahead in s.execute(q)
        if n >= (rule.threshold or 1)
    ]


def collector_lag(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """An online agent whose oldest unsent record is older than `after_s`: the broker or the collectors are not
    taking its records."""
    limit = ctx.now - timedelta(seconds=rule.after_s or 300)
    q = select(Agent).where(Agent.online.is_(True), Agent.queue_oldest.is_not(None), Agent.queue_oldest < limit)
    return [
        Finding(
            f"agent:{a.id}",
            a.school,
            f"采集端 {a.id} 有 {a.queue_records or 0} 条记录未能送达（最早 {_iso(a.queue_oldest)}）",
            {"agent": a.id, "queued": a.queue_records, "oldest": _iso(a.queue_oldest)},
        )
        for a in s.scalars(q.order_by(Agent.id))
        if a.id not in ctx.offline_agents
    ]


def equipment_idle(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """A device not used on its school's last `teaching_days` teaching days."""
    days = rule.teaching_days or 10
    if not s.scalar(select(func.count()).select_from(Device)):
        return []
    idle = insights.idle_equipment(s, Scope.CITY, "", days, _ms(ctx.now))
    return [
        Finding(
            f"device:{d['school']}/{d['device']}",
            d["school"],
            f"设备 {d['school']}/{d['device']} 已连续 {days} 个教学日未使用",
            {"device": d["device"], "room": d["room"], "last_used": d["last_used"], "since": d["since"]},
        )
        for d in idle["devices"]
    ]


def below_compliance(s: Session, rule: RuleIn, ctx: Context) -> list[Finding]:
    """A school below 达标 of a standard of its 学段 (after an import, a status change or a new version)."""
    found = []
    if not list(schools_in_scope(s, Scope.CITY, "")):
        return []
    today = ctx.now.date()
    for code in sorted({std.code for std in list_standards(s)}):
        std, _ = get_standard(s, code, as_of=today)
        for row in compliance(s, Scope.CITY, "", code, std.version, today, today)["schools"]:
            if row["applies"] and row["compliant"] is False:
                found.append(
                    Finding(
                        f"school:{row['school']}/standard:{code}",
                        row["school"],
                        f"{row['name']} 未达到 {std.name}（{std.version}）：{row['items_met']}/{row['items']} 项达标",
                        {
                            "standard": code,
                            "version": std.version,
                            "items_met": row["items_met"],
                            "items": row["items"],
                        },
                    )
                )
    return found


FINDERS: dict[str, Callable[[Session, RuleIn, Context], list[Finding]]] = {
    "agent_offline": agent_offline,
    "device_silent": device_silent,
    "agent_disk": agent_disk,
    "seq_lost": seq_lost,
    "dead_letters": dead_letters,
    "clock_skew": clock_skew,
    "collector_lag": collector_lag,
    "equipment_idle": equipment_idle,
    "below_compliance": below_compliance,
}
