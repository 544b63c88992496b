"""Inventory CRUD, standards and the Excel ledger through the HTTP API, on SQLite and the real PostgreSQL."""

import io
import threading
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from campuspulse.server.app import create_app
from campuspulse.server.inventory.equipment_ledger import COLUMNS, SHEET
from campuspulse.server.inventory.excel import write_workbook
from campuspulse.server.inventory.standards import load_standard_file
from tests.support.campus import AUTH, TOKEN

STANDARDS = Path(__file__).parents[2] / "config" / "standards"
API = "/api/v1"
LEDGER = [
    (
        "e1",
        {
            "catalog_code": "JP-0102",
            "name": "托盘天平",
            "room": "lab1",
            "quantity": 25,
            "unit": "台",
            "unit_value": "180.00",
            "status": "完好",
            "purchase_date": "2024-03-01",
        },
    ),
    (
        "e2",
        {
            "catalog_code": "JP-0102",
            "name": "托盘天平",
            "room": "lab1",
            "quantity": 2,
            "unit": "台",
            "unit_value": "180.00",
            "status": "待修",
        },
    ),
    (
        "e3",
        {
            "catalog_code": "JP-0202",
            "name": "交互式智能黑板",
            "room": "lab2",
            "quantity": 1,
            "unit": "台",
            "unit_value": "18999.99",
            "status": "完好",
            "purchase_date": "2025-08-15",
        },
    ),
    (
        "e4",
        {
            "catalog_code": "JP-0401",
            "name": "数字存储示波器",
            "quantity": 1,
            "unit": "台",
            "unit_value": "0.10",
            "status": "报废",
        },
    ),
]


def put(client, path, body):
    r = client.put(f"{API}{path}", json=body, headers=AUTH)
    assert r.status_code in (200, 201), r.text
    return r


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        put(c, "/regions/bj", {"name": "北京市", "level": "city"})
        put(c, "/regions/hd", {"name": "海淀区", "level": "district", "parent": "bj"})
        for school in ("s1", "s2"):
            put(
                c,
                f"/schools/{school}",
                {"name": f"{school}中学", "district": "hd", "stage": "junior", "students": 1200},
            )
            for room, kind in (("lab1", "physics_lab"), ("lab2", "physics_lab")):
                put(c, f"/schools/{school}/rooms/{room}", {"name": room, "type": kind, "capacity": 50})
        for item, body in LEDGER:
            put(c, f"/schools/s1/equipment/{item}", body)
        yield c
    app.state.engine.dispose()


def ledger(client, school: str) -> list[dict]:
    r = client.get(f"{API}/schools/{school}/equipment", headers=AUTH)
    assert r.status_code == 200, r.text
    return [{k: v for k, v in item.items() if k != "school"} for item in r.json()["items"]]


def audit_size(client) -> int:
    return len(client.get(f"{API}/audit", params={"limit": 1000}, headers=AUTH).json()["entries"])


def upload(client, school: str, data: bytes, mode: str = "upsert"):
    files = {"file": ("ledger.xlsx", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    return client.post(f"{API}/schools/{school}/equipment/import", params={"mode": mode}, files=files, headers=AUTH)


def test_equipment_lines_keep_exact_values(client):
    items = {i["item"]: i for i in ledger(client, "s1")}
    assert items["e3"]["unit_value"] == "18999.99" and items["e4"]["unit_value"] == "0.10", "money is exact, in 元"
    assert items["e1"]["purchase_date"] == "2024-03-01" and items["e4"]["room"] is None
    assert items["e2"]["status"] == "待修"


def test_deleting_what_is_still_used_is_refused_with_the_reason(client):
    r = client.delete(f"{API}/schools/s1/rooms/lab1", headers=AUTH)
    assert r.status_code == 409 and "2 equipment items" in r.json()["detail"]
    r = client.delete(f"{API}/regions/hd", headers=AUTH)
    assert r.status_code == 409 and "2 schools" in r.json()["detail"]
    r = client.delete(f"{API}/schools/s1", headers=AUTH)
    assert r.status_code == 409 and "rooms" in r.json()["detail"]
    assert client.delete(f"{API}/schools/s1/equipment/e1", headers=AUTH).status_code == 204
    assert client.get(f"{API}/schools/s1/equipment/e1", headers=AUTH).status_code == 404


def test_an_item_in_an_unknown_room_is_refused(client):
    body = {**LEDGER[0][1], "room": "nowhere"}
    r = client.put(f"{API}/schools/s1/equipment/e9", json=body, headers=AUTH)
    assert r.status_code == 404 and "PUT /api/v1/schools/s1/rooms/nowhere" in r.json()["detail"]


def test_a_district_needs_an_existing_city(client):
    r = client.put(f"{API}/regions/x", json={"name": "x", "level": "district", "parent": "nowhere"}, headers=AUTH)
    assert r.status_code == 409


def test_excel_round_trip_gives_the_same_ledger(client):
    r = client.get(f"{API}/schools/s1/equipment.xlsx", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    r2 = upload(client, "s2", r.content)
    assert r2.status_code == 200, r2.text
    assert r2.json()["created"] == len(LEDGER)
    assert ledger(client, "s2") == ledger(client, "s1")
    before = audit_size(client)
    r3 = upload(client, "s1", r.content, mode="replace")
    assert r3.json() == {"school": "s1", "created": 0, "updated": len(LEDGER), "deleted": 0}
    assert audit_size(client) == before, "re-importing the same ledger changes nothing"


def test_replace_mode_deletes_lines_the_file_lacks(client):
    wb = load_workbook(io.BytesIO(client.get(f"{API}/schools/s1/equipment.xlsx", headers=AUTH).content))
    wb["台账"].delete_rows(3)  # e2
    out = io.BytesIO()
    wb.save(out)
    r = upload(client, "s1", out.getvalue(), mode="replace")
    assert r.json()["deleted"] == 1
    assert [i["item"] for i in ledger(client, "s1")] == ["e1", "e3", "e4"]


def broken_workbook() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append(["编号", "分类代码", "名称", "房间", "数量", "单位", "单价(元)", "状态", "购置日期"])
    ws.append(["n1", "JP-0101", "学生电源", "lab1", 25, "台", 260, "完好", "2024-01-05"])  # fine
    ws.append(["n2", "JP-0103", "弹簧测力计", "lab1", "two", "个", 15, "完好", None])  # quantity
    ws.append(["n3", "JP-0104", "电流表", "lab9", 25, "只", 45, "完好", None])  # room
    ws.append(["n4", "JP-0105", "电压表", None, 25, "只", 45, "坏了", None])  # status
    ws.append(["n1", "JP-0106", "滑动变阻器", None, 25, "只", 28, "完好", None])  # duplicate id
    ws.append(["n 6", "JP-0107", "光具座", None, 25, "套", -3, "完好", "soon"])  # id, value, date
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_a_broken_sheet_gets_a_per_row_report_and_writes_nothing(client):
    before_ledger, before_audit = ledger(client, "s2"), audit_size(client)
    r = upload(client, "s2", broken_workbook())
    assert r.status_code == 422, r.text
    problems = {(p["row"], p["column"]) for p in r.json()["problems"]}
    assert problems == {
        (3, "quantity"),
        (4, "room"),
        (5, "status"),
        (6, "item"),
        (7, "item"),
        (7, "unit_value"),
        (7, "purchase_date"),
    }
    messages = {(p["row"], p["column"]): p["message"] for p in r.json()["problems"]}
    assert "'two'" in messages[(3, "quantity")] and "already on row 2" in messages[(6, "item")]
    assert ledger(client, "s2") == before_ledger == []
    assert audit_size(client) == before_audit


def test_a_file_that_is_no_workbook_is_refused(client):
    r = upload(client, "s1", b"item,name\ne1,x\n")
    assert r.status_code == 422 and r.json()["problems"][0]["message"].startswith("not an .xlsx workbook")


def test_the_template_explains_every_column(client):
    r = client.get(f"{API}/templates/equipment.xlsx", headers=AUTH)
    wb = load_workbook(io.BytesIO(r.content))
    assert [c.value for c in wb["台账"][1]][:2] == ["编号 (item)", "分类代码 (catalog_code)"]
    assert wb["说明"].max_row >= 12


@pytest.mark.parametrize("name", ["sample-junior-physics.yaml", "sample-primary-science.yaml"])
def test_sample_standards_load_and_read_back(client, name):
    code, version, body = load_standard_file(STANDARDS / name)
    r = client.put(f"{API}/standards/{code}/{version}", json=body.model_dump(mode="json"), headers=AUTH)
    assert r.status_code == 201, r.text
    got = client.get(f"{API}/standards/{code}", headers=AUTH).json()
    assert got["sample"] is True and got["version"] == version
    assert [i["code"] for i in got["items"]] == sorted(i.code for i in body.items)
    r = client.put(f"{API}/standards/{code}/{version}", json=body.model_dump(mode="json"), headers=AUTH)
    assert r.status_code == 200


def test_only_admins_change_standards(client):
    body = {
        "username": "dm",
        "password": "long enough pw",
        "role": "district_manager",
        "scope_kind": "region",
        "scope_id": "hd",
    }
    assert client.post(f"{API}/users", json=body, headers=AUTH).status_code == 201
    token = client.post(f"{API}/auth/token", data={"username": "dm", "password": "long enough pw"}).json()
    code, version, std = load_standard_file(STANDARDS / "sample-junior-physics.yaml")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    r = client.put(f"{API}/standards/{code}/{version}", json=std.model_dump(mode="json"), headers=headers)
    assert r.status_code == 403


def test_a_long_equipment_import_commits_in_chunks_and_ingest_goes_on_between_them(store_url):
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from campuspulse.server.inventory import service
    from campuspulse.server.inventory.equipment_ledger import COLUMNS, SHEET, import_ledger
    from campuspulse.server.inventory.excel import write_workbook
    from campuspulse.store.db import open_store
    from campuspulse.store.ingest import TelemetryWriter
    from campuspulse.store.inventory_schema import EquipmentItem
    from campuspulse.telemetry import format_ts, parse_records_payload, parse_ts
    from campuspulse.telemetry.codec import dumps

    engine = open_store(store_url)
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        service.put_school(s, "s1", {"name": "S1", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
        service.put_agent(s, "a1", "s1")
        service.put_device(s, "s1", "pc1", {"agent": "a1", "room": "lab1", "kind": "pc"})
    line = {
        "catalog_code": "0101",
        "name": "天平",
        "quantity": 2,
        "unit": "台",
        "unit_value": "99.00",
        "status": "完好",
    }
    data = write_workbook(SHEET, COLUMNS, [{"item": f"i{i}", **line} for i in range(6000)], "")
    done = threading.Event()

    def run_import() -> None:
        with Session(engine) as s, s.begin():
            s.info["actor"] = "test"
            import_ledger(s, "s1", data, chunk=200)
        done.set()

    importer = threading.Thread(target=run_import)
    importer.start()
    writer, between, seq = TelemetryWriter(engine), 0, 0
    while not done.is_set():  # ingest for as long as the import runs
        with Session(engine) as s:
            visible = s.scalar(select(func.count()).select_from(EquipmentItem))
        ts = format_ts(parse_ts("2026-09-07T08:00:00+08:00") + seq * 1000)
        record = {"type": "state", "seq": seq, "ts": ts, "device": "pc1", "state": "in_use"}
        writer.ingest(parse_records_payload(dumps({"v": 1, "agent": "a1", "school": "s1", "records": [record]})), "t")
        seq += 1
        if visible > 0 and not done.is_set():
            between += 1  # stored after the import's first chunk was committed and before its last
        done.wait(0.01)
    importer.join()
    assert between >= 3, "ingest went on while the import wrote its chunks"
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(EquipmentItem)) == 6000
    engine.dispose()


@pytest.mark.postgres
def test_a_device_written_while_its_agent_is_deleted_on_another_replica_is_never_left_dangling(pg_template):
    """Two replicas: one deletes agent a1 (it watches no device yet), the other binds a new device to it at the
    same moment. Whichever commits second sees the other's work: no device of a deleted agent remains."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from campuspulse.server.errors import NotFound
    from campuspulse.server.inventory import service
    from campuspulse.store.db import make_engine
    from campuspulse.store.schema import Agent, Device
    from tests.support.scratch_db import create_database, drop_database

    name, url = create_database("cp_race", pg_template)
    engine = make_engine(url)
    try:
        with Session(engine) as s, s.begin():
            s.info["actor"] = "test"
            service.put_school(s, "s1", {"name": "S1", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
            service.put_agent(s, "a1", "s1")
        outcome: list[str] = []

        def bind_device() -> None:
            try:
                with Session(engine) as s, s.begin():
                    s.info["actor"] = "replica-b"
                    service.put_device(s, "s1", "pc1", {"agent": "a1", "room": "lab", "kind": "pc"})
                outcome.append("bound")
            except NotFound as exc:
                outcome.append(f"refused: {exc}")

        with Session(engine) as s, s.begin():
            s.info["actor"] = "replica-a"
            service.delete_agent(s, "a1")  # checked: no device; not committed yet
            other = threading.Thread(target=bind_device)
            other.start()
            other.join(1.0)
            assert other.is_alive(), "the other replica waits for the deletion to commit or roll back"
        other.join(10)
        assert outcome and outcome[0].startswith("refused") and "agent 'a1' does not exist" in outcome[0]
        with Session(engine) as s:
            assert s.get(Agent, "a1") is None and s.scalars(select(Device)).all() == []
    finally:
        engine.dispose()
        drop_database(name)


def _with_sheet_xml(data: bytes, sheet_xml: bytes) -> bytes:
    """The workbook `data` with its first worksheet's XML replaced."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, sheet_xml if info.filename == "xl/worksheets/sheet1.xml" else src.read(info))
    return out.getvalue()


def test_hostile_workbooks_are_422_with_the_reason_and_change_nothing(client):
    template = client.get(f"{API}/templates/equipment.xlsx", headers=AUTH).content
    before = ledger(client, "s1")
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&e;</t></is></c></row></sheetData></worksheet>'
    )
    bad_shared = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="s"><v>99999</v></c></row></sheetData></worksheet>'
    )
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:  # 300 MB of spaces in a few hundred KB
        z.writestr("xl/worksheets/sheet1.xml", b" " * (300 * 1024 * 1024))
    for data, says in (
        (_with_sheet_xml(template, xxe), "cannot be read"),
        (_with_sheet_xml(template, bad_shared), "cannot be read"),
        (bomb.getvalue(), "unpacks to 300 MB, more than 200 MB"),
    ):
        r = upload(client, "s1", data)
        assert r.status_code == 422 and says in r.text, r.text[:300]
        assert len(r.content) < 2000, "the answer echoes no more than an excerpt"
    assert ledger(client, "s1") == before


def test_ledger_cells_are_read_strictly_and_chinese_dates_are_dates(client):
    row = {"item": "n1", "catalog_code": "A", "name": "天平", "quantity": True, "unit": "台", "unit_value": 1}
    r = upload(client, "s1", write_workbook(SHEET, COLUMNS, [row], ""))
    assert r.status_code == 422 and "not TRUE/FALSE" in r.text
    for i, day in enumerate(("2026/11/20", "2026年11月20日", "2026-11-20")):
        row = {**row, "item": f"d{i}", "quantity": 1, "purchase_date": day}
        assert upload(client, "s1", write_workbook(SHEET, COLUMNS, [row], "")).status_code == 200, day
    dated = {i["item"]: i["purchase_date"] for i in ledger(client, "s1") if i["item"].startswith("d")}
    assert dated == {"d0": "2026-11-20", "d1": "2026-11-20", "d2": "2026-11-20"}


def test_devices_have_names_beside_their_codes(client):
    put(client, "/agents/a1", {"school": "s1"})
    body = {"agent": "a1", "room": "lab1", "kind": "oscilloscope", "name": "1 号示波器"}
    r = client.put(f"{API}/schools/s1/devices/osc1", json=body, headers=AUTH)
    assert r.status_code == 201 and r.json()["name"] == "1 号示波器", r.text
    got = client.get(f"{API}/schools/s1/devices/osc1", headers=AUTH).json()
    assert (got["device"], got["name"]) == ("osc1", "1 号示波器"), "the code stays the id"
    unnamed = client.put(f"{API}/schools/s1/devices/osc2", json={**body, "name": None}, headers=AUTH).json()
    assert unnamed["name"] is None
    assert client.put(f"{API}/schools/s1/devices/osc3", json={**body, "name": ""}, headers=AUTH).status_code == 422
