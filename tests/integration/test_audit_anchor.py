"""The audit chain anchored outside the store: signed checkpoints and the heads issued reports carry detect a
rewrite or a truncation that `verify_chain` alone cannot — SQLite and PostgreSQL."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from campuspulse.cli import app as cli
from campuspulse.server.app import create_app
from campuspulse.server.audit_checkpoints import (
    Checkpoint,
    open_checkpointer,
    parse_public_key,
    public_key_text,
    publish,
    read_checkpoints,
    signed_witnesses,
)
from campuspulse.store.audit import entry_hash, verify_chain
from tests.support.campus import AUTH, TOKEN

API = "/api/v1"
ROOM = {"name": "物理实验室", "type": "physics_lab", "capacity": 50}


@pytest.fixture
def anchored(store_url, tmp_path):
    checkpointer, created = open_checkpointer(tmp_path / "keys" / "audit.key", str(tmp_path / "checkpoints.jsonl"))
    assert created and (tmp_path / "keys" / "audit.key").stat().st_mode & 0o777 == 0o600
    app = create_app(store_url, admin_token=TOKEN, checkpointer=checkpointer, checkpoint_every_s=3600)
    with TestClient(app) as c:
        assert c.put(
            f"{API}/schools/s1", json={"name": "一中", "district": "hd", "stage": "junior"}, headers=AUTH
        ).is_success
        for n in range(6):
            assert c.put(f"{API}/schools/s1/rooms/r{n}", json={**ROOM, "capacity": n}, headers=AUTH).is_success
        assert c.put(f"{API}/agents/a1", json={"school": "s1"}, headers=AUTH).is_success
        device = {"agent": "a1", "room": "r0", "kind": "lab_pc"}
        assert c.put(f"{API}/schools/s1/devices/pc1", json=device, headers=AUTH).is_success
        yield c, checkpointer, tmp_path
    app.state.engine.dispose()


def said(result) -> str:
    """A command's output with the terminal's line wrapping undone."""
    return " ".join(result.output.split())


def verify(client) -> dict:
    r = client.get(f"{API}/audit/verify", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def rewrite_from(client, seq: int, actor: str = "nobody") -> None:
    """What an attacker with write access to the store does: alter entry `seq`, recompute every hash after it and
    move the head, so that the chain verifies in itself."""
    with client.app.state.engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq"))]
        prev = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
        for row in rows[seq - 1 :]:
            if row["seq"] == seq:
                row["actor"] = actor
            row["prev_hash"], row["hash"] = prev, entry_hash(prev, row)
            prev = row["hash"]
            conn.execute(
                text("UPDATE audit_log SET actor = :actor, prev_hash = :prev_hash, hash = :hash WHERE seq = :seq"), row
            )
        conn.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": prev})


def truncate_to(client, seq: int) -> None:
    with client.app.state.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": seq})
        head = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": seq}).scalar_one()
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": seq, "h": head})


def chain_alone_ok(client) -> bool:
    from sqlalchemy.orm import Session

    with Session(client.app.state.engine) as s:
        return bool(verify_chain(s)["ok"])


def test_a_rewrite_before_a_checkpoint_is_found_though_the_chain_verifies_in_itself(anchored):
    client, checkpointer, _ = anchored
    cp = checkpointer.run_once(client.app.state.engine)
    assert cp is not None and checkpointer.run_once(client.app.state.engine) is None, "published only when moved"
    assert verify(client)["ok"] and verify(client)["witnesses"] >= 1

    rewrite_from(client, cp.seq - 3)
    assert chain_alone_ok(client), "the rewrite recomputed every hash: the chain alone cannot tell"
    result = verify(client)
    assert not result["ok"]
    assert any(f"entry {cp.seq} is not what the checkpoint" in p and "rewritten" in p for p in result["problems"])


def test_a_rewrite_after_the_last_checkpoint_is_not_found_as_the_readme_says(anchored):
    client, checkpointer, _ = anchored
    cp = checkpointer.run_once(client.app.state.engine)
    assert client.put(f"{API}/schools/s1/rooms/late", json=ROOM, headers=AUTH).is_success
    rewrite_from(client, cp.seq + 1)
    assert verify(client)["ok"]


def test_a_truncation_after_a_checkpoint_is_found(anchored):
    client, checkpointer, _ = anchored
    cp = checkpointer.run_once(client.app.state.engine)
    truncate_to(client, cp.seq - 2)
    assert chain_alone_ok(client)
    problems = verify(client)["problems"]
    assert any(f"saw entry {cp.seq}, but the chain ends at {cp.seq - 2}" in p for p in problems), problems


def test_an_altered_or_foreign_checkpoint_is_not_trusted(anchored, tmp_path):
    client, checkpointer, path = anchored
    cp = checkpointer.run_once(client.app.state.engine)
    forged = Checkpoint(cp.seq, "f" * 64, cp.at, cp.key_id, cp.signature)
    publish(forged, str(path / "checkpoints.jsonl"))
    stranger, _ = open_checkpointer(tmp_path / "other.key", str(tmp_path / "other.jsonl"))
    stranger.run_once(client.app.state.engine)
    witnesses, problems = signed_witnesses(
        read_checkpoints(tmp_path / "other.jsonl"), [checkpointer.key.public_key()], "other.jsonl"
    )
    assert not witnesses and "not among the trusted public keys" in problems[0]
    result = verify(client)
    assert any("the signature does not verify" in p for p in result["problems"]), result
    assert not any("rewritten" in p for p in result["problems"]), "a forged checkpoint is not used as a witness"


def test_issued_reports_carry_the_head_and_witness_it(anchored):
    client, _, path = anchored
    body = {"scope": "school", "id": "s1", "from": "2026-11-01", "to": "2026-12-01"}
    issued = client.post(f"{API}/reports/issued", json=body, headers=AUTH)
    assert issued.status_code == 201, issued.text
    head = issued.json()["audit_head"]
    entries = client.get(f"{API}/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]
    before = [e for e in entries if e["entity"] != "issued_report"]
    assert head == {"seq": before[-1]["seq"], "hash": before[-1]["hash"]}, "the head at issuance, before its own entry"
    copy = path / "report.xlsx"
    copy.write_bytes(client.get(issued.json()["href"], headers=AUTH).content)

    rewrite_from(client, 3)
    problems = verify(client)["problems"]
    report_id = issued.json()["id"]
    assert any(f"entry {head['seq']} is not what issued report {report_id}" in p for p in problems), problems

    # the attacker removes the issued report from the store too: the copy the commission holds still witnesses
    with client.app.state.engine.begin() as conn:
        conn.execute(text("DELETE FROM issued_reports"))
    url = client.app.state.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    r = runner.invoke(cli, ["audit", "verify", "--store", url, "--report", str(copy)])
    assert r.exit_code == 1, r.output
    assert f"entry {head['seq']} is not what the report file report.xlsx saw" in said(r)


def test_the_cli_verifies_against_checkpoint_files_with_the_printed_public_key(anchored):
    client, checkpointer, path = anchored
    checkpointer.run_once(client.app.state.engine)
    url = client.app.state.engine.url.render_as_string(hide_password=False)
    files = ["--checkpoints", str(path / "checkpoints.jsonl")]
    runner = CliRunner()
    printed = runner.invoke(cli, ["audit", "public-key", str(path / "keys" / "audit.key")]).output.strip()
    assert printed == public_key_text(checkpointer.key.public_key()) and parse_public_key(printed)

    r = runner.invoke(cli, ["audit", "verify", "--store", url, *files])
    assert r.exit_code == 2 and "--public-key" in said(r), "checkpoints without a trusted key are refused"
    r = runner.invoke(cli, ["audit", "verify", "--store", url, *files, "--public-key", printed])
    assert r.exit_code == 0 and "ok" in said(r), r.output

    made = runner.invoke(
        cli, ["audit", "checkpoint", "--store", url, "--key", str(path / "cli.key"), "--to", str(path / "cli.jsonl")]
    )
    assert made.exit_code == 0 and "its public key: ed25519:" in said(made), made.output
    truncate_to(client, 4)
    r = runner.invoke(cli, ["audit", "verify", "--store", url, *files, "--public-key", printed])
    assert r.exit_code == 1 and "entries were removed" in said(r), r.output

    (path / "broken.jsonl").write_text('{"seq": 1}\n')
    r = runner.invoke(
        cli, ["audit", "verify", "--store", url, "--checkpoints", str(path / "broken.jsonl"), "--public-key", printed]
    )
    assert r.exit_code == 2 and "broken.jsonl:1: not a checkpoint" in said(r), r.output


def test_changes_of_signing_keys_enter_the_audit_chain(store_url, tmp_path):
    def start(jwt_secret: str | None, key: str) -> list[dict]:
        checkpointer, _ = open_checkpointer(tmp_path / key, str(tmp_path / "cp.jsonl"))
        app = create_app(store_url, admin_token=TOKEN, jwt_secret=jwt_secret, checkpointer=checkpointer)
        with TestClient(app) as c:
            log = c.get(f"{API}/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]
        app.state.engine.dispose()
        return [e for e in log if e["entity"] == "server_secret"]

    first = start(None, "a.key")
    assert {e["key"] for e in first} == {"jwt_signing_key", "jwt_signing_key_in_use", "audit_checkpoint_public_key"}
    assert start(None, "a.key") == first, "a restart with the same keys changes nothing"
    changed = start("a configured secret of some length", "b.key")[len(first) :]
    assert [(e["action"], e["key"]) for e in changed] == [
        ("update", "jwt_signing_key_in_use"),
        ("update", "audit_checkpoint_public_key"),
    ]
    assert all(e["actor"] == "server" and e["old"]["value"] != e["new"]["value"] for e in changed)
    assert all(e["new"]["value"].startswith("sha256:") for e in changed), "fingerprints, never the values"


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_checkpoints_are_posted_to_an_upstream_url(anchored):
    client, checkpointer, _ = anchored
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        checkpointer.target = f"http://127.0.0.1:{server.server_port}/checkpoints"
        cp = checkpointer.run_once(client.app.state.engine)
        assert _Receiver.received[-1] == json.loads(cp.as_json())
        witnesses, problems = signed_witnesses(
            [Checkpoint(**_Receiver.received[-1])], [checkpointer.key.public_key()], "upstream"
        )
        assert witnesses and not problems
    finally:
        server.shutdown()


def test_an_unreachable_target_is_an_error_not_a_silent_loss(anchored):
    client, checkpointer, _ = anchored
    checkpointer.target = "http://127.0.0.1:9/checkpoints"
    assert client.put(f"{API}/schools/s1/rooms/moved", json=ROOM, headers=AUTH).is_success
    before, last = checkpointer.failures, checkpointer.last
    with pytest.raises(ValueError, match="could not publish the checkpoint"):
        checkpointer.run_once(client.app.state.engine)
    assert checkpointer.failures == before + 1 and checkpointer.last == last, "not marked as published: retried"


def test_the_server_publishes_a_checkpoint_when_it_starts(anchored):
    _, checkpointer, path = anchored
    deadline = time.monotonic() + 20
    while checkpointer.published == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_checkpoints(Path(path / "checkpoints.jsonl")), "published by the server's own loop"
