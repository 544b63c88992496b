"""Two API server processes on one PostgreSQL store, as replicas behind a load balancer: they start
together, and nothing a client does on one is unknown to the other."""

import time
from datetime import date, timedelta

import httpx
import pytest

from tests.integration.test_processes import eventually, start
from tests.support.campus import AUTH
from tests.support.mosquitto import free_port
from tests.support.scratch_db import scratch_database

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery"


def config(tmp_path, name: str, url: str, port: int, scheduler: bool):
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"""
store: {{url: "{url}"}}
server: {{port: {port}, scheduler: {str(scheduler).lower()}, rollup_every_s: 1, login_attempts: 3}}
""")
    return cfg


def test_two_replicas_share_sign_ins_throttling_revocation_and_one_scheduler(tmp_path):
    with scratch_database("cp_replicas") as url:
        ports = {"a": free_port(), "b": free_port()}
        logs = {n: tmp_path / f"{n}.log" for n in ports}
        # started together on an empty database: they race to migrate it and to make the signing key
        procs = [
            start(["server", "--verbose"], config(tmp_path, n, url, p, scheduler=n == "a"), logs[n].open("w"))
            for n, p in ports.items()
        ]
        try:
            a, b = (httpx.Client(base_url=f"http://127.0.0.1:{p}") for p in ports.values())
            for http in (a, b):
                eventually(lambda http=http: http.get("/healthz").status_code == 200, 60)
            assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs.values()]

            assert (
                a.post(
                    "/api/v1/users",
                    headers=AUTH,
                    json={"username": "mgr", "password": PASSWORD, "role": "admin", "scope_kind": "all"},
                ).status_code
                == 201
            )
            login = b.post("/api/v1/auth/token", data={"username": "mgr", "password": PASSWORD})
            assert login.status_code == 200, login.text
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            assert a.get("/api/v1/auth/me", headers=bearer).json()["username"] == "mgr", "a token from B works on A"

            made = a.post("/api/v1/auth/api-tokens", headers=bearer, json={"name": "lab host"}).json()
            machine = {"Authorization": f"Bearer {made['token']}"}
            assert b.get("/api/v1/auth/me", headers=machine).status_code == 200
            assert b.delete(f"/api/v1/auth/api-tokens/{made['id']}", headers=bearer).status_code == 204
            assert a.get("/api/v1/auth/me", headers=machine).status_code == 401, "revoked on B, refused on A"

            # failed logins count together, whichever replica they reach
            for http in (a, b, a):
                assert http.post("/api/v1/auth/token", data={"username": "mgr", "password": "wrong"}).status_code == 401
            assert b.post("/api/v1/auth/token", data={"username": "mgr", "password": PASSWORD}).status_code == 429

            # only the replica configured for it runs the scheduler's jobs: a past teaching day gets rolled up
            day = (date.today() - timedelta(days=2)).isoformat()
            assert b.put(
                "/api/v1/schools/s1", headers=AUTH, json={"name": "S1", "district": "d1", "stage": "junior"}
            ).is_success
            assert b.put(
                f"/api/v1/schools/s1/calendar/{day}", headers=AUTH, json={"periods": [["08:00", "09:00"]]}
            ).is_success
            eventually(lambda: "rollups:" in logs["a"].read_text(), 30)
            time.sleep(3)
            assert "rollups:" not in logs["b"].read_text()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(20)
