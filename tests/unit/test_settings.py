"""Config files: every example validates; every mistake is named with file, line and field; env overrides."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from campuspulse.cli import app
from campuspulse.edge.settings import AgentRoleSettings
from campuspulse.server.settings import ServerRoleSettings
from campuspulse.settings import ConfigError, load_settings, read_settings

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("config/examples").glob("*.yaml"))
runner = CliRunner()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_is_valid(path):
    result = runner.invoke(app, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_check_config_names_file_line_and_field_of_every_problem(tmp_path):
    bad = tmp_path / "agent.yaml"
    bad.write_text(
        "mqtt:\n  port: 99999\nagent:\n  id: lab pc\n  school: s1\n  devices:\n"
        "    - id: pc1\n      poll_s: -1\n      colour: blue\n      source:\n        driver: laser\n"
    )
    result = runner.invoke(app, ["check-config", str(bad)])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert f"{bad}:2: mqtt.port" in out
    assert f"{bad}:4: agent.id" in out
    assert f"{bad}:8: agent.devices.0.poll_s" in out
    assert f"{bad}:9: agent.devices.0.colour: unknown key" in out
    assert "agent.devices.0.source" in out and "laser" in out


def test_yaml_syntax_errors_give_the_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("mqtt:\n  host: [unclosed\n  port: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(bad, AgentRoleSettings)
    assert exc.value.problems[0].line is not None and "not valid YAML" in str(exc.value)


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["check-config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMPUSPULSE_MQTT__PASSWORD", "from-env")
    monkeypatch.setenv("CAMPUSPULSE_MQTT__PORT", "8883")
    settings = load_settings(EXAMPLES[0], AgentRoleSettings)
    assert settings.mqtt.password is not None and settings.mqtt.password.get_secret_value() == "from-env"
    assert settings.mqtt.port == 8883
    assert settings.mqtt.host == "127.0.0.1", "keys the environment does not name keep the file's value"
    assert "from-env" not in repr(settings), "secrets are not printed"


def test_renamed_keys_still_work_and_are_named_with_their_line(tmp_path):
    old = tmp_path / "server.yaml"
    old.write_text("ledger:\n  url: sqlite:///old.db\ncollector:\n  reorder_window_s: 42\nserver:\n  port: 8001\n")
    settings, warnings = read_settings(old, ServerRoleSettings)
    assert settings.store.url == "sqlite:///old.db" and settings.store.reorder_window_s == 42
    assert [(w.line, w.field) for w in warnings] == [(1, "ledger"), (4, "collector.reorder_window_s")]
    result = runner.invoke(app, ["check-config", str(old)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"warning {old}:1: ledger: renamed `store`" in out and f"{old}:4: collector.reorder_window_s" in out


def test_a_renamed_environment_variable_still_works_and_the_new_name_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMPUSPULSE_LEDGER__URL", "postgresql://old-env/db")
    settings, warnings = read_settings(EXAMPLES[-1], ServerRoleSettings)
    assert settings.store.url == "postgresql://old-env/db"
    assert any("CAMPUSPULSE_STORE__URL" in str(w) for w in warnings)
    monkeypatch.setenv("CAMPUSPULSE_STORE__URL", "postgresql://new-env/db")
    assert read_settings(EXAMPLES[-1], ServerRoleSettings)[0].store.url == "postgresql://new-env/db"


def test_each_role_reads_its_own_sections_of_a_shared_file(tmp_path):
    shared = tmp_path / "site.yaml"
    shared.write_text(
        "store:\n  url: sqlite:///site.db\nserver:\n  port: 8002\nagent:\n  id: a1\n  school: s1\n  devices:\n"
        "    - id: d1\n      source:\n        driver: laser\n"
    )
    assert load_settings(shared, ServerRoleSettings).server.port == 8002, "the server ignores the agent's section"
    with pytest.raises(ConfigError, match="laser"):
        load_settings(shared, AgentRoleSettings)
    result = runner.invoke(app, ["check-config", str(shared)])
    assert result.exit_code == 2 and "laser" in result.output, "check-config checks every role's sections"
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text("sever:\n  port: 8002\n")
    result = runner.invoke(app, ["check-config", str(misspelt)])
    assert result.exit_code == 2 and f"{misspelt}:1: sever: unknown key" in " ".join(result.output.split())


def test_an_error_is_an_error_whatever_the_file_is_called(tmp_path):
    bad = tmp_path / "warnings.yaml"
    bad.write_text("ledger:\n  url: 5\nserver:\n  port: 0\n")
    result = runner.invoke(app, ["check-config", str(bad)])
    out = " ".join(result.output.split())
    assert result.exit_code == 2 and f"error {bad}:4: server.port" in out
