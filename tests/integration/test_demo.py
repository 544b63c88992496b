"""`campuspulse demo` on this machine, as a user runs it: the served utilization moves as the campus runs."""

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.support.mosquitto import free_port

TOKEN = "demo-test-token"


def test_demo_serves_a_utilization_figure_that_changes(tmp_path):
    port = free_port()
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "campuspulse",
            "demo",
            "--port",
            str(port),
            "--history-days",
            "2",
            "--duration",
            "240",
            "--compressed-day",
            "--data-dir",
            str(tmp_path / "demo"),
            "--token",
            TOKEN,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "120"},
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    params = {"scope": "city", "from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    try:
        deadline = time.monotonic() + 150
        first = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                r = httpx.get(f"{base}/api/v1/utilization", params=params, headers=auth, timeout=5)
                if r.status_code == 200 and r.json()["rows"][0]["known_s"] > 0:
                    first = r.json()["rows"][0]
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        assert first is not None, "the demo never served a figure: " + (tmp_path / "demo.log").read_text()[-2000:]
        assert first["devices"] >= 50
        time.sleep(20)
        second = httpx.get(f"{base}/api/v1/utilization", params=params, headers=auth).json()["rows"][0]
        assert second["available_s"] > first["available_s"], "time passes inside today's periods"
        assert second["known_s"] > first["known_s"], "the agents keep reporting"
        assert 0 < second["utilization"] < 1 and second["coverage"] > 0.9
        assert httpx.get(f"{base}/api/v1/utilization", params=params).status_code == 401
        printed = (tmp_path / "demo.log").read_text()
        assert re.search(r"MQTT broker: 127\.0\.0\.1:\d+", printed), "the broker's port is printed"
        admin = re.search(r"admin\s+password (\S+)", printed)
        assert admin, "an admin can log in to the dashboard"
        login = httpx.post(f"{base}/api/v1/auth/token", data={"username": "admin", "password": admin.group(1)})
        assert login.status_code == 200, login.text
        teacher = re.search(r"hd-teacher\s+password (\S+)\s+teacher at hd-junior-01", printed)
        assert teacher, "a teacher's login is printed with where to go"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode == 0, (tmp_path / "demo.log").read_text()[-2000:]
