"""Readings on device timelines, read back from a real VictoriaMetrics that the collector's sink wrote to."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campuspulse.collector.timeseries import TimeSeriesSink
from campuspulse.server.access.credentials import create_user
from campuspulse.server.access.principals import Role, ScopeKind
from campuspulse.server.app import create_app
from campuspulse.telemetry import format_ts, parse_records_payload
from campuspulse.telemetry.line_protocol import record_lines
from tests.support.campus import AUTH, TOKEN, payload, provision
from tests.support.victoria import Victoria
from tests.support.waiting import wait_until

API = "/api/v1"
DAY = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
START = datetime.combine(DAY, datetime.min.time(), ZoneInfo("Asia/Shanghai")) + timedelta(hours=8)


@pytest.fixture
def victoria(tmp_path):
    vm = Victoria(tmp_path / "vm")
    vm.start()
    yield vm
    vm.stop()


def readings() -> list[dict]:
    return [
        {
            "type": "reading",
            "seq": i,
            "ts": format_ts(int((START + timedelta(minutes=i)).timestamp() * 1000)),
            "device": "pc1",
            "values": {"power_w": float(10 + i % 50), "current_a": 0.1 * (i % 5)},
        }
        for i in range(120)
    ]


def app_with(tmp_path, readings_url):
    app = create_app(f"sqlite:///{tmp_path / 'store.db'}", admin_token=TOKEN, readings_url=readings_url)
    with Session(app.state.engine) as s, s.begin():
        s.info["actor"] = "test"
        create_user(s, "viewer", Role.AUDITOR, ScopeKind.ALL, "", "a long enough password")
    return app


def page(c: TestClient, path: str) -> str:
    form = c.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    c.post("/ui/login", data={"username": "viewer", "password": "a long enough password", "csrf": csrf})
    return c.get(path).text


def test_device_readings_come_back_from_the_store_and_are_drawn(tmp_path, victoria):
    sink = TimeSeriesSink(victoria.url, "", "campuspulse", "campuspulse", tmp_path / "spool.db")
    sink.start()
    batch = parse_records_payload(payload(readings()))
    sink.spool(record_lines("s1", "a1", batch.records))
    wait_until(sink.drained, 30)
    sink.close()
    app = app_with(tmp_path, victoria.url)
    with TestClient(app) as c:
        provision(c)
        q = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()}
        wait_until(lambda: c.get(f"{API}/schools/s1/devices/pc1/readings", params=q, headers=AUTH).json()["fields"], 30)
        got = c.get(f"{API}/schools/s1/devices/pc1/readings", params=q, headers=AUTH).json()["fields"]
        assert set(got) == {"power_w", "current_a"}
        sent = [(r["ts"], r["values"]["power_w"]) for r in readings()]
        assert [(format_ts(t), v) for t, v in got["power_w"]] == sent
        html = page(c, f"/ui/schools/s1/devices/pc1?day={DAY.isoformat()}")
        points = re.search(r'<polyline class="reading" points="([^"]+)"', html)
        assert points is not None and len(points.group(1).split()) == 120
        assert "power_w" in html and "59.0" in html  # the largest value, named
    victoria.stop()
    with TestClient(app) as c:
        r = c.get(f"{API}/schools/s1/devices/pc1/readings", params=q, headers=AUTH)
        assert r.status_code == 503 and victoria.url in r.json()["detail"]
        assert "could not be read" in page(c, f"/ui/schools/s1/devices/pc1?day={DAY.isoformat()}")
    app.state.engine.dispose()


def test_without_a_store_the_readings_say_how_to_get_them(tmp_path):
    app = app_with(tmp_path, None)
    with TestClient(app) as c:
        provision(c)
        r = c.get(
            f"{API}/schools/s1/devices/pc1/readings", params={"from": "2026-09-07", "to": "2026-09-08"}, headers=AUTH
        )
        assert r.status_code == 404 and "server.readings_url" in r.json()["detail"]
    app.state.engine.dispose()
