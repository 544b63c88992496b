"""YAML data files validated by pydantic models; every problem names the file, the line and the field."""

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a config or data file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(ValueError):
    """A file that cannot be used; `problems` lists every error found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, (*path, key.value), out)
            out[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def read_yaml(path: str | Path, expected: str) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """A YAML mapping and the line of every key path in it; ConfigError if unreadable or not a mapping."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(file, None, "", f"cannot read the file: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) or {}
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError([ConfigProblem(file, line, "", f"not valid YAML: {exc.problem}")]) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(file, 1, "", f"expected a mapping of {expected}")])
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


def problems_of(
    file: str, exc: ValidationError, lines: dict[tuple[Any, ...], int], tags: Collection[str] = ()
) -> list[ConfigProblem]:
    """A validation error as problems located in the file (`tags`: union discriminators, not fields)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p not in tags)
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        elif err["type"] != "missing" and not isinstance(err.get("input"), dict | list):
            msg = f"{msg} (got {err.get('input')!r})"
        problems.append(ConfigProblem(file, line, ".".join(str(p) for p in loc), msg))
    return problems


def load_yaml_model(path: str | Path, model: type[M], expected: str) -> M:
    """Read a YAML file into `model`; ConfigError listing every problem with its line."""
    data, lines = read_yaml(path, expected)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_of(str(path), exc, lines)) from None
