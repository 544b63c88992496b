"""The experiment catalog and experiment records through the API, Excel included, on SQLite and PostgreSQL."""

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from campuspulse.server.app import create_app
from campuspulse.server.inventory.experiments import load_catalog_csv
from tests.support.campus import AUTH, TOKEN

CATALOG = Path(__file__).parents[2] / "config" / "experiments" / "sample-catalog.csv"
API = "/api/v1"
RECORDS = [
    {"class": "8-1", "experiment": "P8-1-01", "date": "2026-09-10", "teacher": "王老师", "evidence": "https://x/1.jpg"},
    {"class": "8-1", "experiment": "P8-1-05", "date": "2026-09-17", "teacher": "王老师"},
    {"class": "8-2", "experiment": "P8-1-01", "date": "2026-09-11", "teacher": "李老师"},
]


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        for item in load_catalog_csv(CATALOG):
            assert (
                c.put(f"{API}/experiments/catalog/{item.code}", json=item.model_dump(), headers=AUTH).status_code == 201
            )
        for school in ("s1", "s2"):
            body = {"name": school, "district": "hd", "stage": "junior"}
            assert c.put(f"{API}/schools/{school}", json=body, headers=AUTH).status_code == 201
        for r in RECORDS:
            assert c.post(f"{API}/schools/s1/experiment-records", json=r, headers=AUTH).status_code == 201
        yield c
    app.state.engine.dispose()


def records(client, school: str) -> list[tuple]:
    rows = client.get(f"{API}/schools/{school}/experiment-records", headers=AUTH).json()["records"]
    return [(r["class"], r["grade"], r["experiment"], r["date"], r["teacher"], r["evidence"]) for r in rows]


def upload(client, school: str, data: bytes):
    return client.post(
        f"{API}/schools/{school}/experiment-records/import", files={"file": ("r.xlsx", data)}, headers=AUTH
    )


def test_the_catalog_filters_by_grade_term_and_edition(client):
    r = client.get(f"{API}/experiments/catalog", params={"grade": 8, "term": 1, "edition": "人教版"}, headers=AUTH)
    got = r.json()["experiments"]
    assert len(got) == 10 and {e["type"] for e in got} == {"分组", "演示"}
    assert next(e for e in got if e["code"] == "P8-1-10")["required"] == "选做"


def test_a_record_must_fit_the_catalog(client):
    wrong_grade = {"class": "7-1", "experiment": "P8-1-01", "date": "2026-09-10", "teacher": "x"}
    r = client.post(f"{API}/schools/s1/experiment-records", json=wrong_grade, headers=AUTH)
    assert r.status_code == 409 and "grade 8 experiment" in r.json()["detail"]
    unknown = {**wrong_grade, "class": "8-1", "experiment": "NOPE"}
    assert client.post(f"{API}/schools/s1/experiment-records", json=unknown, headers=AUTH).status_code == 404
    bad_class = {**wrong_grade, "class": "八年级1班"}
    assert client.post(f"{API}/schools/s1/experiment-records", json=bad_class, headers=AUTH).status_code == 422


def test_records_round_trip_through_excel(client):
    data = client.get(f"{API}/schools/s1/experiment-records.xlsx", headers=AUTH).content
    assert upload(client, "s2", data).json()["added"] == 3
    assert records(client, "s2") == records(client, "s1")
    assert upload(client, "s1", data).json()["added"] == 0, "importing what is recorded already adds nothing"
    assert len(records(client, "s1")) == 3


def test_a_broken_records_sheet_adds_nothing_and_lists_each_problem(client):
    wb = Workbook()
    ws = wb.active
    ws.append(["班级", "实验编号", "日期", "教师", "佐证"])
    ws.append(["8-3", "P8-1-02", "2026-09-20", "赵老师", None])  # fine
    ws.append(["8-3", "P9-1-04", "2026-09-21", "赵老师", None])  # grade 9 experiment
    ws.append(["8班", "P8-1-02", "2026-09-22", "赵老师", None])  # class name
    ws.append(["8-3", "P8-1-03", "yesterday", None, None])  # date, teacher
    out = io.BytesIO()
    wb.save(out)
    r = upload(client, "s2", out.getvalue())
    assert r.status_code == 422
    assert {(p["row"], p["column"]) for p in r.json()["problems"]} == {
        (3, "experiment"),
        (4, "class"),
        (5, "date"),
        (5, "teacher"),
    }
    assert records(client, "s2") == []


def test_deleting_a_record_is_audited(client):
    rid = client.get(f"{API}/schools/s1/experiment-records", headers=AUTH).json()["records"][0]["id"]
    assert client.delete(f"{API}/schools/s1/experiment-records/{rid}", headers=AUTH).status_code == 204
    log = client.get(f"{API}/audit", params={"school": "s1", "limit": 1000}, headers=AUTH).json()["entries"]
    last = log[-1]
    assert (last["action"], last["entity"], last["old"]["experiment"]) == ("delete", "experiment_record", "P8-1-01")
