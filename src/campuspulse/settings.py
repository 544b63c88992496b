"""Configuration shared by every role: one YAML file, `CAMPUSPULSE_<SECTION>__<KEY>` overrides, and the broker.

A file may hold every role's sections (`mqtt`, `store`, `agent`, `collector`, `timeseries`, `server`); each
process validates only its own (`edge.settings`, `collector.settings`, `server.settings`) and loads no other
role's models. Errors name the file, the line and the field; keys renamed since still work, with a warning.
"""

import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from campuspulse.config_files import ConfigError, ConfigProblem, problems_of, read_yaml
from campuspulse.telemetry.topics import DEFAULT_PREFIX

__all__ = ["SECTIONS", "ConfigError", "ConfigProblem", "MqttSettings", "ProcessSettings", "Section", "load_settings"]
log = logging.getLogger(__name__)
SECTIONS = ("mqtt", "store", "agent", "collector", "timeseries", "server")
# (old path, new path): keys renamed since, read from the file or the environment with a warning.
RENAMED: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("ledger",), ("store",)),
    (("collector", "reorder_window_s"), ("store", "reorder_window_s")),
    (("collector", "max_future_skew_s"), ("store", "max_future_skew_s")),
)
S = TypeVar("S", bound="ProcessSettings")


class Section(BaseModel):
    """A section of the config file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class MqttSettings(Section):
    """How to reach the broker."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    topic_prefix: str = DEFAULT_PREFIX
    keepalive_s: int = Field(30, ge=5)
    protocol: Literal["3.1.1", "5"] = "3.1.1"


class ProcessSettings(BaseSettings):
    """One role's settings: its own sections validated, other roles' sections ignored, unknown ones refused."""

    model_config = SettingsConfigDict(env_prefix="CAMPUSPULSE_", env_nested_delimiter="__", extra="forbid")
    driver_tags: ClassVar[Collection[str]] = ()  # discriminators of tagged unions: not fields in error paths

    @model_validator(mode="before")
    @classmethod
    def _other_roles(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k in cls.model_fields or k not in SECTIONS}
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the environment overrides the file


def _pop(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return None
    return node.pop(path[-1], None)


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any, override: bool) -> None:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    old = node.get(path[-1])
    if isinstance(old, dict) and isinstance(value, dict):
        node[path[-1]] = {**old, **value} if override else {**value, **old}
    elif override or old is None:
        node[path[-1]] = value


def _env_name(path: tuple[str, ...]) -> str:
    return "CAMPUSPULSE_" + "__".join(path).upper()


def _renamed(file: str, data: dict[str, Any], lines: dict[tuple[Any, ...], int]) -> list[ConfigProblem]:
    """Move renamed keys of the file and of the environment to their new place, with a warning for each; a
    key given under both names keeps the new one's value."""
    warnings = []
    for old, new in RENAMED:
        value = _pop(data, old)
        if value is not None:
            warnings.append(ConfigProblem(file, lines.get(old), ".".join(old), f"renamed `{'.'.join(new)}`"))
            _put(data, new, value, override=False)
        old_env, new_env = _env_name(old), _env_name(new)
        for name, raw in os.environ.items():
            name = name.upper()
            if name != old_env and not name.startswith(old_env + "__"):
                continue
            rest = tuple(name[len(old_env) + 2 :].lower().split("__")) if name != old_env else ()
            renamed = new_env + name[len(old_env) :]
            warnings.append(ConfigProblem(name, None, "", f"renamed {renamed}"))
            if renamed not in os.environ:
                _put(data, (*new, *rest), raw, override=True)
    return warnings


def read_settings(path: str | Path, model: type[S]) -> tuple[S, list[ConfigProblem]]:
    """A role's settings from a config file, and warnings for keys that were renamed; ConfigError listing every
    problem with its line."""
    data, lines = read_yaml(path, f"sections ({', '.join(SECTIONS)})")
    warnings = _renamed(str(path), data, lines)
    try:
        return model(**data), warnings
    except ValidationError as exc:
        raise ConfigError(problems_of(str(path), exc, lines, model.driver_tags)) from None


def load_settings(path: str | Path, model: type[S]) -> S:
    """A role's settings from a config file; renamed keys are logged as warnings."""
    settings, warnings = read_settings(path, model)
    for warning in warnings:
        log.warning("%s (the old name still works)", warning)
    return settings
