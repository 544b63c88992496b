"""The three commands a deployment runs — server, collector, agent — as separate processes on one config."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.campus import AUTH, TOKEN
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.mqtt


def start(args, cfg, log):
    env = {**os.environ, "CAMPUSPULSE_ADMIN_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-m", "campuspulse", *args, "-c", str(cfg)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip


def eventually(fn, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_server_collector_and_agent_processes_work_together(tmp_path, mosquitto):
    tz = ZoneInfo("Asia/Shanghai")
    today = datetime.now(tz).date()
    port = free_port()
    cfg = tmp_path / "campuspulse.yaml"
    cfg.write_text(f"""
mqtt: {{port: {mosquitto.port}}}
ledger: {{url: "sqlite:///{tmp_path}/ledger.db"}}
server: {{port: {port}}}
collector: {{client_id: proc-collector-{port}}}
agent:
  id: a1
  school: s1
  queue_path: {tmp_path}/queue.db
  valid_s: 3
  heartbeat_s: 1
  devices:
    - id: pc1
      poll_s: 0.2
      source: {{driver: simulated, use_share: 1, jitter_min: 0, open_hours: ["00:00", "24:00"],
                day_overrides: {{"{today}": [["00:00", "24:00"]]}}}}
""")
    log = (tmp_path / "processes.log").open("w")
    procs = {"server": start(["server"], cfg, log)}
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        http = httpx.Client(base_url=base, headers=AUTH)
        assert http.put("/api/v1/schools/s1", json={"name": "S1", "district": "d1", "stage": "junior"}).is_success
        assert http.put("/api/v1/agents/a1", json={"school": "s1"}).is_success
        assert http.put("/api/v1/schools/s1/devices/pc1", json={"agent": "a1", "room": "lab", "kind": "pc"}).is_success
        assert http.put(f"/api/v1/schools/s1/calendar/{today}", json={"periods": [["00:00", "24:00"]]}).is_success
        procs["collector"] = start(["collector"], cfg, log)
        # the collector's persistent session must exist before agents publish, as in a deployment
        eventually(lambda: "collector connected" in (tmp_path / "processes.log").read_text())
        procs["agent"] = start(["agent"], cfg, log)
        eventually(lambda: http.get("/api/v1/agents/a1").json()["settled_through_seq"] >= 10)
        q = {"scope": "device", "id": "s1/pc1", "from": today.isoformat(), "to": str(today + timedelta(days=1))}
        row = eventually(lambda: http.get("/api/v1/utilization", params=q).json()["rows"][0]["in_use_s"] > 1
                         and http.get("/api/v1/utilization", params=q).json()["rows"][0])  # fmt: skip
        assert row["sessions"] == 1 and row["devices_used"] == 1
        procs["agent"].send_signal(signal.SIGTERM)
        assert procs["agent"].wait(15) == 0
        eventually(lambda: http.get("/api/v1/agents/a1").json()["online"] is False)
    finally:
        for name in ("agent", "collector", "server"):
            if name in procs and procs[name].poll() is None:
                procs[name].send_signal(signal.SIGTERM)
        codes = {name: p.wait(15) for name, p in procs.items()}
        log.close()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal, as a service manager expects
    codes["server"] = 0 if codes["server"] == -signal.SIGTERM else codes["server"]
    assert "Application shutdown complete" in (tmp_path / "processes.log").read_text()
    assert codes == {name: 0 for name in procs}, f"{codes}: " + (tmp_path / "processes.log").read_text()[-3000:]
