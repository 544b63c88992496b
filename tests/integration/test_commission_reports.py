"""Commission reports: the workbook holds the API's figures; issued reports keep their hash, enter the audit log,
stay within scope, and are issued monthly by the scheduler's job. On SQLite and PostgreSQL."""

import hashlib
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from campuspulse.demo.campus import local_now
from campuspulse.server.app import create_app
from campuspulse.server.reports.issuing import issue_monthly
from campuspulse.store.report_schema import IssuedReport
from tests.support.campus import AUTH, TOKEN
from tests.support.dashboard_campus import PASSWORD, seed
from tests.support.workbooks import CJK, Book

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


def close(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and abs(a - b) < 1e-9)


def check_rates(book: Book, sheet: str, rows: list[dict], keys: tuple[str, ...]) -> None:
    """Each rate is a formula over its row's parts, shown as a percentage, whose cached value Excel would compute."""
    for row in rows:
        for k in keys:
            cell = row[k]
            assert cell.formula, (sheet, cell.ref, "a rate is written as a formula")
            assert cell.number_format == "0.0%", (sheet, cell.ref)
            computed = book.evaluate(sheet, cell.formula)
            assert close(computed, cell.value) or abs(computed - cell.value) <= 1e-6, (sheet, cell.ref, cell.formula)


def test_the_workbook_is_an_auditors_with_the_figures_of_the_api(client):
    q = {"scope": "district", "id": "haidian", **span()}
    r = client.get(f"{API}/reports/commission.xlsx", params=q, headers=AUTH)
    assert r.status_code == 200, r.text
    assert 'filename="campuspulse-commission-district-haidian-' in r.headers["content-disposition"]
    book = Book(r.content)
    for name in ("使用率", "配备达标", "达标率", "实验开出率", "实验开出率_年级", "字段", "公式", "说明"):
        assert name in book.formulas.sheetnames
    for name in ("使用率", "配备达标", "达标率", "实验开出率", "实验开出率_年级"):
        assert all(CJK.search(h) for h in book.headers(name)), (name, book.headers(name))
        assert book.formulas[name].freeze_panes == "A2" and book.formulas[name].auto_filter.ref
        widths = [d.width for d in book.formulas[name].column_dimensions.values()]
        assert widths and all(w >= 8 for w in widths), name
    about = book.about()
    last = date.fromisoformat(q["to"]) - timedelta(days=1)
    assert (about["scope"], about["id"]) == ("区", "haidian")
    assert about["from"].date() == date.fromisoformat(q["from"]) and about["until"].date() == last
    assert "SAMPLE-JUNIOR-PHYSICS 2026.1" in about["standards"] and "示例标准" in about["standards"]

    total = get(client, "/utilization", scope="district", id="haidian", **span())
    assert about["coverage"] == total["coverage"]
    expected = get(client, "/utilization", scope="district", id="haidian", group_by="school", **span())["rows"]
    schools = {s["code"]: s["name"] for s in get(client, "/schools")["schools"]}
    rows = book.table("使用率")
    assert [row["key"].value for row in rows] == [e["key"] for e in expected] + ["haidian"]
    assert rows[-1]["name"].value == "合计" and book.formulas["使用率"][rows[-1]["name"].ref].font.b
    for row, e in zip(rows, [*expected, total["rows"][0]], strict=True):
        if row["name"].value != "合计":
            assert row["name"].value == schools[e["key"]]
        for k in ("utilization", "utilization_known", "coverage"):
            assert row[k].value == ("" if e[k] is None else e[k]), (e["key"], k)
        for k in ("sessions", "devices_used", "used_periods", "devices"):
            assert row[k].value == e[k] and isinstance(row[k].value, int), (e["key"], k)
        assert row["available_s"].value == pytest.approx(e["available_s"] / 3600)
        assert row["available_s"].number_format == "#,##0.00"
    check_rates(book, "使用率", rows, ("utilization", "utilization_known", "coverage"))

    district = [s for s in get(client, "/schools")["schools"] if s["district"] == "haidian"]
    for standard in ("SAMPLE-JUNIOR-PHYSICS", "SAMPLE-PRIMARY-SCIENCE"):
        api = get(client, "/compliance", scope="district", id="haidian", standard=standard, as_of=last.isoformat())
        got = [row for row in book.table("配备达标") if row["standard"].value == standard]
        applying = [a for a in api["schools"] if a["applies"]]
        assert len(applying) < len(district) or standard == "SAMPLE-JUNIOR-PHYSICS"
        assert [g["school"].value for g in got] == [a["school"] for a in applying], (
            "only schools the standard applies to"
        )
        regions = {r["code"]: r["name"] for r in get(client, "/regions")["regions"]}
        for g, a in zip(got, applying, strict=True):
            assert g["district"].value == regions[a["district"]], "the district by its name"
            assert (
                g["name"].value == a["name"]
                and g["compliant"].value == {True: "是", False: "否", None: None}[a["compliant"]]
            )
            for k in ("r_item", "r_qty", "r_val"):
                assert g[k].value == ("" if a[k] is None else a[k]) or (a[k] is None and g[k].value is None), k
            for k in ("value_counted", "value_required", "equipment_value"):
                assert g[k].value == pytest.approx(float(a[k])) and g[k].number_format == "#,##0.00", k
        check_rates(book, "配备达标", [g for g in got if g["r_item"].formula], ("r_item",))
        rate = next(row for row in book.table("达标率") if row["standard"].value == standard)
        assert (rate["compliant"].value, rate["schools"].value) == (
            api["summary"]["compliant"],
            api["summary"]["schools"],
        )
        if api["summary"]["compliance_rate"] is not None:
            assert rate["compliance_rate"].value == api["summary"]["compliance_rate"]
            check_rates(book, "达标率", [rate], ("compliance_rate",))

    term = about["term"]
    offered = get(client, "/experiments/offering-rate", scope="district", id="haidian", term=term)
    by_school = book.table("实验开出率")
    assert [(o["type"].value, o["school"].value, o["done"].value, o["required"].value) for o in by_school] == [
        (o["type"], o["school"], o["done"], o["required"]) for o in offered["by_school"]
    ] + [(o["type"], "合计", o["done"], o["required"]) for o in offered["by_type"]]
    assert all(o["school_name"].value == schools[o["school"].value] for o in by_school[: len(offered["by_school"])])
    check_rates(book, "实验开出率", by_school, ("rate",))
    assert {row[0] for row in book.values["公式"].iter_rows(min_row=2, values_only=True)} >= {
        "使用率",
        "配备达标率",
        "实验开出率",
    }


def test_a_schools_workbook_totals_its_gaps_and_lists_its_classes(client):
    school = next(s for s in get(client, "/schools")["schools"] if s["stage"] == "junior")
    r = client.get(
        f"{API}/reports/commission.xlsx", params={"scope": "school", "id": school["code"], **span()}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    book = Book(r.content)
    last = (date.fromisoformat(span()["to"]) - timedelta(days=1)).isoformat()
    api = get(client, "/compliance", scope="school", id=school["code"], standard="SAMPLE-JUNIOR-PHYSICS", as_of=last)
    gaps = book.table("配备缺口")
    assert [g["code"].value for g in gaps[:-1]] == [g["code"] for g in api["gaps"]]
    total = gaps[-1]
    assert total["name"].value == "合计" and total["missing_value"].formula.startswith("=SUM(")
    assert total["missing_value"].value == pytest.approx(sum(float(g["missing_value"]) for g in api["gaps"]))
    assert book.evaluate("配备缺口", total["missing_value"].formula) == pytest.approx(total["missing_value"].value)
    rooms = book.table("使用率")
    assert all("/" in row["key"].value and row["name"].value for row in rooms[:-1]), "rooms by code and name"
    classes = book.table("实验开出率_班级")
    assert classes and all(c["class"].value for c in classes[:-2])
    check_rates(book, "实验开出率_班级", classes, ("rate",))


def test_issued_reports_keep_their_hash_enter_the_audit_log_and_stay_in_scope(client):
    manager = login(client, "hd-manager-2")
    body = {"scope": "district", "id": "haidian", **span()}
    r = client.post(f"{API}/reports/issued", json=body, headers=manager)
    assert r.status_code == 201, r.text
    issued = r.json()
    f = client.get(f"{API}/reports/issued/{issued['id']}", headers=manager)
    assert f.status_code == 200
    assert hashlib.sha256(f.content).hexdigest() == issued["sha256"] == f.headers["x-content-sha256"]
    assert Book(f.content).about()["id"] == "haidian"
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
