"""Agents in the dashboard, for campus IT: each agent of the user's scope with its health and devices; registering
a new one; and its config to download — with a new broker password set on the spot where the server manages the
broker's password and ACL files (`server.agent_broker`), else with the command that sets it. Issuing credentials
is audited on the agent."""

import os
import re
import secrets
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.broker_accounts import agent_config, agent_rules, set_password, set_rules
from campuspulse.server.access.principals import Forbidden, Principal, Role, readable_schools, require_write
from campuspulse.server.deps import Db
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.inventory import service
from campuspulse.server.settings import AgentBrokerSettings
from campuspulse.server.web.console import may_change, refused_page, schools_of
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import render
from campuspulse.server.web.session import form_token_ok, page_principal
from campuspulse.store import health
from campuspulse.store.schema import Agent, Device
from campuspulse.telemetry.topics import ID_PATTERN

router = APIRouter(prefix="/ui", include_in_schema=False)
PLACEHOLDER = "SET-BY-campuspulse-agent-provision"


def _page(request: Request, db: Session, user: Principal, code: int = 200, error: str | None = None) -> Response:
    t = Text(lang_of(request))
    within = readable_schools(db, user)
    q = select(Agent).order_by(Agent.school, Agent.id)
    agents = db.scalars(q if within is None else q.where(Agent.school.in_(within))).all()
    devices: dict[str, list[Device]] = {}
    for d in db.scalars(select(Device).where(Device.agent.in_([a.id for a in agents])).order_by(Device.device)):
        devices.setdefault(d.agent, []).append(d)
    broker: AgentBrokerSettings | None = request.app.state.agent_broker
    done = request.query_params.get("done")
    return render(
        request,
        "agents.html",
        code,
        user=user,
        agents=agents,
        health={a.id: health.agent_health(db, a.id) for a in agents},
        devices=devices,
        schools=schools_of(db, user),
        may_change=may_change(user),
        broker=broker,
        error=error,
        done=t("agent_registered") if done == "registered" else None,
    )


@router.get("/agents")
def agents(request: Request, db: Db) -> Response:
    """The agents of the user's scope with their health, devices and configs."""
    user = page_principal(request, db)
    if user.role is Role.TEACHER:
        return refused_page(request, user, Forbidden(Text(lang_of(request))("teachers_record_only")))
    return _page(request, db, user)


@router.post("/agents")
def register(
    request: Request,
    db: Db,
    agent: Annotated[str, Form(max_length=64)],
    school: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Register an agent to a school of the user's scope."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    try:
        if not form_token_ok(request, csrf):
            raise Forbidden(t("form_expired"))
        require_write(db, user, school)
        if (current := service.agent_school(db, agent)) is not None:
            require_write(db, user, current)
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    if not re.fullmatch(ID_PATTERN, agent.strip()):
        return _page(request, db, user, 422, t("agent_id_form"))
    service.put_agent(db, agent.strip(), school)
    return RedirectResponse("/ui/agents?done=registered", status_code=status.HTTP_303_SEE_OTHER)


def _reload(pid_file: Path | None) -> None:
    """Ask Mosquitto to reread its password and ACL files."""
    if pid_file is None:
        return
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)
    except (OSError, ValueError) as exc:
        raise Conflict(f"the broker was not reloaded ({exc}); reload it by hand: systemctl reload mosquitto") from None


@router.post("/agents/{agent_id}/config")
def config(request: Request, db: Db, agent_id: str, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """The agent's config file: with a new broker password (set in the broker's files now, the old one ending)
    where the server manages them, else with the command that sets it."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    agent = db.get(Agent, agent_id)
    try:
        if agent is None:
            raise NotFound(f"no agent {agent_id!r}")
        require_write(db, user, agent.school)
        if not form_token_ok(request, csrf):
            raise Forbidden(t("form_expired"))
    except (Forbidden, NotFound) as exc:
        return refused_page(request, user, exc)
    broker: AgentBrokerSettings | None = request.app.state.agent_broker
    if broker is None:
        return _page(request, db, user, 409, t("agent_broker_unset"))
    devices = list(db.scalars(select(Device.device).where(Device.agent == agent.id).order_by(Device.device)))
    password = PLACEHOLDER
    made_by = "the campuspulse dashboard"
    if broker.manages_credentials:
        assert broker.passwd_file is not None and broker.acl_file is not None
        password = secrets.token_urlsafe(24)
        set_password(broker.passwd_file, agent.id, password)
        set_rules(broker.acl_file, agent.id, agent_rules(agent.id, agent.school))
        try:
            _reload(broker.pid_file)
        except Conflict as exc:
            return refused_page(request, user, exc)
        agent.credentials_issued_at, agent.credentials_issued_by = datetime.now(UTC), user.name
    else:
        made_by += (
            " without the broker's files: on the broker's host run `campuspulse agent provision "
            f"--id {agent.id} --school {agent.school} --host {broker.host} …` and put its password here"
        )
    text = agent_config(
        agent.id, agent.school, broker.host, broker.port, broker.ca_file, password, broker.queue_path, devices, made_by
    )
    return Response(
        text.encode(),
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{agent.id}.yaml"', "Cache-Control": "no-store"},
    )
