"""The deployment files: every campuspulse service of the Compose file gets a valid configuration from
deploy/campuspulse.yaml and its environment, and does what the guide says; the systemd units pass
`systemd-analyze verify` and start commands the CLI has. (Compose itself is not run: its images come from a
registry this machine cannot reach.)"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from campuspulse.cli import app
from campuspulse.collector.settings import CollectorRoleSettings
from campuspulse.server.settings import ServerRoleSettings
from campuspulse.settings import load_settings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((ROOT / "config/systemd").glob("*.service"))
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "CAMPUSPULSE_MQTT__PASSWORD": "mqtt-secret",
    "CAMPUSPULSE_SERVER__JWT_SECRET": "jwt-secret-of-at-least-32-characters",
}
runner = CliRunner()


def campuspulse_services() -> dict[str, dict]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # resolves the `<<` merges
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def settings_of(service: dict, monkeypatch: pytest.MonkeyPatch, role: type):
    for key in [k for k in os.environ if k.startswith("CAMPUSPULSE_")]:
        monkeypatch.delenv(key)
    for key, value in {**SECRETS, **service["environment"]}.items():
        monkeypatch.setenv(key, re.sub(r"\$\{(\w+)\}", lambda m: SECRETS[m.group(1)], str(value)))
    return load_settings(DEPLOY / "campuspulse.yaml", role)


def test_every_campuspulse_service_of_the_compose_file_is_configured_as_the_guide_says(monkeypatch):
    services = campuspulse_services()
    commands = {name: svc.get("command", ["server"])[0] for name, svc in services.items()}
    collectors = [n for n, c in commands.items() if c == "collector"]
    servers = [n for n, c in commands.items() if c == "server"]
    assert len(collectors) >= 2 and len(servers) >= 2, commands
    client_ids, schedulers = set(), []
    for name in collectors + servers:
        settings = settings_of(
            services[name], monkeypatch, CollectorRoleSettings if name in collectors else ServerRoleSettings
        )
        assert settings.store.url == "postgresql+psycopg://campuspulse:pg-secret@postgres/campuspulse"
        if name in collectors:
            assert settings.mqtt.tls and settings.mqtt.port == 8883 and settings.mqtt.password is not None
            assert settings.mqtt.password.get_secret_value() == "mqtt-secret"
            assert settings.collector.shared_group, "collectors split the load on a shared subscription"
            assert settings.timeseries is not None
            client_ids.add(settings.collector.client_id)
        else:
            schedulers.append(settings.server.scheduler)
            assert settings.server.host == "0.0.0.0"
    assert len(client_ids) == len(collectors), "each collector has its own persistent session"
    assert schedulers.count(True) == 1, "the scheduler runs in one API replica only"


def test_the_commands_of_the_compose_file_and_the_dockerfile_exist():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    default = yaml.safe_load(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    for name, svc in campuspulse_services().items():
        args = svc.get("command", default)
        result = runner.invoke(app, [args[0], "--help"])
        assert result.exit_code == 0, f"{name}: {args}"
        assert all(opt in result.output for opt in args[1:] if opt.startswith("--")), f"{name}: {args}"


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_verify_and_start_a_command_the_cli_has(unit, tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing (Debian: apt install systemd)"
    text = unit.read_text()
    exec_start = shlex.split(re.search(r"^ExecStart=(.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert exec_start[0] == "/opt/campuspulse/bin/campuspulse", "the path the deployment guides install to"
    here = Path(sys.executable).with_name("campuspulse")
    copy = tmp_path / unit.name
    copy.write_text(text.replace(exec_start[0], str(here)))
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    result = runner.invoke(app, [*exec_start[1:2], "--help"])
    assert result.exit_code == 0, exec_start
    assert all(opt in result.output for opt in exec_start[2:] if opt.startswith("--")), exec_start
