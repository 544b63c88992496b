"""Read side of ingest health: each agent's progress and gaps, and the dead letters."""

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from campuspulse.store.schema import Agent, AgentProgress, DeadLetter, PendingRecord, SeqGap


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def agent_health(s: Session, agent: str) -> dict[str, Any] | None:
    """What the store knows of an agent: status, seq progress, the gap records wait behind, settled gaps."""
    row = s.get(Agent, agent)
    if row is None:
        return None
    prog = s.get(AgentProgress, agent)
    pending, first_pending = s.execute(
        select(func.count(), func.min(PendingRecord.seq)).where(PendingRecord.agent == agent)
    ).one()
    gaps = s.scalars(select(SeqGap).where(SeqGap.agent == agent).order_by(SeqGap.first_seq)).all()
    watermark = prog.watermark if prog else -1
    return {
        "agent": agent,
        "school": row.school,
        "online": row.online,
        "last_seen": _iso(row.last_seen),
        "version": row.version,
        "queue_records": row.queue_records,
        "queue_oldest": _iso(row.queue_oldest),
        "queue_unwritable_since": _iso(row.queue_unwritable_since),
        "queue_held": row.queue_held,
        "settled_through_seq": watermark,
        "max_seq": prog.max_seq if prog else -1,
        "pending_records": pending,
        "waiting_for": [watermark + 1, first_pending - 1] if first_pending is not None else None,
        "gaps": [{"first_seq": g.first_seq, "last_seq": g.last_seq, "reason": g.reason} for g in gaps],
    }


def dead_letters(
    s: Session,
    limit: int = 100,
    agent: str | None = None,
    school: str | None = None,
    within: Select[str] | None = None,
) -> list[dict[str, Any]]:
    """The newest dead letters, optionally of one agent or school, or of the schools `within` selects."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if agent:
        q = q.where(DeadLetter.agent == agent)
    if school:
        q = q.where(DeadLetter.school == school)
    if within is not None:
        q = q.where(DeadLetter.school.in_(within))
    return [
        {
            "id": d.id,
            "received_at": d.received_at.isoformat() if d.received_at else None,
            "source": d.source,
            "agent": d.agent,
            "school": d.school,
            "reason": d.reason,
            "raw": d.raw,
        }
        for d in s.scalars(q)
    ]
