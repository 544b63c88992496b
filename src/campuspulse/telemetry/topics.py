"""MQTT topic names of the contract: `{prefix}/v1/{school}/{agent}/{status|records|cmd}`."""

import re
from dataclasses import dataclass
from enum import StrEnum

from campuspulse.telemetry.errors import ContractError

ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
ID_RE = re.compile(rf"^{ID_PATTERN}\Z")
DEFAULT_PREFIX = "campus"
VERSION = "v1"


class TopicKind(StrEnum):
    """The three per-agent topics."""

    STATUS = "status"
    RECORDS = "records"
    CMD = "cmd"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed contract topic."""

    school: str
    agent: str
    kind: TopicKind
    prefix: str = DEFAULT_PREFIX

    def __str__(self) -> str:
        return f"{self.prefix}/{VERSION}/{self.school}/{self.agent}/{self.kind}"


def check_id(kind: str, value: object) -> str:
    """Return `value` if it is a valid contract identifier, else raise ContractError naming it."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ContractError(f"{kind} id {value!r} is invalid, expected 1-64 characters of [A-Za-z0-9_-]")
    return value


def topic_for(school: str, agent: str, kind: TopicKind | str, prefix: str = DEFAULT_PREFIX) -> str:
    """Build the topic of `kind` for an agent, validating the identifiers."""
    return str(Topic(check_id("school", school), check_id("agent", agent), TopicKind(kind), prefix))


def subscription(kind: TopicKind | str, prefix: str = DEFAULT_PREFIX) -> str:
    """The wildcard filter matching `kind` for every school and agent."""
    return f"{prefix}/{VERSION}/+/+/{TopicKind(kind)}"


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> Topic:
    """Parse a contract topic; raise ContractError saying which part is wrong."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != prefix or parts[1] != VERSION:
        raise ContractError(f"topic {topic!r} is not of the form {prefix}/{VERSION}/<school>/<agent>/<kind>")
    try:
        kind = TopicKind(parts[4])
    except ValueError:
        raise ContractError(
            f"topic {topic!r} ends in {parts[4]!r}, expected one of {[k.value for k in TopicKind]}"
        ) from None
    return Topic(check_id("school", parts[2]), check_id("agent", parts[3]), kind, prefix)
