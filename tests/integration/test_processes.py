"""The three commands a deployment runs — server, collector, agent — as separate processes on one config, each
importing only its own role's code and libraries."""

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


# What a role must never load: the agent runs on lab PCs and gateways (no web, SQL, Excel or server code), the
# collector and the server never touch devices (no driver, no edge code, no serial, Modbus or agent MQTT library).
NOT_IMPORTED = {
    "agent": (
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "openpyxl",
        "jinja2",
        "amqtt",
        "influxdb_client",
        "apscheduler",
        "campuspulse.server",
        "campuspulse.store",
        "campuspulse.collector",
    ),
    "collector": (
        "campuspulse.drivers",
        "campuspulse.edge",
        "campuspulse.server",
        "pymodbus",
        "serial",
        "serial_asyncio_fast",
        "aiomqtt",
        "psutil",
        "fastapi",
        "openpyxl",
        "amqtt",
    ),
    "server": (
        "campuspulse.drivers",
        "campuspulse.edge",
        "campuspulse.collector",
        "pymodbus",
        "serial",
        "serial_asyncio_fast",
        "aiomqtt",
        "psutil",
        "amqtt",
    ),
}
# ...and what shows that it did run its own path.
IMPORTED = {
    "agent": ("campuspulse.edge.publisher", "campuspulse.drivers.simulated", "aiomqtt"),
    "collector": ("campuspulse.collector.service", "campuspulse.store.ingest", "paho"),
    "server": ("campuspulse.server.app", "campuspulse.store.ingest", "fastapi"),
}


def start(args, cfg, log):
    env = {**os.environ, "CAMPUSPULSE_ADMIN_TOKEN": TOKEN}
    cmd = [sys.executable, "-X", "importtime", "-m", "campuspulse", *args, "-c", str(cfg)]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def imported(log_text: str) -> set[str]:
    """The modules a process imported, from the lines `python -X importtime` writes."""
    return {line.rsplit("|", 1)[1].strip() for line in log_text.splitlines() if line.startswith("import time:")}


def loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


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
store: {{url: "sqlite:///{tmp_path}/store.db"}}
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
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("server", "collector", "agent")}
    procs = {"server": start(["server"], cfg, logs["server"])}
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        http = httpx.Client(base_url=base, headers=AUTH)
        assert http.put("/api/v1/schools/s1", json={"name": "S1", "district": "d1", "stage": "junior"}).is_success
        assert http.put("/api/v1/agents/a1", json={"school": "s1"}).is_success
        assert http.put("/api/v1/schools/s1/devices/pc1", json={"agent": "a1", "room": "lab", "kind": "pc"}).is_success
        assert http.put(f"/api/v1/schools/s1/calendar/{today}", json={"periods": [["00:00", "24:00"]]}).is_success
        procs["collector"] = start(["collector"], cfg, logs["collector"])
        # the collector's persistent session must exist before agents publish, as in a deployment
        eventually(lambda: "collector connected" in (tmp_path / "collector.log").read_text())
        procs["agent"] = start(["agent"], cfg, logs["agent"])
        eventually(lambda: http.get("/api/v1/agents/a1").json()["settled_through_seq"] >= 10)
        q = {"scope": "device", "id": "s1/pc1", "from": today.isoformat(), "to": str(today + timedelta(days=1))}
        row = eventually(
            lambda: (
                http.get("/api/v1/utilization", params=q).json()["rows"][0]["in_use_s"] > 1
                and http.get("/api/v1/utilization", params=q).json()["rows"][0]
            )
        )
        assert row["sessions"] == 1 and row["devices_used"] == 1
        procs["agent"].send_signal(signal.SIGTERM)
        assert procs["agent"].wait(15) == 0
        eventually(lambda: http.get("/api/v1/agents/a1").json()["online"] is False)
    finally:
        for name in ("agent", "collector", "server"):
            if name in procs and procs[name].poll() is None:
                procs[name].send_signal(signal.SIGTERM)
        codes = {name: p.wait(15) for name, p in procs.items()}
        for log in logs.values():
            log.close()
    text = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal, as a service manager expects
    codes["server"] = 0 if codes["server"] == -signal.SIGTERM else codes["server"]
    assert "Application shutdown complete" in text["server"]
    assert codes == {name: 0 for name in procs}, f"{codes}: " + "".join(t[-1500:] for t in text.values())
    for role, log_text in text.items():
        modules = imported(log_text)
        assert [m for m in IMPORTED[role] if not loaded(modules, m)] == [], f"{role} did not run its own path"
        assert [m for m in NOT_IMPORTED[role] if loaded(modules, m)] == [], f"{role} imported another role's code"
