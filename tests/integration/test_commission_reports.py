"""Commission reports: the workbook holds the API's figures; issued reports keep their hash, enter the audit log,
stay within scope, and are issued monthly by the scheduler's job. On SQLite and PostgreSQL."""

import hashlib
import io
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session

from campuspulse.demo.campus import local_now
from campuspulse.server.app import create_app
from campuspulse.server.reports.issuing import issue_monthly
from campuspulse.store.report_schema import IssuedReport
from tests.support.campus import AUTH, TOKEN
from tests.support.dashboard_campus import PASSWORD, seed

API = "/api/v1"


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    seed(app.state.engine, back=8)
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def span() -> dict[str, str]:
    today = local_now().date()
    return {"from": (today - timedelta(days=14)).isoformat(), "to": today.isoformat()}  # whole days: figures hold


def get(client, path: str, headers: dict = AUTH, **params) -> dict:
    r = client.get(f"{API}{path}", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def sheet(wb, name: str) -> list[dict]:
    rows = list(wb[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def login(client, user: str) -> dict:
    r = client.post(f"{API}/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_the_workbook_holds_the_figures_of_the_api(client):
    q = {"scope": "district", "id": "haidian", **span()}
    r = client.get(f"{API}/reports/commission.xlsx", params=q, headers=AUTH)
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    about = {row[0]: row[1] for row in wb["说明"].iter_rows(values_only=True)}
    assert (about["from"], about["to (exclusive)"], about["scope"], about["id"]) == (
        q["from"],
        q["to"],
        "district",
        "haidian",
    )
    assert "SAMPLE-JUNIOR-PHYSICS 2026.1" in about["standards"] and "(sample)" in about["standards"]
    total = get(client, "/utilization", scope="district", id="haidian", **span())
    assert float(about["coverage"]) == total["coverage"]
    rows = {row["key"]: row for row in sheet(wb, "使用率")}
    expected = get(client, "/utilization", scope="district", id="haidian", group_by="school", **span())["rows"]
    assert set(rows) == {"total"} | {e["key"] for e in expected}
    for e in [*expected, {**total["rows"][0], "key": "total"}]:
        for k in ("utilization", "coverage", "sessions", "devices_used", "used_periods"):
            assert rows[e["key"]][k] == e[k], (e["key"], k)
    for standard in ("SAMPLE-JUNIOR-PHYSICS", "SAMPLE-PRIMARY-SCIENCE"):
        api = get(client, "/compliance", scope="district", id="haidian", standard=standard)
        got = [row for row in sheet(wb, "配备达标") if row["standard"] == standard]
        assert [(g["school"], g["r_item"], g["compliant"]) for g in got] == [
            (a["school"], a["r_item"], a["compliant"]) for a in api["schools"]
        ]
        rate = next(row for row in sheet(wb, "达标率") if row["standard"] == standard)
        assert (rate["compliant"], rate["schools"], rate["compliance_rate"]) == (
            api["summary"]["compliant"],
            api["summary"]["schools"],
            api["summary"]["compliance_rate"],
        )
    term = about["term"]
    offered = get(client, "/experiments/offering-rate", scope="district", id="haidian", term=term)["by_school"]
    assert [(o["type"], o["school"], o["done"], o["required"]) for o in sheet(wb, "实验开出率")] == [
        (o["type"], o["school"], o["done"], o["required"]) for o in offered
    ]
    assert {row["indicator"] for row in sheet(wb, "公式")} == {"utilization", "compliance", "offering-rate"}


def test_issued_reports_keep_their_hash_enter_the_audit_log_and_stay_in_scope(client):
    manager = login(client, "hd-manager-2")
    body = {"scope": "district", "id": "haidian", **span()}
    r = client.post(f"{API}/reports/issued", json=body, headers=manager)
    assert r.status_code == 201, r.text
    issued = r.json()
    f = client.get(f"{API}/reports/issued/{issued['id']}", headers=manager)
    assert f.status_code == 200
    assert hashlib.sha256(f.content).hexdigest() == issued["sha256"] == f.headers["x-content-sha256"]
    assert load_workbook(io.BytesIO(f.content))["说明"]["B3"].value == "haidian"
    entries = get(client, "/audit", limit=1000)["entries"]
    logged = [e for e in entries if e["entity"] == "issued_report"]
    assert logged and logged[-1]["actor"] == "hd-manager-2" and logged[-1]["new"]["sha256"] == issued["sha256"]

    auditor = login(client, "auditor-2")
    assert client.post(f"{API}/reports/issued", json=body, headers=auditor).status_code == 403
    assert [x["id"] for x in get(client, "/reports/issued", headers=auditor)["reports"]] == [issued["id"]]
    outsider = login(client, "cy-auditor")
    assert get(client, "/reports/issued", headers=outsider)["reports"] == []
    assert client.get(f"{API}/reports/issued/{issued['id']}", headers=outsider).status_code == 403
    cy = {"scope": "district", "id": "chaoyang", **span()}
    assert client.post(f"{API}/reports/issued", json=cy, headers=manager).status_code == 403

    with Session(client.app.state.engine) as s, s.begin():  # someone edits the stored file behind the API's back
        s.execute(update(IssuedReport).where(IssuedReport.id == issued["id"]).values(content=f.content + b"x"))
    altered = client.get(f"{API}/reports/issued/{issued['id']}", headers=manager)
    assert altered.status_code == 409 and "altered" in altered.json()["detail"]


def test_the_monthly_job_issues_last_month_for_the_city_and_each_district_once(client):
    engine = client.app.state.engine
    assert issue_monthly(engine, date(2026, 12, 3)) == 3  # the city, haidian, chaoyang
    assert issue_monthly(engine, date(2026, 12, 20)) == 0
    reports = get(client, "/reports/issued")["reports"]
    assert sorted((r["scope"], r["scope_id"]) for r in reports) == [
        ("city", ""),
        ("district", "chaoyang"),
        ("district", "haidian"),
    ]
    assert {(r["from"], r["to"], r["issued_by"]) for r in reports} == {("2026-11-01", "2026-12-01", "scheduler")}
    for r in reports:
        f = client.get(f"{API}/reports/issued/{r['id']}", headers=AUTH)
        assert hashlib.sha256(f.content).hexdigest() == r["sha256"]
