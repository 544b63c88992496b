"""`campuspulse admin` and `campuspulse import` against a real store file; the server then honours what they made."""

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from campuspulse.cli import app
from campuspulse.server.app import create_app

STANDARDS = Path(__file__).parents[2] / "config" / "standards"


def test_cli_creates_users_and_tokens_and_loads_standards(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    # --ledger: the old name of --store, still accepted
    r = runner.invoke(
        app,
        [
            "admin",
            "create-user",
            "root",
            "--role",
            "admin",
            "--ledger",
            url,
            "--password-env",
            "PW",
        ],  # the old name of --store
        env={"PW": "a long password"},
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "admin",
            "create-user",
            "m1",
            "--role",
            "school_manager",
            "--scope",
            "school:s1",
            "--store",
            url,
            "--machine",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["admin", "create-token", "m1", "--name", "lab pc 1", "--store", url])
    assert r.exit_code == 0 and r.stdout.startswith("cpt_"), r.output
    token = r.stdout.strip()
    r = runner.invoke(app, ["import", "standards", *map(str, sorted(STANDARDS.glob("*.yaml"))), "--store", url])
    assert r.exit_code == 0 and "created SAMPLE-JUNIOR-PHYSICS 2026.1 (15 items)" in r.output, r.output

    web = create_app(url)
    with TestClient(web) as c:
        login = c.post("/api/v1/auth/token", data={"username": "root", "password": "a long password"})
        assert login.status_code == 200
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert len(c.get("/api/v1/standards", headers=admin).json()["standards"]) == 2
        me = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert (me["username"], me["role"], me["scope_id"]) == ("m1", "school_manager", "s1")
        log = c.get("/api/v1/audit", params={"limit": 1000}, headers=admin).json()["entries"]
        actors = {e["actor"] for e in log if e["entity"] != "server_secret"}  # the server records its keys
        assert len(actors) == 1 and actors.pop().startswith("cli:")
    web.state.engine.dispose()


def test_cli_refuses_a_role_with_the_wrong_scope(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    r = CliRunner().invoke(
        app,
        ["admin", "create-user", "x", "--role", "school_manager", "--scope", "region:hd", "--store", url, "--machine"],
    )
    assert r.exit_code == 2 and "takes a scope of kind school" in r.output


def test_cli_changes_a_users_role_and_password_and_their_sessions_end(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()

    def admin(*args: str, pw: str = "") -> str:
        r = runner.invoke(app, ["admin", *args, "--store", url], env={"PW": pw})
        assert r.exit_code == 0, r.output
        return " ".join(r.output.split())

    admin(
        "create-user",
        "ann",
        "--role",
        "school_manager",
        "--scope",
        "school:s1",
        "--password-env",
        "PW",
        pw="first password",
    )
    web = create_app(url)
    with TestClient(web) as c:
        first = c.post("/api/v1/auth/token", data={"username": "ann", "password": "first password"}).json()
        session = {"Authorization": f"Bearer {first['access_token']}"}
        assert c.get("/api/v1/auth/me", headers=session).json()["scope_id"] == "s1"

        assert "their sessions have ended" in admin("set-role", "ann", "--role", "auditor", "--scope", "region:hd")
        assert c.get("/api/v1/auth/me", headers=session).status_code == 401
        assert "password is set" in admin("reset-password", "ann", "--password-env", "PW", pw="second password")
        assert c.post("/api/v1/auth/token", data={"username": "ann", "password": "first password"}).status_code == 401
        again = c.post("/api/v1/auth/token", data={"username": "ann", "password": "second password"}).json()
        me = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {again['access_token']}"}).json()
        assert (me["role"], me["scope_kind"], me["scope_id"]) == ("auditor", "region", "hd")
    web.state.engine.dispose()

    missing = runner.invoke(app, ["admin", "set-role", "nobody", "--role", "admin", "--store", url])
    assert missing.exit_code == 2 and "no user 'nobody'" in missing.output
    short = runner.invoke(
        app, ["admin", "reset-password", "ann", "--password-env", "PW", "--store", url], env={"PW": "short"}
    )
    assert short.exit_code == 2 and "at least 10 characters" in short.output
