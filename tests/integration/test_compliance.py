"""Configuration compliance through the API against a hand-checked fixture, on SQLite and PostgreSQL.

School s1 (junior, 18 classes, 6 parallel, 850 students, classes of 45, two physics labs) against a
standard of four 基本 items (one 选配 and one consumable item do not count):
- A 学生电源 1/组: 23 groups → 23 required at 260 元; 20 完好 + 5 待修 → 20 held.
- B 演示电表 1/室(physics_lab): 2 required at 680 元; 2 held.
- E 实验桌 bands by classes (13–24 → 2), ×2 from 6 parallel classes: 4 required at 900 元; 4 held (+1 报废).
- F 挂图 13/50人: ceil(13 × 850 / 50) = 221 required at 1 元; none held.
R_item = 2/4; R_qty = (20+2+4)/(23+2+4+221) = 26/250; R_val = (5200+1360+3600)/(5980+1360+3600+221) = 10160/11161.
"""

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from campuspulse.server.app import create_app
from tests.support.campus import AUTH, TOKEN

API = "/api/v1"
STANDARD = {
    "name": "测试标准",
    "province": "北京",
    "stage": "junior",
    "subject": "physics",
    "valid_from": "2026-09-01",
    "threshold": 1.0,
    "items": [
        {"code": "A", "name": "学生电源", "unit": "台", "category": "基本", "rule": "1/组", "reference_price": "260"},
        {
            "code": "B",
            "name": "演示电表",
            "unit": "套",
            "category": "基本",
            "rule": "1/室(physics_lab)",
            "reference_price": "680",
        },
        {"code": "C", "name": "示波器", "unit": "台", "category": "选配", "rule": "1/校", "reference_price": "3500"},
        {
            "code": "D",
            "name": "小灯泡",
            "unit": "只",
            "category": "基本",
            "rule": "4/组",
            "reference_price": "1",
            "consumable": True,
        },
        {
            "code": "E",
            "name": "实验桌",
            "unit": "张",
            "category": "基本",
            "reference_price": "900",
            "rule": {
                "per": "school",
                "bands": [{"up_to_classes": 12, "n": 1}, {"up_to_classes": 24, "n": 2}, {"n": 3}],
                "double_from_parallel": 6,
            },
        },
        {"code": "F", "name": "挂图", "unit": "套", "category": "基本", "rule": "13/50人", "reference_price": "1"},
    ],
}
FACTS = {"district": "hd", "classes": 18, "parallel_classes": 6, "students": 850, "max_class_size": 45}


def item(code: str, quantity: int, value: str, status: str = "完好") -> dict:
    return {
        "catalog_code": code,
        "name": code,
        "quantity": quantity,
        "unit": "台",
        "unit_value": value,
        "status": status,
    }


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:

        def put(path: str, body: dict) -> None:
            r = c.put(f"{API}{path}", json=body, headers=AUTH)
            assert r.status_code in (200, 201), r.text

        put("/standards/T/1", STANDARD)
        put("/schools/s1", {"name": "一中", "stage": "junior", **FACTS})
        put("/schools/s2", {"name": "二中", "stage": "junior", **FACTS})
        put("/schools/s3", {"name": "一小", "stage": "primary", **FACTS})
        for school in ("s1", "s2"):
            for room in ("lab1", "lab2"):
                put(f"/schools/{school}/rooms/{room}", {"name": room, "type": "physics_lab"})
        for line, body in {
            "a1": item("A", 20, "260"),
            "a2": item("A", 5, "260", "待修"),
            "b": item("B", 2, "680"),
            "e1": item("E", 4, "900"),
            "e2": item("E", 1, "900", "报废"),
        }.items():
            put(f"/schools/s1/equipment/{line}", body)
        for code, n in {"A": 23, "B": 2, "E": 4, "F": 221}.items():
            put(f"/schools/s2/equipment/{code}", item(code, n, "1"))
        yield c
    app.state.engine.dispose()


def get(client, **query) -> dict:
    r = client.get(f"{API}/compliance", params={"standard": "T"} | query, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def test_school_rates_and_gaps_match_the_hand_computation(client):
    got = get(client, scope="school", id="s1")
    row = got["schools"][0]
    assert (row["r_item"], row["r_qty"], row["r_val"]) == (0.5, 0.104, round(10160 / 11161, 6))
    assert (row["items"], row["items_met"], row["compliant"]) == (4, 2, False)
    # the parts an auditor recomputes the rates from: units and exact 元
    assert (row["units_counted"], row["units_required"]) == (26, 250)
    assert (row["value_counted"], row["value_required"]) == ("10160.00", "11161.00")
    assert row["students"] == 850 and (row["r_item_reason"], row["r_qty_reason"], row["r_val_reason"]) == (None,) * 3
    assert [(g["code"], g["required"], g["have"], g["missing"], g["missing_value"]) for g in got["gaps"]] == [
        ("A", 23, 20, 3, "780.00"),
        ("F", 221, 0, 221, "221.00"),
    ]
    assert row["equipment_value"] == "11460.00" and row["per_student_value"] == "13.48"
    assert got["standard"] == {
        "code": "T",
        "version": "1",
        "name": "测试标准",
        "stage": "junior",
        "subject": "physics",
        "threshold": 1.0,
        "sample": False,
    }


def test_district_share_counts_only_schools_of_the_standards_stage(client):
    got = get(client, scope="district", id="hd")
    flags = {r["school"]: (r["applies"], r["compliant"]) for r in got["schools"]}
    assert flags == {"s1": (True, False), "s2": (True, True), "s3": (False, False)}
    assert got["summary"] == {"schools": 2, "compliant": 1, "compliance_rate": 0.5, "compliance_rate_reason": None}


def test_repairing_units_changes_the_figures(client):
    r = client.put(f"{API}/schools/s1/equipment/a2", json=item("A", 5, "260"), headers=AUTH)  # 待修 → 完好
    assert r.status_code == 200
    row = get(client, scope="school", id="s1")["schools"][0]
    assert (row["r_item"], row["r_qty"]) == (0.75, round(29 / 250, 6))


def test_an_unknown_standard_or_scope_is_a_clear_404(client):
    r = client.get(f"{API}/compliance", params={"standard": "NOPE", "scope": "school", "id": "s1"}, headers=AUTH)
    assert r.status_code == 404 and "no standard 'NOPE'" in r.json()["detail"]
    r = client.get(f"{API}/compliance", params={"standard": "T", "scope": "district", "id": "zz"}, headers=AUTH)
    assert r.status_code == 404


def test_the_compliance_workbook_holds_the_api_figures(client):
    api = get(client, scope="school", id="s1")
    r = client.get(
        f"{API}/reports/compliance.xlsx", params={"standard": "T", "scope": "school", "id": "s1"}, headers=AUTH
    )
    wb = load_workbook(io.BytesIO(r.content))
    header = [c.value for c in wb["schools"][1]]
    row = dict(zip(header, (c.value for c in wb["schools"][2]), strict=True))
    assert (row["r_item"], row["r_qty"], row["r_val"]) == tuple(
        api["schools"][0][k] for k in ("r_item", "r_qty", "r_val")
    )
    assert [c.value for c in wb["gaps"]["A"]][1:] == [g["code"] for g in api["gaps"]]
    about = {c[0].value: c[1].value for c in wb["说明"].iter_rows()}
    assert about["standard"] == "T 1 测试标准" and "R_item" in about["formula"]


def test_rates_at_the_edges_are_null_with_a_reason_never_1(client):
    """Hand-computed: a standard whose 基本 items are an unpriced one (1 per school) and one per physics lab with no
    minimum; s3 has no lab and no students. domain.md: a 0 denominator is null with the reason, and a missing
    reference price makes R_val null for every school."""
    lab_item = {"per": "room", "room_type": "physics_lab", "n": 1, "min_rooms": 0}
    edge = {
        **STANDARD,
        "name": "边界标准",
        "stage": "primary",
        "items": [
            {"code": "P", "name": "无价器材", "unit": "台", "category": "基本", "rule": "1/校"},
            {
                "code": "B",
                "name": "演示电表",
                "unit": "套",
                "category": "基本",
                "rule": lab_item,
                "reference_price": "680",
            },
        ],
    }
    labs_only = {**edge, "items": edge["items"][1:]}
    for code, body in (("EDGE", edge), ("LABS", labs_only)):
        assert client.put(f"{API}/standards/{code}/1", json=body, headers=AUTH).status_code == 201
    s3 = {"name": "一小", "stage": "primary", **FACTS, "students": 0}
    assert client.put(f"{API}/schools/s3", json=s3, headers=AUTH).status_code == 200
    client.put(f"{API}/schools/s3/equipment/p1", json=item("P", 1, "0"), headers=AUTH)

    row = get(client, standard="EDGE", scope="school", id="s3")["schools"][0]
    assert (row["r_item"], row["items_met"], row["items"]) == (1.0, 2, 2), "no lab: no unit of B is required"
    assert (row["r_qty"], row["units_counted"], row["units_required"]) == (1.0, 1, 1)
    assert row["r_val"] is None and row["r_val_reason"] == "reference prices missing for 1 基本 item(s): P"
    assert row["per_student_value"] is None and row["per_student_value_reason"] == "the school has no students"

    row = get(client, standard="LABS", scope="school", id="s3")["schools"][0]
    assert (row["r_item"], row["items"]) == (1.0, 1)
    assert (row["r_qty"], row["r_val"]) == (None, None), "nothing required: not 1.0"
    assert (
        row["r_qty_reason"] == row["r_val_reason"] == "the standard requires no unit of its 基本 items of this school"
    )

    juniors_elsewhere = get(client, scope="school", id="s3")["summary"]  # standard T is for junior schools
    assert juniors_elsewhere["compliance_rate"] is None
    assert "no school of 学段 junior" in juniors_elsewhere["compliance_rate_reason"]


def test_a_price_beyond_any_real_one_is_refused_with_the_limit(client):
    """Found by the API fuzz test: a reference price of 1e26 元 overflowed the 64-bit column (500)."""
    body = {**STANDARD, "items": [{**STANDARD["items"][0], "reference_price": 1e26}]}
    r = client.put(f"{API}/standards/HUGE/1", json=body, headers=AUTH)
    assert r.status_code == 422 and "reference_price" in r.text
    r = client.put(f"{API}/schools/s1/equipment/x", json=item("A", 1, "1e26"), headers=AUTH)
    assert r.status_code == 422 and "unit_value" in r.text


INJECTIONS = ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)"]


def test_names_users_enter_stay_text_in_every_export(client):
    """Formula injection: a school's name and an equipment line's name starting with = + - @ are text in the XLSX
    (never a formula cell) and neutralised with a leading ' in CSV."""
    for i, evil in enumerate(INJECTIONS):
        assert client.put(
            f"{API}/schools/s1/equipment/evil{i}", json=item("A", 1, "1") | {"name": evil}, headers=AUTH
        ).status_code in (200, 201)
    school = {"name": INJECTIONS[0], "stage": "junior", **FACTS}
    assert client.put(f"{API}/schools/s1", json=school, headers=AUTH).status_code == 200
    params = {"standard": "T", "scope": "school", "id": "s1"}
    ledger = load_workbook(io.BytesIO(client.get(f"{API}/schools/s1/equipment.xlsx", headers=AUTH).content))
    compliance_xlsx = client.get(f"{API}/reports/compliance.xlsx", params=params, headers=AUTH)
    for wb in (ledger, load_workbook(io.BytesIO(compliance_xlsx.content))):
        cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value in INJECTIONS]
        assert cells, "the names are in the workbook"
        assert all(c.data_type == "s" for c in cells), [(c.coordinate, c.data_type) for c in cells]
    csv_text = client.get(f"{API}/reports/compliance.csv", params=params, headers=AUTH).content.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text and ",=HYPERLINK" not in csv_text.replace('"', "")


def test_bands_by_parallel_classes_or_by_classes_as_the_standard_says(client):
    """School p (22 classes: 8 + 8 + 6, so 8 parallel). Rule P bands by parallel classes (≤ 4 → 1, ≤ 8 → 2, more
    → 3): 2 required; rule Q bands by classes (≤ 12 → 1, ≤ 24 → 5, more → 9): 5 required. Held: 2 P, 3 Q →
    R_item 1/2, R_qty 5/7."""
    bands_p = [{"up_to_parallel_classes": 4, "n": 1}, {"up_to_parallel_classes": 8, "n": 2}, {"n": 3}]
    bands_q = [{"up_to_classes": 12, "n": 1}, {"up_to_classes": 24, "n": 5}, {"n": 9}]
    std = {
        **STANDARD,
        "items": [
            {
                "code": "P",
                "name": "P",
                "unit": "台",
                "category": "基本",
                "reference_price": "1",
                "rule": {"per": "school", "bands": bands_p},
            },
            {
                "code": "Q",
                "name": "Q",
                "unit": "台",
                "category": "基本",
                "reference_price": "1",
                "rule": {"per": "school", "bands": bands_q},
            },
        ],
    }
    assert client.put(f"{API}/standards/BANDS/1", json=std, headers=AUTH).status_code == 201
    school = {"name": "p", "district": "hd", "stage": "junior", "classes_by_grade": {"7": 8, "8": 8, "9": 6}}
    assert client.put(f"{API}/schools/p", json=school, headers=AUTH).status_code == 201
    for code, n in (("P", 2), ("Q", 3)):
        assert client.put(f"{API}/schools/p/equipment/{code}", json=item(code, n, "1"), headers=AUTH).is_success
    r = client.get(f"{API}/compliance", params={"scope": "school", "id": "p", "standard": "BANDS"}, headers=AUTH)
    row = r.json()["schools"][0]
    assert (row["items_met"], row["items"], row["units_counted"], row["units_required"]) == (1, 2, 5, 7)
    assert {g["code"]: (g["required"], g["have"]) for g in r.json()["gaps"]} == {"Q": (5, 3)}

    mixed = {
        **std,
        "items": [{**std["items"][0], "rule": {"per": "school", "bands": [bands_p[0], bands_q[1], {"n": 3}]}}],
    }
    r = client.put(f"{API}/standards/BANDS/2", json=mixed, headers=AUTH)
    assert r.status_code == 422 and "all count classes (up_to_classes) or all parallel classes" in r.text
