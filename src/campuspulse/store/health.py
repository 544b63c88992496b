"""Read side of ingest health: each agent's progress and gaps, and the dead letters."""

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from campuspulse.store.schema import Agent, AgentProgress, DeadLetter, PendingRecord, SeqGap


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _epoch(s: Session, prog: AgentProgress) -> dict[str, Any]:
    mine = (PendingRecord.agent == prog.agent) & (PendingRecord.epoch == prog.epoch)
    pending, first_pending = s.execute(select(func.count(), func.min(PendingRecord.seq)).where(mine)).one()
    gaps = s.scalars(
        select(SeqGap).where(SeqGap.agent == prog.agent, SeqGap.epoch == prog.epoch).order_by(SeqGap.first_seq)
    ).all()
    sent = prog.sent_through if prog.sent_through is not None else -1
    return {
        "epoch": prog.epoch,
        "started_at": _iso(prog.started_at),
        "settled_through_seq": prog.watermark,
        "max_seq": prog.max_seq,
        "pending_records": pending,
        "waiting_for": [prog.watermark + 1, first_pending - 1] if first_pending is not None else None,
        "sent_through_seq": sent if sent >= 0 else None,
        "unreceived_since": _iso(prog.tail_since) if sent > prog.max_seq else None,
        "gaps": [{"first_seq": g.first_seq, "last_seq": g.last_seq, "reason": g.reason} for g in gaps],
    }


def agent_health(s: Session, agent: str) -> dict[str, Any] | None:
    """What the store knows of an agent: status, and per epoch of its queue the seq progress, the gap records wait
    behind and the settled gaps; the newest epoch's figures also stand at the top level."""
    row = s.get(Agent, agent)
    if row is None:
        return None
    rows = s.scalars(
        select(AgentProgress)
        .where(AgentProgress.agent == agent)
        .order_by(AgentProgress.started_at, AgentProgress.epoch)
    ).all()
    # The epoch "" row of an agent that never sent a payload without an epoch only serves as its lock; an epoch
    # only a status spoke of (an old retained one, say) and of which nothing arrived is no epoch of this store.
    epochs = [e for e in (_epoch(s, row) for row in rows) if e["max_seq"] >= 0 or e["gaps"] or e["pending_records"]]
    newest = epochs[-1] if epochs else _epoch(s, AgentProgress(agent=agent, epoch="", watermark=-1, max_seq=-1))
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
        **{k: v for k, v in newest.items() if k != "started_at"},
        "epochs": epochs,
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
