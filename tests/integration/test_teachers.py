"""The teacher role: one school, experiment records only (and undoing only its own), on SQLite and PostgreSQL;
the record page in the dashboard, driven through HTTP as a browser without scripts would."""

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from campuspulse.demo.campus import local_now
from campuspulse.server.app import create_app
from campuspulse.server.metrics.service import term_of
from tests.support.campus import AUTH, TOKEN
from tests.support.dashboard_campus import PASSWORD, seed
from tests.support.pages import form_token

API = "/api/v1"
SCHOOL = "hd-junior-01"


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    seed(app.state.engine, back=2)
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def login(client, user: str, password: str = PASSWORD) -> dict:
    r = client.post(f"{API}/auth/token", data={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def an_experiment(client, grade: int = 8) -> str:
    term = int(term_of(local_now().date().isoformat())[-1])
    catalog = client.get(f"{API}/experiments/catalog", params={"grade": grade, "term": term}, headers=AUTH).json()
    return catalog["experiments"][0]["code"]


def record(client, headers: dict, school: str = SCHOOL, **body) -> object:
    today = local_now().date().isoformat()
    body = {"class": "8-1", "experiment": an_experiment(client), "date": today, "teacher": "王老师", **body}
    return client.post(f"{API}/schools/{school}/experiment-records", json=body, headers=headers)


def test_a_teacher_records_experiments_of_their_school_and_nothing_else(client):
    teacher = login(client, "jr-teacher")
    me = client.get(f"{API}/auth/me", headers=teacher).json()
    assert (me["role"], me["scope_kind"], me["scope_id"]) == ("teacher", "school", SCHOOL)
    r = record(client, teacher)
    assert r.status_code == 201, r.text
    assert r.json()["recorded_by"] == "jr-teacher"
    other = record(client, teacher, school="hd-primary-02")
    assert other.status_code == 403 and "teaches at school" in other.json()["detail"]

    refused = [
        client.put(f"{API}/schools/{SCHOOL}/rooms/lab-x", json={"name": "x", "type": "lab"}, headers=teacher),
        client.post(
            f"{API}/reports/issued",
            json={"scope": "school", "id": SCHOOL, "from": "2026-11-01", "to": "2026-11-02"},
            headers=teacher,
        ),
        client.post(f"{API}/ingest/records", content=b"{}", headers=teacher),
        client.put(f"{API}/schools/{SCHOOL}/editions", json={"physics": "x"}, headers=teacher),
        client.post(
            f"{API}/schools/{SCHOOL}/experiment-records/import",
            files={"file": ("r.xlsx", b"PK", "application/octet-stream")},
            headers=teacher,
        ),
    ]
    assert [x.status_code for x in refused] == [403] * len(refused), [x.text for x in refused]
    assert client.get(f"{API}/schools/{SCHOOL}/experiment-records", headers=teacher).status_code == 200
    assert client.get(f"{API}/schools/hd-primary-02/experiment-records", headers=teacher).status_code == 403


def test_a_teacher_undoes_only_their_own_records(client):
    teacher, manager = login(client, "jr-teacher"), login(client, "hd-manager-2")
    mine = record(client, teacher, **{"class": "8-2"}).json()
    theirs = record(client, manager, **{"class": "8-3"}).json()
    assert theirs["recorded_by"] == "hd-manager-2"
    r = client.delete(f"{API}/schools/{SCHOOL}/experiment-records/{theirs['id']}", headers=teacher)
    assert r.status_code == 403 and "entered by another" in r.json()["detail"]
    assert client.delete(f"{API}/schools/{SCHOOL}/experiment-records/{mine['id']}", headers=teacher).status_code == 204
    assert (
        client.delete(f"{API}/schools/{SCHOOL}/experiment-records/{theirs['id']}", headers=manager).status_code == 204
    )


def test_managers_sign_up_teachers_of_their_own_schools_only(client):
    manager = login(client, "junior-manager")  # a school manager of hd-junior-01
    body = {"username": "li-laoshi", "role": "teacher", "scope_kind": "school", "scope_id": SCHOOL}
    r = client.post(f"{API}/users", json={**body, "password": "a long enough password"}, headers=manager)
    assert r.status_code == 201, r.text
    elsewhere = {**body, "username": "x-laoshi", "scope_id": "hd-primary-02", "password": "a long enough password"}
    assert client.post(f"{API}/users", json=elsewhere, headers=manager).status_code == 403
    manager_again = {**body, "username": "y", "role": "school_manager", "password": "a long enough password"}
    assert client.post(f"{API}/users", json=manager_again, headers=manager).status_code == 403
    district = login(client, "hd-manager-2")
    other = {**body, "username": "z-laoshi", "scope_id": "hd-primary-02", "password": "a long enough password"}
    assert client.post(f"{API}/users", json=other, headers=district).status_code == 201
    wide = {
        **body,
        "username": "w",
        "scope_kind": "region",
        "scope_id": "haidian",
        "password": "a long enough password",
    }
    refused = client.post(f"{API}/users", json=wide, headers=AUTH)
    assert refused.status_code == 409 and "teacher takes a scope of kind school" in refused.json()["detail"]


def test_the_record_page_adds_a_record_the_offering_rate_counts(client):
    csrf = form_token(client.get("/ui/login").text)
    r = client.post(
        "/ui/login", data={"username": "jr-teacher", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    home = client.get("/ui/", follow_redirects=False)
    assert home.headers["location"] == "/ui/teach"
    first = client.get("/ui/teach").text
    assert "<tr data-code=" in first, "the page opens on a class that has experiments this term"
    page = client.get("/ui/teach", params={"class": "8-2"})
    assert page.status_code == 200 and "8-2 班本学期进度" in page.text
    term = term_of(local_now().date().isoformat())
    before = client.get(
        f"{API}/experiments/offering-rate", params={"scope": "school", "id": SCHOOL, "term": term}, headers=AUTH
    ).json()["by_class"]
    todo = re.findall(r'<tr data-code="([^"]+)"><td>', page.text)  # required experiments not done yet
    assert todo, "the class has a required experiment still to do"
    form = {"class": "8-2", "experiment": todo[0], "day": local_now().date().isoformat(), "teacher": "王老师"}
    sent = client.post("/ui/teach", data={**form, "csrf": form_token(page.text)}, follow_redirects=False)
    assert sent.status_code == 303 and "done=added" in sent.headers["location"]
    after = client.get(
        f"{API}/experiments/offering-rate", params={"scope": "school", "id": SCHOOL, "term": term}, headers=AUTH
    ).json()["by_class"]
    done = {(row["type"], row["class"]): row["done"] for row in before}
    assert sum(row["done"] for row in after if row["class"] == "8-2") == 1 + sum(
        n for (_, c), n in done.items() if c == "8-2"
    )

    again = client.get("/ui/teach", params={"class": "8-2"})
    future = (local_now().date() + timedelta(days=2)).isoformat()
    wrong = client.post("/ui/teach", data={**form, "day": future, "csrf": form_token(again.text)})
    assert wrong.status_code == 422 and "日期须在一年内且不晚于今天" in wrong.text
    assert f'value="{future}"' in wrong.text, "what was typed stays on the form"
    stale = client.post("/ui/teach", data={**form, "csrf": "not-the-token"})
    assert stale.status_code == 403
    names = {s["code"]: s["name"] for s in client.get(f"{API}/schools", headers=AUTH).json()["schools"]}
    elsewhere = client.get("/ui/teach", params={"school": "hd-primary-02"})  # a teacher's page is their school's
    assert elsewhere.status_code == 200 and names[SCHOOL] in elsewhere.text
    assert names["hd-primary-02"] not in elsewhere.text
