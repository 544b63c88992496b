"""Insight endpoints and report files agree with the figures of the API, on SQLite and PostgreSQL."""

import csv
import io

import orjson
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from campuspulse.server.app import create_app
from tests.support.campus import AUTH, TOKEN, week_of_heartbeats

API = "/api/v1"
DAYS = ["2026-09-07", "2026-09-08", "2026-09-09", "2026-09-10", "2026-09-11", "2026-09-14"]
PERIODS = [["08:00", "08:45"], ["09:00", "09:45"], ["14:00", "14:45"], ["15:00", "16:00"]]
WEEK = {"scope": "school", "id": "s1", "from": "2026-09-07", "to": "2026-09-15"}


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:

        def put(path: str, body: dict) -> None:
            assert c.put(f"{API}{path}", json=body, headers=AUTH).status_code in (200, 201)

        put("/schools/s1", {"name": "s1", "district": "d1", "stage": "junior"})
        put("/agents/a1", {"school": "s1"})
        for d, room in (("pc1", "lab1"), ("pc2", "lab1"), ("pc3", "lab2"), ("pc4", "lab3")):
            put(f"/schools/s1/devices/{d}", {"agent": "a1", "room": room, "kind": "lab_pc"})
        for day in DAYS:
            put(f"/schools/s1/calendar/{day}", {"periods": PERIODS})
        recs = week_of_heartbeats()
        for i in range(0, len(recs), 5000):
            body = orjson.dumps({"v": 1, "agent": "a1", "school": "s1", "records": recs[i : i + 5000]})
            assert c.post(f"{API}/ingest/records", content=body, headers=AUTH).status_code == 200
        yield c
    app.state.engine.dispose()


def get(client, path: str, **params) -> dict:
    r = client.get(f"{API}{path}", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def test_idle_equipment_is_what_was_not_used(client):
    idle = get(client, "/insights/idle", scope="school", id="s1", days=3)
    names = {d["device"] for d in idle["devices"]}
    assert "pc4" in names and all(d["since"] == "2026-09-10" for d in idle["devices"])
    rows = get(
        client, "/utilization", scope="school", id="s1", **{"from": "2026-09-10", "to": "2026-09-15"}, group_by="device"
    )["rows"]
    assert names == {r["key"].split("/")[1] for r in rows if r["in_use_s"] == 0}


def test_rooms_are_ranked_by_utilization(client):
    ranked = get(client, "/insights/rooms", **WEEK, limit=2)
    by_room = {r["key"]: r["utilization"] for r in get(client, "/utilization", **WEEK, group_by="room")["rows"]}
    top = [r["key"] for r in ranked["top"]]
    assert top == sorted(by_room, key=lambda k: -by_room[k])[:2]
    assert ranked["bottom"][0]["utilization"] == min(by_room.values())


def test_the_heatmap_adds_up_to_the_utilization(client):
    cells = get(client, "/insights/heatmap", **WEEK)["cells"]
    row = get(client, "/utilization", **WEEK)["rows"][0]
    assert sum(c["in_use_s"] for c in cells) == pytest.approx(row["in_use_s"])
    assert sum(c["available_s"] for c in cells) == pytest.approx(row["available_s"])
    assert {c["weekday"] for c in cells} == {1, 2, 3, 4, 5} and {c["hour"] for c in cells} == {8, 9, 14, 15}


def test_utilization_report_files_hold_the_api_figures(client):
    rows = get(client, "/utilization", **WEEK, group_by="device")["rows"]
    r = client.get(f"{API}/reports/utilization.xlsx", params={**WEEK, "group_by": "device"}, headers=AUTH)
    wb = load_workbook(io.BytesIO(r.content))
    sheet = wb["utilization"]
    header = [c.value for c in sheet[1]]
    got = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    assert [(g["key"], g["in_use_s"], g["utilization"]) for g in got] == [
        (x["key"], x["in_use_s"], x["utilization"]) for x in rows
    ]
    about = {row[0].value: row[1].value for row in wb["说明"].iter_rows()}
    assert about["scope"] == "school" and "in_use_s / available_s" in about["formula"]
    r = client.get(f"{API}/reports/utilization.csv", params={**WEEK, "group_by": "device"}, headers=AUTH)
    parsed = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(p["key"], float(p["known_s"])) for p in parsed] == [(x["key"], x["known_s"]) for x in rows]


@pytest.mark.parametrize(
    ("first", "last"), [("0001-01-01", "2026-01-01"), ("2026-01-01", "9999-12-31"), ("2026-02-30", "2026-03-01")]
)
@pytest.mark.parametrize("path", ["/utilization", "/insights/rooms", "/reports/utilization.csv"])
def test_dates_out_of_range_are_refused_with_the_reason(client, path, first, last):
    r = client.get(f"{API}{path}", params={**WEEK, "from": first, "to": last}, headers=AUTH)
    assert r.status_code == 422 and ("out of range" in r.json()["detail"] or "invalid" in r.json()["detail"])


@pytest.mark.parametrize("term", ["0000-1", "9999-2"])
def test_terms_out_of_range_are_refused(client, term):
    r = client.get(
        f"{API}/experiments/offering-rate", params={"scope": "school", "id": "s1", "term": term}, headers=AUTH
    )
    assert r.status_code == 404 and "2026-1" in r.json()["detail"]
