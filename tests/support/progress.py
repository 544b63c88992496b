"""How far the store has settled an agent's records, read straight from its tables."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.store.schema import AgentProgress


def newest_progress(s: Session, agent: str) -> AgentProgress | None:
    """The progress row of the agent's newest epoch that has records (None before any record)."""
    p = AgentProgress
    rows = s.scalars(select(p).where(p.agent == agent, p.max_seq >= 0).order_by(p.started_at, p.epoch)).all()
    return rows[-1] if rows else None


def settled_through(s: Session, agent: str) -> int:
    """The highest seq settled in the agent's newest epoch (-1 before any record)."""
    row = newest_progress(s, agent)
    return row.watermark if row is not None else -1
