"""Experiment offering rate through the API against a hand-checked fixture, on SQLite and PostgreSQL.

School s1 (junior, two classes per grade) with the sample catalog, autumn term 2026 (`2026-1`):
required 必做 per class — grade 8: 8 分组 + 1 演示, grade 9: 4 分组 + 1 演示, grade 7: none —
so 24 分组 and 4 演示 class–experiment pairs. Done in the term: 8-1 P8-1-01, P8-1-02 (分组),
P8-1-05 (演示); 8-2 P8-1-01; 9-1 P9-1-01 (演示), P9-1-02. → 分组 4/24, 演示 2/4.
"""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campuspulse.server.app import create_app
from campuspulse.server.inventory.experiments import load_catalog_csv
from tests.support.campus import AUTH, TOKEN

CATALOG = Path(__file__).parents[2] / "config" / "experiments" / "sample-catalog.csv"
API = "/api/v1"
DONE = [
    ("8-1", "P8-1-01", "2026-09-10"),
    ("8-1", "P8-1-01", "2026-09-24"),  # twice: counts once
    ("8-1", "P8-1-02", "2026-09-17"),
    ("8-1", "P8-1-05", "2026-10-15"),
    ("8-1", "P8-1-10", "2026-11-02"),  # 选做
    ("8-2", "P8-1-01", "2026-09-11"),
    ("9-1", "P9-1-01", "2026-09-08"),
    ("9-1", "P9-1-02", "2026-10-20"),
    ("8-1", "P8-2-01", "2027-03-01"),  # spring term: not in this term
]


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        for item in load_catalog_csv(CATALOG):
            assert (
                c.put(f"{API}/experiments/catalog/{item.code}", json=item.model_dump(), headers=AUTH).status_code == 201
            )
        for school, parallel in (("s1", 2), ("s2", 1)):
            body = {"name": school, "district": "hd", "stage": "junior", "parallel_classes": parallel}
            assert c.put(f"{API}/schools/{school}", json=body, headers=AUTH).status_code == 201
        for class_, code, day in DONE:
            body = {"class": class_, "experiment": code, "date": day, "teacher": "王老师"}
            assert c.post(f"{API}/schools/s1/experiment-records", json=body, headers=AUTH).status_code == 201
        yield c
    app.state.engine.dispose()


def add_second_physics_edition(client) -> None:
    """A grade-8 physics experiment of another textbook edition: schools teaching grade 8 must name theirs."""
    other = {
        "code": "BS8-1-01",
        "name": "测量长度",
        "subject": "physics",
        "grade": 8,
        "term": 1,
        "edition": "北师大版",
        "type": "分组",
        "required": "必做",
    }
    assert client.put(f"{API}/experiments/catalog/BS8-1-01", json=other, headers=AUTH).status_code == 201


def rate(client, **query) -> dict:
    r = client.get(f"{API}/experiments/offering-rate", params={"term": "2026-1", **query}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def test_school_offering_rate_by_type_grade_and_class(client):
    got = rate(client, scope="school", id="s1")
    assert got["by_type"] == [
        {"type": "分组", "required": 24, "done": 4, "rate": round(4 / 24, 6)},
        {"type": "演示", "required": 4, "done": 2, "rate": 0.5},
    ]
    grades = {(r["type"], r["grade"]): (r["required"], r["done"]) for r in got["by_grade"]}
    assert grades == {("分组", 8): (16, 3), ("分组", 9): (8, 1), ("演示", 8): (2, 1), ("演示", 9): (2, 1)}
    classes = {(r["type"], r["class"]): (r["required"], r["done"]) for r in got["by_class"]}
    assert classes[("分组", "8-1")] == (8, 2) and classes[("分组", "8-2")] == (8, 1)
    assert classes[("演示", "9-2")] == (1, 0)
    assert got["classes"] == 6


def test_optional_experiments_count_only_when_asked(client):
    got = rate(client, scope="school", id="s1", include_optional=True)
    assert got["by_type"][1] == {"type": "演示", "required": 6, "done": 3, "rate": 0.5}


def test_the_spring_term_has_its_own_requirements(client):
    got = rate(client, scope="school", id="s1", term="2026-2")
    assert got["by_type"][0] == {"type": "分组", "required": 10, "done": 1, "rate": 0.1}  # 5 分组 × 2 classes
    assert got["term"]["from"] == "2027-02-01"


def test_district_rolls_up_classes_of_every_school(client):
    got = rate(client, scope="district", id="hd")
    schools = {(r["type"], r["school"]): (r["required"], r["done"]) for r in got["by_school"]}
    assert schools[("分组", "s1")] == (24, 4) and schools[("分组", "s2")] == (12, 0)
    assert got["by_type"][0] == {"type": "分组", "required": 36, "done": 4, "rate": round(4 / 36, 6)}
    assert "by_class" not in got


def test_a_school_must_name_its_edition_when_the_catalog_has_several(client):
    add_second_physics_edition(client)
    r = client.get(
        f"{API}/experiments/offering-rate", params={"term": "2026-1", "scope": "school", "id": "s1"}, headers=AUTH
    )
    assert r.status_code == 409 and "PUT /api/v1/schools/s1/editions" in r.json()["detail"]
    assert client.put(f"{API}/schools/s1/editions", json={"physics": "人教版"}, headers=AUTH).status_code == 200
    assert rate(client, scope="school", id="s1")["by_type"][0]["required"] == 24


def test_a_bad_term_says_what_is_expected(client):
    r = client.get(
        f"{API}/experiments/offering-rate", params={"term": "autumn", "scope": "school", "id": "s1"}, headers=AUTH
    )
    assert r.status_code == 404 and "2026-1" in r.json()["detail"]


def test_a_district_rate_lists_schools_without_an_edition_instead_of_failing(client):
    """Hand-computed: a second edition of grade-8 physics in the catalog; s1 names 人教版, s2 names none. The district
    answers (no 409): s2's physics is listed as missing an edition and left out; s1 counts as before (24 分组)."""
    add_second_physics_edition(client)
    assert client.put(f"{API}/schools/s1/editions", json={"physics": "人教版"}, headers=AUTH).status_code == 200
    got = rate(client, scope="district", id="hd")
    assert got["missing_editions"] == [{"school": "s2", "subject": "physics", "editions": ["人教版", "北师大版"]}]
    schools = {(r["type"], r["school"]): (r["required"], r["done"]) for r in got["by_school"]}
    assert schools[("分组", "s1")] == (24, 4) and ("分组", "s2") not in schools


def test_a_subject_outside_a_schools_stage_needs_no_edition(client):
    """A primary school (grades 1–6) is not asked for a physics edition though the catalog has two for grade 8."""
    add_second_physics_edition(client)
    body = {"name": "一小", "district": "cy", "stage": "primary", "parallel_classes": 2}
    assert client.put(f"{API}/schools/p1", json=body, headers=AUTH).status_code == 201
    got = rate(client, scope="school", id="p1")  # a school scope answers 409 when an edition is needed: not here
    assert got["missing_editions"] == [] and {r["subject"] for r in got["by_subject"]} == {"science"}


def test_classes_counted_grade_by_grade(client):
    """Grades of one school need not have as many classes each: 7 has 4, 8 has 3, 9 has 1. Required 分组:
    grade 8 3 × 8 + grade 9 1 × 4 = 28; 演示 3 × 1 + 1 × 1 = 4; done as before (4 and 2)."""
    body = {"name": "s1", "district": "hd", "stage": "junior", "classes_by_grade": {"7": 4, "8": 3, "9": 1}}
    r = client.put(f"{API}/schools/s1", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    school = client.get(f"{API}/schools/s1", headers=AUTH).json()
    assert (school["classes"], school["parallel_classes"], school["classes_by_grade"]) == (
        8,
        4,
        body["classes_by_grade"],
    )
    got = rate(client, scope="school", id="s1")
    assert [(t["type"], t["required"], t["done"]) for t in got["by_type"]] == [("分组", 28, 4), ("演示", 4, 2)]
    grades = {(r["type"], r["grade"]): (r["required"], r["done"]) for r in got["by_grade"]}
    assert grades[("分组", 8)] == (24, 3) and grades[("分组", 9)] == (4, 1)
    assert got["classes"] == 8 and not any(r["class"] == "9-2" for r in got["by_class"])


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"classes_by_grade": {"3": 2}}, "grade(s) 3 are not taught in 学段 junior"),
        ({"classes_by_grade": {"7": 2, "8": 2}, "classes": 5}, "classes is 5 but classes_by_grade adds up to 4"),
        ({"classes_by_grade": {"7": 2, "8": 3}, "parallel_classes": 2}, "the largest grade has 3"),
        ({"classes_by_grade": {"7": -1}}, "greater than or equal to 0"),
    ],
)
def test_classes_by_grade_that_do_not_fit_the_school_are_refused(client, change, says):
    body = {"name": "s1", "district": "hd", "stage": "junior", **change}
    r = client.put(f"{API}/schools/s1", json=body, headers=AUTH)
    assert r.status_code == 422 and says in r.text, r.text
