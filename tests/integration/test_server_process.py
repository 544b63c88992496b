"""`campuspulse server` as deployed: which client address it believes behind a reverse proxy, and the audit
checkpoints it publishes from its settings."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.integration.test_processes import eventually
from tests.support.campus import AUTH, TOKEN
from tests.support.mosquitto import free_port

PASSWORD = "correct horse battery"


@contextmanager
def serve(tmp_path, name: str, extra: str) -> Iterator[httpx.Client]:
    """`campuspulse server` on a SQLite store with these extra `server` settings, stopped afterwards."""
    port = free_port()
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"""
store: {{url: "sqlite:///{tmp_path}/{name}.db"}}
server: {{port: {port}, scheduler: false, login_attempts: 1{extra}}}
""")
    log = (tmp_path / f"{name}.log").open("w")
    env = {**os.environ, "CAMPUSPULSE_ADMIN_TOKEN": TOKEN, "FORWARDED_ALLOW_IPS": "*"}  # the setting decides
    proc = subprocess.Popen(
        [sys.executable, "-m", "campuspulse", "server", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    try:
        try:
            eventually(lambda: http.get("/healthz").status_code == 200, 60)
        except AssertionError:
            raise AssertionError((tmp_path / f"{name}.log").read_text()[-3000:]) from None
        yield http
    finally:
        proc.terminate()
        proc.wait(10)


def spray_then_log_in(http: httpx.Client) -> int:
    """Ten wrong passwords for ten names from one client behind the proxy, then a right one from another client."""
    user = {"username": "mgr", "password": PASSWORD, "role": "admin", "scope_kind": "all"}
    assert http.post("/api/v1/users", headers=AUTH, json=user).status_code == 201
    for n in range(10):
        wrong = {"username": f"guess{n}", "password": "wrong"}
        http.post("/api/v1/auth/token", data=wrong, headers={"X-Forwarded-For": "203.0.113.7"})
    right = {"username": "mgr", "password": PASSWORD}
    return http.post("/api/v1/auth/token", data=right, headers={"X-Forwarded-For": "198.51.100.20"}).status_code


def test_behind_a_trusted_proxy_one_sprayer_does_not_lock_out_everyone_else(tmp_path):
    with serve(tmp_path, "proxied", ", forwarded_allow_ips: ['127.0.0.1']") as http:
        assert spray_then_log_in(http) == 200, "each client is counted by the address the proxy names"


def test_without_trusted_proxies_forwarded_addresses_are_ignored(tmp_path):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: any local process could name any address."""
    with serve(tmp_path, "direct", "") as http:
        assert spray_then_log_in(http) == 429, "every request is from the connection's own address"


def test_the_server_publishes_signed_checkpoints_and_prints_its_new_public_key(tmp_path):
    target = tmp_path / "witness" / "checkpoints.jsonl"
    extra = f", audit_checkpoints: '{target}', audit_key_file: '{tmp_path}/audit.key'"
    with serve(tmp_path, "anchored", extra) as http:
        eventually(lambda: target.exists() and target.read_text().strip(), 30)
        log = " ".join((tmp_path / "anchored.log").read_text().split())
        assert "made the audit checkpoint key" in log and "--public-key`: ed25519:" in log, log[-2000:]
        key = log.split("--public-key`: ")[1].split()[0]
        store = f"sqlite:///{tmp_path}/anchored.db"
        args = ["audit", "verify", "--store", store, "--checkpoints", str(target), "--public-key", key]
        r = subprocess.run(
            [sys.executable, "-m", "campuspulse", *args],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0 and "1 witnesses" in " ".join(r.stdout.split()), r.stdout + r.stderr
        verified = http.get("/api/v1/audit/verify", headers=AUTH).json()
        assert verified["ok"] and verified["witnesses"] == 1, verified
