"""The audit log: who changed what, old → new, hash-chained, and tampering is found — SQLite and PostgreSQL."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from campuspulse.server.app import create_app
from campuspulse.server.inventory import service
from campuspulse.store.audit import MissingActor, entry_hash
from tests.support.campus import AUTH, TOKEN

ITEM = {
    "catalog_code": "12001",
    "name": "托盘天平",
    "room": "lab1",
    "quantity": 2,
    "unit": "台",
    "unit_value": "180.00",
}


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        for path, body in [
            ("/schools/s1", {"name": "一中", "district": "hd", "stage": "junior"}),
            ("/schools/s1/rooms/lab1", {"name": "物理实验室", "type": "physics_lab", "capacity": 50}),
            ("/schools/s1/equipment/e1", ITEM),
            ("/schools/s1/equipment/e1", {**ITEM, "quantity": 3, "status": "待修"}),
        ]:
            assert c.put(f"/api/v1{path}", json=body, headers=AUTH).status_code in (200, 201)
        assert c.delete("/api/v1/schools/s1/equipment/e1", headers=AUTH).status_code == 204
        yield c
    app.state.engine.dispose()


def entries(client) -> list[dict]:
    return client.get("/api/v1/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]


def verify(client) -> dict:
    r = client.get("/api/v1/audit/verify", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def sql(client, statement: str, **params: object) -> None:
    with client.app.state.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_every_change_is_logged_with_who_and_old_to_new(client):
    log = entries(client)
    assert [(e["action"], e["entity"], e["key"]) for e in log] == [
        ("create", "server_secret", "jwt_signing_key"),  # the server's first start: which key signs sessions
        ("create", "server_secret", "jwt_signing_key_in_use"),
        ("create", "school", "s1"),
        ("create", "room", "s1/lab1"),
        ("create", "equipment_item", "s1/e1"),
        ("update", "equipment_item", "s1/e1"),
        ("delete", "equipment_item", "s1/e1"),
    ]
    assert [e["actor"] for e in log] == ["server"] * 2 + ["bootstrap-admin"] * 5
    secret = log[0]["new"]["value"]
    assert secret.startswith("sha256:") and secret != client.app.state.jwt_key  # a fingerprint, never the key
    update = log[5]
    assert (update["old"]["quantity"], update["new"]["quantity"]) == (2, 3)
    assert (update["old"]["status"], update["new"]["status"]) == ("完好", "待修")
    assert log[6]["old"]["quantity"] == 3 and log[6]["new"] is None
    assert verify(client) == {"ok": True, "entries": 7, "head": log[-1]["hash"], "witnesses": 0, "problems": []}


def test_a_put_that_changes_nothing_logs_nothing(client):
    before = len(entries(client))
    body = {"name": "物理实验室", "type": "physics_lab", "capacity": 50}
    assert client.put("/api/v1/schools/s1/rooms/lab1", json=body, headers=AUTH).status_code == 200
    assert len(entries(client)) == before


def test_an_altered_entry_is_found(client):
    sql(client, "UPDATE audit_log SET new = replace(new, :a, :b) WHERE seq = 6", a='"quantity":3', b='"quantity":30')
    assert verify(client)["first_broken"] == {
        "seq": 6,
        "reason": "content does not match its hash (the entry was altered)",
    }


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link(client):
    first, second = entries(client)[:2]
    forged = {**second, "actor": "someone-else", "old": None, "new": '{"forged":true}'}
    new_hash = entry_hash(first["hash"], forged)
    statement = "UPDATE audit_log SET actor = :a, new = :n, hash = :h WHERE seq = 2"
    sql(client, statement, a="someone-else", n=forged["new"], h=new_hash)
    broken = verify(client)["first_broken"]
    assert broken == {"seq": 3, "reason": "prev_hash does not match the hash of the entry before"}


def test_removed_entries_are_found(client):
    sql(client, "DELETE FROM audit_log WHERE seq = 7")
    assert verify(client)["first_broken"]["seq"] == 7
    sql(client, "DELETE FROM audit_log WHERE seq = 2")
    assert verify(client)["first_broken"] == {"seq": 2, "reason": "entries 2..2 are missing"}


def test_concurrent_writers_keep_one_unbroken_chain(client):
    engine = client.app.state.engine

    def write(i: int) -> None:
        with Session(engine) as s, s.begin():
            s.info["actor"] = f"writer-{i % 4}"
            service.put_room(s, "s1", f"r{i}", {"name": f"room {i}", "type": "classroom", "capacity": i})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(40)))
    result = verify(client)
    assert result["ok"] and result["entries"] == 7 + 40


def test_a_change_without_an_actor_is_refused(client):
    with Session(client.app.state.engine) as s, s.begin(), pytest.raises(MissingActor):
        service.put_room(s, "s1", "r-anon", {"name": "x", "type": "classroom", "capacity": 0})
    assert all(e["key"] != "s1/r-anon" for e in entries(client))


def test_only_admins_and_auditors_verify(client):
    body = {
        "username": "sm",
        "password": "long enough pw",
        "role": "school_manager",
        "scope_kind": "school",
        "scope_id": "s1",
    }
    assert client.post("/api/v1/users", json=body, headers=AUTH).status_code == 201
    token = client.post("/api/v1/auth/token", data={"username": "sm", "password": "long enough pw"}).json()
    r = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert r.status_code == 403
