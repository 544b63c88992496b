"""Broker credentials for an agent: a password file entry Mosquitto reads, ACL rules that confine the agent to
its own topics, and the agent's config file (TLS, username, password), written together — by `campuspulse agent
provision` on the broker's host, or by the server's agents page where it runs beside the broker."""

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

import yaml

from campuspulse.telemetry.topics import DEFAULT_PREFIX, TopicKind, topic_for

ITERATIONS = 101  # what mosquitto_passwd 2.x writes


def password_entry(username: str, password: str, salt: bytes | None = None) -> str:
    """`username:$7$…` as `mosquitto_passwd` writes it (PBKDF2-SHA512)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return f"{username}:$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def agent_rules(agent: str, school: str, prefix: str = DEFAULT_PREFIX) -> str:
    """ACL rules: the agent publishes its records and status and reads its cmd topic, nothing else."""
    write = [topic_for(school, agent, k, prefix) for k in (TopicKind.RECORDS, TopicKind.STATUS)]
    lines = [
        f"user {agent}",
        *(f"topic write {t}" for t in write),
        f"topic read {topic_for(school, agent, TopicKind.CMD, prefix)}",
    ]
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def set_password(passwd_file: Path, username: str, password: str) -> None:
    """Add or replace `username`'s line in a Mosquitto password file."""
    lines = passwd_file.read_text().splitlines() if passwd_file.exists() else []
    kept = [ln for ln in lines if ln.split(":", 1)[0] != username]
    _write_private(passwd_file, "\n".join([*kept, password_entry(username, password)]) + "\n")


def set_rules(acl_file: Path, username: str, rules: str) -> None:
    """Add or replace `username`'s block (between campuspulse markers) in a Mosquitto ACL file."""
    text = acl_file.read_text() if acl_file.exists() else ""
    begin, end = f"# campuspulse: {username}\n", f"# end campuspulse: {username}\n"
    text = re.sub(re.escape(begin) + r".*?" + re.escape(end), "", text, flags=re.S)
    _write_private(acl_file, text.rstrip("\n") + ("\n\n" if text.strip() else "") + begin + rules + "\n" + end)


UNSET_DRIVER = "set-me"  # a device source the server cannot know: the agent refuses to start until it is set


def agent_config(
    agent: str,
    school: str,
    host: str,
    port: int,
    ca_file: Path | str | None,
    password: str,
    queue_path: Path | str,
    devices: Sequence[str] = (),
    made_by: str = "`campuspulse agent provision`",
) -> str:
    """An agent config to start from: TLS to the broker with the agent's credentials; `devices` (the ids the store
    binds to the agent) each with a source to set, or one device to fill in."""
    mqtt: dict[str, object] = {"host": host, "port": port, "tls": True, "username": agent, "password": password}
    if ca_file is not None:
        mqtt["ca_file"] = str(ca_file)
    listed = [{"id": d, "source": {"driver": UNSET_DRIVER}} for d in devices]
    body = {
        "mqtt": mqtt,
        "agent": {
            "id": agent,
            "school": school,
            "queue_path": str(queue_path),
            "devices": listed or [{"id": "replace-me", "source": {"driver": "simulated"}}],
        },
    }
    head = (
        f"# Agent {agent} of school {school}, made by {made_by}. Keep this file private\n"
        "# (it holds the broker password); list the devices below (see config/examples/).\n"
    )
    if listed:
        head += (
            f"# The devices are those registered to this agent; set each one's `source` (driver `{UNSET_DRIVER}` is\n"
            "# refused on purpose): serial, modbus, shelly, tasmota, pjlink, camera … as config/examples/ shows.\n"
        )
    return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def provision(
    agent: str,
    school: str,
    passwd_file: Path,
    acl_file: Path,
    config_out: Path,
    host: str,
    port: int = 8883,
    ca_file: Path | None = None,
    queue_path: Path = Path("/var/lib/campuspulse/queue.db"),
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """Make (or renew) an agent's broker credentials and its config file; returns the new password."""
    password = secrets.token_urlsafe(24)
    set_password(passwd_file, agent, password)
    set_rules(acl_file, agent, agent_rules(agent, school, prefix))
    _write_private(config_out, agent_config(agent, school, host, port, ca_file, password, queue_path))
    return password
