"""The rooms of the code keep to their arrows (architecture.md): every import of every module, lazy ones too."""

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src"
ROLES = ("campuspulse.edge", "campuspulse.drivers", "campuspulse.collector", "campuspulse.server", "campuspulse.demo")
# module prefix → prefixes it must not import (the most specific prefix of a module applies)
FORBIDDEN = {
    "campuspulse.telemetry": ("campuspulse.",),
    "campuspulse.drivers": (*ROLES[:1], *ROLES[2:], "campuspulse.store", "campuspulse.settings"),
    "campuspulse.edge": (*ROLES[2:], "campuspulse.store"),
    "campuspulse.store": ROLES,
    "campuspulse.store.migrations.versions": ("campuspulse",),
    "campuspulse.collector": (*ROLES[:2], *ROLES[3:]),
    "campuspulse.server": (*ROLES[:3], ROLES[4]),
    "campuspulse.server.web": (*ROLES[:3], ROLES[4], "campuspulse.server.api"),
    "campuspulse.settings": (*ROLES, "campuspulse.store"),
    "campuspulse.config_files": (*ROLES, "campuspulse.store"),
    "campuspulse.backoff": (*ROLES, "campuspulse.store"),
    "campuspulse.heap": (*ROLES, "campuspulse.store"),
    "campuspulse.broker_accounts": (*ROLES, "campuspulse.store"),  # the agent CLI's and the dashboard's
}
# exceptions: the telemetry package may import itself
ALLOWED = {"campuspulse.telemetry": ("campuspulse.telemetry",)}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def rule_for(module: str) -> tuple[str, tuple[str, ...]] | None:
    matches = [p for p in FORBIDDEN if module == p or module.startswith(p + ".")]
    return (max(matches, key=len), FORBIDDEN[max(matches, key=len)]) if matches else None


def hits(name: str, prefix: str) -> bool:
    return name == prefix.rstrip(".") or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_against_the_arrows(path):
    module = module_name(path)
    rule = rule_for(module)
    if rule is None:
        return
    prefix, forbidden = rule
    allowed = ALLOWED.get(prefix, ())
    wrong = [
        f"{path.relative_to(SRC)}:{line}: {name}"
        for line, name in imports_of(path)
        if any(hits(name, f) for f in forbidden) and not any(hits(name, a) for a in allowed)
    ]
    assert wrong == [], f"{module} ({prefix} may not import {forbidden})"


def test_the_rules_cover_every_package():
    packages = {module_name(p) for p in MODULES if p.name == "__init__.py"} - {"campuspulse"}
    assert [p for p in packages if rule_for(p) is None and p != "campuspulse.demo"] == []


def test_the_readme_layout_table_names_every_package_and_only_folders_that_exist():
    readme = (SRC.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Code layout") :].split("\n\n")[1]
    named = {p.rstrip("/") for row in table.splitlines()[2:] for p in re.findall(r"`([^`]+/)`", row.split("|")[1])}
    assert [p for p in named if not (SRC.parent / p).is_dir()] == []
    packages = {f"src/{p.parent.relative_to(SRC)}" for p in SRC.glob("campuspulse/*/__init__.py")}
    assert sorted(packages - named) == []
