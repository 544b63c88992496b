"""Ingest health for operators: agent progress and seq gaps (possible data loss), dead letters."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from campuspulse.server.access.principals import readable_schools, require_read
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.schemas import IdPath
from campuspulse.server.deps import Db
from campuspulse.store import health

router = APIRouter(tags=["operations"])


@router.get("/agents/{agent}", response_model=answers.AgentHealth)
def get_agent(agent: IdPath, db: Db, caller: Caller) -> dict[str, object]:
    """An agent's status, how far its records are settled, and the seq ranges missing or waited for."""
    found = health.agent_health(db, agent)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"agent {agent!r} is not registered")
    require_read(db, caller, str(found["school"]))
    return found


@router.get("/dead-letters", response_model=answers.DeadLetters)
def get_dead_letters(
    db: Db,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    agent: str | None = None,
    school: str | None = None,
) -> dict[str, object]:
    """The newest input that broke the contract, with the reason and the raw payload (of schools in scope)."""
    return {"dead_letters": health.dead_letters(db, limit, agent, school, readable_schools(db, caller))}
