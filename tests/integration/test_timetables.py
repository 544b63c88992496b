"""Calendars, schedules and timetables through the API: they compile into the days the figures use."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campuspulse.server.app import create_app
from campuspulse.server.inventory.calendar_files import load_calendar_file
from tests.support.campus import AUTH, TOKEN, payload

SAMPLE = Path(__file__).parents[2] / "config" / "calendars" / "beijing-2026-27.yaml"
API = "/api/v1"


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        f = load_calendar_file(SAMPLE)
        for code, body in f.calendars.items():
            assert c.put(f"{API}/calendars/{code}", json=body.model_dump(mode="json"), headers=AUTH).status_code == 201
        for code, body in f.schedules.items():
            assert c.put(f"{API}/schedules/{code}", json=body.model_dump(mode="json"), headers=AUTH).status_code == 201
        r = c.put(f"{API}/schools/s1", json={"name": "一中", "district": "hd", "stage": "junior"}, headers=AUTH)
        assert r.status_code == 201
        yield c
    app.state.engine.dispose()


def days(client, first: str, last: str) -> dict[str, list]:
    r = client.get(f"{API}/schools/s1/calendar", params={"from": first, "to": last}, headers=AUTH)
    assert r.status_code == 200, r.text
    return {d["date"]: d["periods"] for d in r.json()["days"]}


def timetable(client, schedule: str = "bj-junior-45") -> dict:
    body = {"calendar": "beijing-2026-27", "schedule": schedule}
    r = client.put(f"{API}/schools/s1/timetable", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_timetable_writes_the_school_year(client):
    manual = client.put(f"{API}/schools/s1/calendar/2027-08-20", json={"periods": [["09:00", "10:00"]]}, headers=AUTH)
    assert manual.status_code == 201
    assert timetable(client)["teaching_days"] == 190
    autumn = days(client, "2026-09-01", "2026-10-12")
    assert "2026-10-01" not in autumn and "2026-09-25" not in autumn, "holidays are no teaching days"
    assert len(autumn["2026-09-20"]) == 7, "Sunday make-up day taught on Thursday's schedule"
    assert len(autumn["2026-10-10"]) == 6, "Saturday make-up day taught on Friday's schedule"
    assert "2027-08-20" in days(client, "2027-08-20", "2027-08-20"), "days outside the calendar are left alone"


def test_changing_the_schedule_recompiles_the_schools_that_follow_it(client):
    timetable(client, "bj-primary-40")
    assert days(client, "2026-09-07", "2026-09-07")["2026-09-07"][0] == ["08:00", "08:40"]
    body = client.get(f"{API}/schedules/bj-primary-40", headers=AUTH).json()
    body.pop("code")
    body["weekdays"] = {"mon-fri": [["08:10", "08:50"]]}
    r = client.put(f"{API}/schedules/bj-primary-40", json=body, headers=AUTH)
    assert r.json()["schools_recompiled"] == 1
    assert days(client, "2026-09-07", "2026-09-07")["2026-09-07"] == [["08:10", "08:50"]]


def test_an_imported_holiday_removes_teaching_days_and_the_figures_follow(client):
    timetable(client)
    client.put(f"{API}/agents/a1", json={"school": "s1"}, headers=AUTH)
    client.put(f"{API}/schools/s1/devices/pc1", json={"agent": "a1", "room": "lab1", "kind": "lab_pc"}, headers=AUTH)
    state = {
        "type": "state",
        "seq": 0,
        "ts": "2026-11-16T08:00:00+08:00",
        "device": "pc1",
        "state": "in_use",
        "valid_s": 180,
    }
    client.post(f"{API}/ingest/records", json=payload([state]), headers=AUTH)
    query = {"scope": "school", "id": "s1", "from": "2026-11-16", "to": "2026-11-17"}
    before = client.get(f"{API}/utilization", params=query, headers=AUTH).json()["rows"][0]
    assert before["available_s"] == 7 * 45 * 60 and before["in_use_s"] == 180
    csv = "date,kind,name\n2026-11-16,休,运动会\n".encode()
    r = client.post(f"{API}/calendars/beijing-2026-27/import", files={"file": ("extra.csv", csv)}, headers=AUTH)
    assert r.status_code == 200 and r.json()["schools_recompiled"] == 1, r.text
    after = client.get(f"{API}/utilization", params=query, headers=AUTH).json()["rows"][0]
    assert after["available_s"] == 0 and after["in_use_s"] == 0


def test_a_bad_calendar_file_changes_nothing(client):
    timetable(client)
    before = days(client, "2026-09-01", "2027-07-02")
    bad = "date,kind\n2026-11-16,休\n2026-11-31,休\n".encode()
    r = client.post(f"{API}/calendars/beijing-2026-27/import", files={"file": ("x.csv", bad)}, headers=AUTH)
    assert r.status_code == 422 and r.json()["problems"][0]["row"] == 3
    r = client.post(
        f"{API}/calendars/beijing-2026-27/import", files={"file": ("x.ics", b"not a calendar")}, headers=AUTH
    )
    assert r.status_code == 422
    for broken, says in (
        (b"\r0", "header must have"),  # found by the API fuzz test: was a 500
        (b"date,kind,name\n2026-11-16,holiday," + b"x" * 200_000 + b"\n", "line 2: not readable as CSV (field larger"),
        (b"date,kind\n2026-11-16,\x00\n", "expected (got '\\x00')"),
        (b'date,kind\n"2026-11-16\r,x', "date"),
    ):
        r = client.post(f"{API}/calendars/beijing-2026-27/import", files={"file": ("x.csv", broken)}, headers=AUTH)
        assert r.status_code == 422, (broken, r.text)
        assert says in " ".join(f"line {p['row']}: {p['message']} {p['column']}" for p in r.json()["problems"])
    assert days(client, "2026-09-01", "2027-07-02") == before


def test_timetables_need_an_existing_calendar_and_schedule(client):
    r = client.put(f"{API}/schools/s1/timetable", json={"calendar": "nope", "schedule": "bj-junior-45"}, headers=AUTH)
    assert r.status_code == 404 and "no calendar 'nope'" in r.json()["detail"]
