"""Compliance as of a day: equipment counts from its purchase, in the status it had that day, against the standard's
version in force that day — through the API and the exported file, on SQLite and PostgreSQL.

Standard T (junior), one 基本 item X at 100 元: version 1 (from 2026-09-01) asks 2/校, version 2 (from 2026-11-15)
asks 4/校. School s1's ledger, as it is today:
- e1: 2 × X 完好, bought 2026-11-20.
- e2: 2 × X, bought 2026-09-01, 完好 until it broke on 2026-11-10 (待修 since).
- e3: 1 × X 报废 since 2026-10-01 (bought 2026-09-01, 完好 before).
Hand-computed:
- 2026-10-31 (v1, req 2): e2 2 完好 → have 2 → R_item 1/1, R_qty 2/2; value 完好+待修 = e2 2×100 = 200 元
  (e3 written off, e1 not bought yet).
- 2026-11-12 (v1): e2 待修 → have 0 → R_item 0/1, R_qty 0/2; value 200 元.
- 2026-11-25 (v2, req 4): e1 2 完好 → have 2 → R_item 0/1, R_qty 2/4; value e1 + e2 = 400 元.
- 2026-09-20 (v1): as 2026-10-31 — e3's state before its first entry is its first entry (报废), the only one known.
"""

import csv
import io

import pytest
from fastapi.testclient import TestClient

from campuspulse.server.app import create_app
from tests.support.campus import AUTH, TOKEN

API = "/api/v1"


def standard(version_from: str, n: int) -> dict:
    return {
        "name": "测试标准",
        "province": "北京",
        "stage": "junior",
        "subject": "physics",
        "valid_from": version_from,
        "items": [
            {"code": "X", "name": "仪器", "unit": "台", "category": "基本", "rule": f"{n}/校", "reference_price": "100"}
        ],
    }


def line(quantity: int, status: str, bought: str, since: str | None = None) -> dict:
    body = {"catalog_code": "X", "name": "仪器", "quantity": quantity, "unit": "台", "unit_value": "100"}
    body |= {"status": status, "purchase_date": bought}
    return body | ({"status_since": since} if since else {})


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        for path, body in [
            ("/standards/T/1", standard("2026-09-01", 2)),
            ("/standards/T/2", standard("2026-11-15", 4)),
            ("/schools/s1", {"name": "一中", "district": "hd", "stage": "junior", "students": 100}),
            ("/schools/s1/equipment/e1", line(2, "完好", "2026-11-20")),
            ("/schools/s1/equipment/e2", line(2, "完好", "2026-09-01")),
            ("/schools/s1/equipment/e2", line(2, "待修", "2026-09-01", "2026-11-10")),
            ("/schools/s1/equipment/e3", line(1, "报废", "2026-09-01", "2026-10-01")),
        ]:
            r = c.put(f"{API}{path}", json=body, headers=AUTH)
            assert r.status_code in (200, 201), r.text
        yield c
    app.state.engine.dispose()


def on(client, day: str | None) -> dict:
    params = {"scope": "school", "id": "s1", "standard": "T"} | ({"as_of": day} if day else {})
    r = client.get(f"{API}/compliance", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    ("day", "version", "items_met", "units", "value"),
    [
        ("2026-09-20", "1", 1, (2, 2), "200.00"),
        ("2026-10-31", "1", 1, (2, 2), "200.00"),
        ("2026-11-12", "1", 0, (0, 2), "200.00"),
        ("2026-11-25", "2", 0, (2, 4), "400.00"),
    ],
)
def test_compliance_as_of_a_day_counts_what_was_bought_in_the_status_it_had(
    client, day, version, items_met, units, value
):
    got = on(client, day)
    row = got["schools"][0]
    assert (got["as_of"], got["standard"]["version"]) == (day, version)
    assert (row["items_met"], row["items"]) == (items_met, 1)
    assert (row["units_counted"], row["units_required"]) == units
    assert row["equipment_value"] == value
    assert row["per_student_value"] == f"{int(value.split('.')[0]) / 100:.2f}"


def test_today_is_the_default_and_the_ledger_keeps_each_lines_history(client):
    got = on(client, None)
    row = got["schools"][0]
    assert got["standard"]["version"] == "2" and (row["units_counted"], row["units_required"]) == (2, 4)
    e2 = client.get(f"{API}/schools/s1/equipment/e2", headers=AUTH).json()
    assert (e2["status"], e2["status_since"]) == ("待修", "2026-11-10")
    unchanged = client.put(f"{API}/schools/s1/equipment/e2", json=line(2, "待修", "2026-09-01"), headers=AUTH)
    assert unchanged.json()["status_since"] == "2026-11-10", "a PUT that changes nothing keeps the date"
    assert on(client, "2026-11-12")["schools"][0]["units_counted"] == 0

    assert client.delete(f"{API}/schools/s1/equipment/e1", headers=AUTH).status_code == 204
    assert on(client, "2026-11-25")["schools"][0]["units_counted"] == 2, "removed today: still held before today"
    assert on(client, None)["schools"][0]["units_counted"] == 0


def test_the_exported_file_is_taken_on_the_same_day(client):
    r = client.get(
        f"{API}/reports/compliance.csv",
        params={"scope": "school", "id": "s1", "standard": "T", "as_of": "2026-10-31"},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    school = next(r for r in rows if r.get("school") == "s1")
    assert (school["units_counted"], school["units_required"], school["equipment_value"]) == ("2", "2", "200.00")


def test_a_day_outside_the_supported_range_is_a_clear_422(client):
    r = client.get(
        f"{API}/compliance",
        params={"scope": "school", "id": "s1", "standard": "T", "as_of": "1969-12-31"},
        headers=AUTH,
    )
    assert r.status_code == 422 and "2000" in r.text


@pytest.mark.parametrize(
    ("first", "end", "version", "units"),
    [
        ("2026-10-01", "2026-11-01", "1", (2, 2)),
        ("2026-11-01", "2026-11-13", "1", (0, 2)),
        ("2026-11-16", "2026-11-26", "2", (2, 4)),
    ],
)
def test_the_commission_workbook_takes_compliance_on_its_periods_last_day(client, first, end, version, units):
    from tests.support.workbooks import Book

    params = {"scope": "school", "id": "s1", "from": first, "to": end}
    r = client.get(f"{API}/reports/commission.xlsx", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    row = Book(r.content).table("配备达标")[0]
    assert (row["version"].value, row["units_counted"].value, row["units_required"].value) == (version, *units)
