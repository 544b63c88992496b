"""The dashboard's management console through HTTP, as a browser sends its forms (SQLite and PostgreSQL): issuing
and downloading reports, the audit log and its verification, a ledger upload refused row by row then accepted,
dead letters — each within the user's scope and role."""

import hashlib
import io
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from campuspulse.demo.campus import local_now
from campuspulse.server.app import create_app
from tests.support.campus import AUTH, TOKEN
from tests.support.dashboard_campus import seed
from tests.support.pages import form_token, logged_in

API = "/api/v1"
SCHOOL = "hd-junior-01"


@pytest.fixture
def app(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    seed(app.state.engine, back=2)
    yield app
    app.state.engine.dispose()


def test_a_manager_issues_a_report_from_the_dashboard_and_downloads_it_as_issued(app):
    with logged_in(app, "hd-manager-2") as c, TestClient(app) as api:
        page = c.get("/ui/reports")
        assert page.status_code == 200 and 'id="issue-form"' in page.text
        targets = re.findall(r'<option value="([^"]+)">', page.text)
        assert "district:haidian" in targets and "city:" not in targets, "only the scopes the manager may read"
        assert not any(t.startswith("school:cy-") for t in targets)
        last = local_now().date() - timedelta(days=1)
        form = {"target": "district:haidian", "from": (last - timedelta(days=6)).isoformat(), "until": last.isoformat()}
        r = c.post("/ui/reports", data={**form, "csrf": form_token(page.text)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/reports?done=issued"
        issued = api.get(f"{API}/reports/issued", headers=AUTH).json()["reports"]
        assert [(x["scope"], x["scope_id"], x["from"], x["to"], x["issued_by"]) for x in issued] == [
            ("district", "haidian", form["from"], local_now().date().isoformat(), "hd-manager-2")
        ]
        listed = c.get("/ui/reports?done=issued")
        assert "报告已签发" in listed.text and f'href="/ui/reports/issued/{issued[0]["id"]}"' in listed.text
        f = c.get(f"/ui/reports/issued/{issued[0]['id']}")
        assert f.status_code == 200 and hashlib.sha256(f.content).hexdigest() == issued[0]["sha256"]

        bad = c.post("/ui/reports", data={**form, "target": "city:", "csrf": form_token(page.text)})
        assert bad.status_code == 403, "a district manager issues nothing for the city"
        backwards = {**form, "from": form["until"], "until": form["from"], "csrf": form_token(page.text)}
        assert c.post("/ui/reports", data=backwards).status_code == 422
        assert c.post("/ui/reports", data={**form, "csrf": "forged"}).status_code == 403
    with logged_in(app, "cy-auditor") as other:
        assert 'id="issue-form"' not in other.get("/ui/reports").text
        assert other.get(f"/ui/reports/issued/{issued[0]['id']}").status_code == 403
        assert other.post("/ui/reports", data={**form, "csrf": "x"}).status_code == 403


def test_the_audit_log_shows_its_scope_and_verifies_for_auditors(app):
    with logged_in(app, "auditor-2") as c:
        page = c.get("/ui/audit", params={"verify": 1})
        assert page.status_code == 200 and "审计链完好" in page.text
        assert len(re.findall(r'<tr data-seq="', page.text)) == 100
        older = re.search(r'href="/ui/audit\?(before=\d+)"', page.text)
        assert older, "a page of 100 entries links to the older ones"
        assert c.get(f"/ui/audit?{older.group(1)}").status_code == 200
    with logged_in(app, "cy-auditor") as c:
        shown = c.get("/ui/audit").text
        schools = set(re.findall(r"<td>((?:hd|cy)-[a-z]+-\d+)</td>", shown))
        assert schools and all(s.startswith("cy-") for s in schools), schools
    with logged_in(app, "jr-teacher") as c:
        assert c.get("/ui/audit").status_code == 403
        assert c.get("/ui/reports").status_code == 403
        assert c.get("/ui/dead-letters").status_code == 403
    with logged_in(app, "hd-manager-2") as c:
        assert 'id="verify"' not in c.get("/ui/audit").text, "the chain is verified by admins and auditors"


def _ledger(app) -> bytes:
    with TestClient(app) as api:
        return api.get(f"{API}/schools/{SCHOOL}/equipment.xlsx", headers=AUTH).content


def _rows(content: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(content))["台账"].iter_rows(values_only=True))


def _edited(content: bytes, changes: dict[tuple[int, str], object]) -> bytes:
    wb = load_workbook(io.BytesIO(content))
    ws = wb["台账"]
    header = [str(c.value) for c in ws[1]]
    for (row, key), value in changes.items():
        column = next(i for i, h in enumerate(header, start=1) if h.endswith(f"({key})"))
        ws.cell(row=row, column=column, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_a_ledger_upload_lists_every_bad_row_in_the_page_and_writes_nothing_until_it_is_right(app):
    before = _ledger(app)
    with logged_in(app, "junior-manager") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/ledger")
        assert page.status_code == 200 and 'id="ledger-form"' in page.text
        lines = int(re.search(r'id="line-count">(\d+)<', page.text).group(1))
        bad = _edited(before, {(2, "quantity"): -3, (4, "status"): "坏了", (5, "purchase_date"): "2026-13-40"})
        files = {"file": ("台账.xlsx", bad, "application/octet-stream")}
        r = c.post(f"/ui/schools/{SCHOOL}/ledger", data={"csrf": form_token(page.text), "mode": "upsert"}, files=files)
        assert r.status_code == 422 and "3 处问题，未导入任何一行" in r.text
        flagged = re.findall(r'<tr data-row="(\d+)" data-column="([a-z_]+)">', r.text)
        assert sorted(flagged) == [("2", "quantity"), ("4", "status"), ("5", "purchase_date")]
        assert "数量" in r.text and "状态" in r.text, "columns are named as the workbook names them"
        assert _rows(_ledger(app)) == _rows(before), "nothing of the refused file was written"
        assert f'id="line-count">{lines}<' in r.text

        good = _edited(before, {(2, "quantity"): 77})
        files = {"file": ("台账.xlsx", good, "application/octet-stream")}
        ok = c.post(f"/ui/schools/{SCHOOL}/ledger", data={"csrf": form_token(page.text), "mode": "upsert"}, files=files)
        assert ok.status_code == 200 and "已导入：新增 0 行" in ok.text, ok.text[-600:]
        changed = load_workbook(io.BytesIO(_ledger(app)))["台账"]
        header = [str(x.value) for x in changed[1]]
        assert changed.cell(row=2, column=header.index("数量 (quantity)") + 1).value == 77
        junk = {"file": ("x.xlsx", b"not a workbook", "application/octet-stream")}
        refused = c.post(f"/ui/schools/{SCHOOL}/ledger", data={"csrf": form_token(page.text)}, files=junk)
        assert refused.status_code == 422
        assert c.post(f"/ui/schools/{SCHOOL}/ledger", data={"csrf": "forged"}, files=files).status_code == 403
        assert c.get("/ui/schools/cy-junior-03/ledger").status_code == 403
    with logged_in(app, "auditor-2") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/ledger")
        assert page.status_code == 200 and 'id="ledger-form"' not in page.text
        assert c.get(f"/ui/schools/{SCHOOL}/equipment.xlsx").content[:2] == b"PK"
        refused = c.post(f"/ui/schools/{SCHOOL}/ledger", data={"csrf": form_token(page.text)}, files=files)
        assert refused.status_code == 403


def test_dead_letters_show_with_their_reason_within_scope(app):
    with TestClient(app) as api:
        body = b'{"v":1,"agent":"hd-junior-01-x","school":"hd-junior-01","records":[{"type":"state","seq":"x"}]}'
        api.post(f"{API}/ingest/records", content=body, headers={**AUTH, "Content-Type": "application/json"})
        letters = api.get(f"{API}/dead-letters", headers=AUTH).json()["dead_letters"]
    assert letters and letters[0]["school"] == SCHOOL, "the bad record became a dead letter of its school"
    with logged_in(app, "hd-manager-2") as c:
        page = c.get("/ui/dead-letters")
        assert page.status_code == 200 and f'<tr data-id="{letters[0]["id"]}">' in page.text
    with logged_in(app, "cy-auditor") as c:
        assert f'<tr data-id="{letters[0]["id"]}">' not in c.get("/ui/dead-letters").text


def test_a_table_export_takes_only_a_logged_in_pages_post_and_refuses_junk(app):
    with logged_in(app, "auditor-2") as c:
        csrf = form_token(c.get("/ui/manage").text)
        table = '{"header": ["学校", "使用率", "日期"], "rows": [["一中", "45.3%", "2026-11-30"], ["二中", "—", ""]]}'
        r = c.post("/ui/table.xlsx", data={"csrf": csrf, "table": table, "file": "排名/../x", "title": "排名"})
        assert r.status_code == 200 and r.headers["content-disposition"] == 'attachment; filename="x.xlsx"'
        ws = load_workbook(io.BytesIO(r.content)).worksheets[1]
        assert [c.value for c in ws[2]][:2] == ["一中", 0.453] and ws["B2"].number_format == "0.0%"
        assert ws["B3"].value is None
        for junk in ("not json", "[1, 2]", '{"header": 3, "rows": []}', '{"rows": []}'):
            assert c.post("/ui/table.xlsx", data={"csrf": csrf, "table": junk}).status_code == 422, junk
        assert c.post("/ui/table.xlsx", data={"csrf": "forged", "table": table}).status_code == 403
    with TestClient(app) as stranger:
        r = stranger.post("/ui/table.xlsx", data={"table": table}, follow_redirects=False)
        assert r.status_code in (303, 401) and "xlsx" not in r.headers.get("content-type", "")


def test_a_manager_names_rooms_and_devices_and_the_pages_and_api_use_the_names(app):
    with TestClient(app) as api:
        devices = api.get(f"{API}/schools/{SCHOOL}/devices", headers=AUTH).json()["devices"]
    device, room = devices[0]["device"], devices[0]["room"]
    with logged_in(app, "junior-manager") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/names")
        assert page.status_code == 200 and f'name="device:{device}"' in page.text
        form = {
            "csrf": form_token(page.text),
            f"room:{room}": "  物理实验室（东楼）  ",
            f"device:{device}": "东楼 1 号示波器",
        }
        r = c.post(f"/ui/schools/{SCHOOL}/names", data=form, follow_redirects=False)
        assert r.status_code == 303
        school_page = c.get(f"/ui/schools/{SCHOOL}").text
        assert "东楼 1 号示波器" in school_page and "物理实验室（东楼）" in school_page
        cleared = c.post(f"/ui/schools/{SCHOOL}/names", data={**form, f"device:{device}": "", f"room:{room}": ""})
        assert cleared.status_code == 200
        too_long = c.post(f"/ui/schools/{SCHOOL}/names", data={**form, f"device:{device}": "名" * 201})
        assert too_long.status_code == 422 and "名称不超过 200 个字符" in too_long.text
        forged = c.post(f"/ui/schools/{SCHOOL}/names", data={**form, "csrf": "forged"})
        assert forged.status_code == 403
    with TestClient(app) as api:
        after = {d["device"]: d for d in api.get(f"{API}/schools/{SCHOOL}/devices", headers=AUTH).json()["devices"]}
        rooms = {r["room"]: r for r in api.get(f"{API}/schools/{SCHOOL}/rooms", headers=AUTH).json()["rooms"]}
    assert after[device]["name"] is None, "an empty device name clears it"
    assert rooms[room]["name"] == "物理实验室（东楼）", "a room keeps its name when the field is left empty"
    with logged_in(app, "auditor-2") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/names")
        assert page.status_code == 200 and 'name="device:' not in page.text
        assert c.post(f"/ui/schools/{SCHOOL}/names", data={"csrf": form_token(page.text)}).status_code == 403


def test_names_round_trip_through_excel_all_or_nothing(app):
    with logged_in(app, "junior-manager") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/names")
        csrf = form_token(page.text)
        content = c.get(f"/ui/schools/{SCHOOL}/names.xlsx").content
        wb = load_workbook(io.BytesIO(content))
        ws = wb["名称"]
        header = [str(x.value) for x in ws[1]]
        col = {k: header.index(h) + 1 for k in ("what", "code", "name") for h in header if h.endswith(f"({k})")}
        rows = list(ws.iter_rows(min_row=2, values_only=True))
        device_row = next(i for i, r in enumerate(rows, start=2) if r[col["what"] - 1] == "设备")
        device = ws.cell(row=device_row, column=col["code"]).value
        ws.cell(row=device_row, column=col["name"], value="讲台电脑")
        ws.cell(row=2, column=col["name"]).value = None  # a room without a name
        ws.cell(row=3, column=col["code"], value="no-such-room")
        bad = io.BytesIO()
        wb.save(bad)
        r = c.post(f"/ui/schools/{SCHOOL}/names.xlsx", data={"csrf": csrf}, files={"file": ("n.xlsx", bad.getvalue())})
        assert r.status_code == 422
        flagged = re.findall(r'<tr data-row="(\d+)" data-column="([a-z_]+)">', r.text)
        assert sorted(flagged) == [("2", "name"), ("3", "code")]
        assert "不是本校的房间" in r.text and "必填" in r.text
        with TestClient(app) as api:
            before = {
                d["device"]: d["name"]
                for d in api.get(f"{API}/schools/{SCHOOL}/devices", headers=AUTH).json()["devices"]
            }
        assert before[device] != "讲台电脑", "nothing was written"

        fixed = load_workbook(io.BytesIO(content))
        fixed["名称"].cell(row=device_row, column=col["name"], value="讲台电脑")
        good = io.BytesIO()
        fixed.save(good)
        ok = c.post(
            f"/ui/schools/{SCHOOL}/names.xlsx",
            data={"csrf": csrf},
            files={"file": ("n.xlsx", good.getvalue())},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        with TestClient(app) as api:
            after = {
                d["device"]: d["name"]
                for d in api.get(f"{API}/schools/{SCHOOL}/devices", headers=AUTH).json()["devices"]
            }
        assert after[device] == "讲台电脑"


def test_agents_are_registered_from_the_page_and_a_config_needs_the_broker_named(app, tmp_path):
    with logged_in(app, "junior-manager") as c:
        page = c.get("/ui/agents")
        assert page.status_code == 200 and "cy-junior-03" not in page.text, "only the agents of one's scope"
        csrf = form_token(page.text)
        r = c.post("/ui/agents", data={"csrf": csrf, "agent": "lab-pc-99", "school": SCHOOL}, follow_redirects=False)
        assert r.status_code == 303
        assert 'data-agent="lab-pc-99"' in c.get("/ui/agents").text
        assert c.post("/ui/agents", data={"csrf": csrf, "agent": "bad id!", "school": SCHOOL}).status_code == 422
        assert c.post("/ui/agents", data={"csrf": csrf, "agent": "x", "school": "cy-junior-03"}).status_code == 403
        unset = c.post("/ui/agents/lab-pc-99/config", data={"csrf": csrf})
        assert unset.status_code == 409 and "server.agent_broker" in unset.text
    with logged_in(app, "jr-teacher") as c:
        assert c.get("/ui/agents").status_code == 403


def test_a_district_manager_adds_and_changes_schools_and_the_problems_read_in_chinese(app):
    with logged_in(app, "hd-manager-2") as c:
        page = c.get("/ui/manage/schools")
        assert page.status_code == 200 and 'data-school="hd-junior-01"' in page.text
        assert 'data-school="cy-junior-03"' not in page.text
        districts = re.findall(r'<select name="district">(.*?)</select>', page.text, re.S)[0]
        assert 'value="haidian"' in districts and 'value="chaoyang"' not in districts
        csrf = form_token(page.text)
        new = {
            "csrf": csrf,
            "code": "hd-junior-09",
            "name": "海淀九中",
            "district": "haidian",
            "stage": "junior",
            "students": "900",
            "max_class_size": "45",
            "grade_7": "6",
            "grade_8": "6",
            "grade_9": "5",
            "grade_3": "9",
        }
        r = c.post("/ui/manage/schools", data=new, follow_redirects=False)
        assert r.status_code == 303, r.text
        with TestClient(app) as api:
            made = next(
                s for s in api.get(f"{API}/schools", headers=AUTH).json()["schools"] if s["code"] == "hd-junior-09"
            )
        assert (made["classes"], made["parallel_classes"], made["classes_by_grade"]) == (
            17,
            6,
            {"7": 6, "8": 6, "9": 5},
        )
        bad = c.post("/ui/manage/schools", data={**new, "students": "很多", "name": ""})
        assert bad.status_code == 422 and "学生数: 应为整数" in bad.text and "校名: 不能为空" in bad.text
        assert 'value="很多"' in bad.text, "what was typed stays on the form"
        moved = c.post("/ui/manage/schools", data={**new, "district": "chaoyang"})
        assert moved.status_code == 403, "a school is put only in one's own districts"
        assert c.post("/ui/manage/schools", data={**new, "code": "bad code!"}).status_code == 422
        assert c.post("/ui/manage/schools", data={**new, "csrf": "forged"}).status_code == 403
    with logged_in(app, "junior-manager") as c:
        page = c.get("/ui/manage/schools/hd-junior-01")
        assert page.status_code == 200 and 'id="school-form"' not in page.text
        assert c.get("/ui/manage/schools/cy-junior-03").status_code == 403
        refused = c.post("/ui/manage/schools", data={**new, "csrf": form_token(page.text)})
        assert refused.status_code == 403


def test_a_manager_sets_the_calendar_and_sees_the_teaching_days_month_by_month(app):
    from pathlib import Path

    from campuspulse.server.inventory.calendar_files import load_calendar_file

    sample = load_calendar_file(Path(__file__).parents[2] / "config" / "calendars" / "beijing-2026-27.yaml")
    with TestClient(app) as api:
        for code, body in sample.calendars.items():
            api.put(f"{API}/calendars/{code}", json=body.model_dump(mode="json"), headers=AUTH)
        for code, body in sample.schedules.items():
            api.put(f"{API}/schedules/{code}", json=body.model_dump(mode="json"), headers=AUTH)
    with logged_in(app, "junior-manager") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/calendar", params={"month": "2026-10"})
        assert page.status_code == 200 and 'id="timetable-form"' in page.text
        form = {"csrf": form_token(page.text), "calendar": "beijing-2026-27", "schedule": "bj-junior-45"}
        r = c.post(f"/ui/schools/{SCHOOL}/calendar", data=form, follow_redirects=False)
        assert r.status_code == 303 and "done=saved" in r.headers["location"]
        october = c.get(f"/ui/schools/{SCHOOL}/calendar", params={"month": "2026-10"}).text
        with TestClient(app) as api:
            days = api.get(
                f"{API}/schools/{SCHOOL}/calendar", params={"from": "2026-10-01", "to": "2026-10-31"}, headers=AUTH
            ).json()["days"]
        shown = re.findall(r'<td data-day="(2026-10-\d\d)" class="teaching"', october)
        assert shown == [d["date"] for d in days] and "2026-10-01" not in shown, "National Day is no teaching day"
        assert f"计 {len(days)} 个教学日" in october
        assert 'href="?month=2026-09"' in october and 'href="?month=2026-11"' in october
        unknown = c.post(f"/ui/schools/{SCHOOL}/calendar", data={**form, "calendar": "nope"})
        assert unknown.status_code == 422 and "没有这个校历或作息表" in unknown.text
        assert c.get(f"/ui/schools/{SCHOOL}/calendar", params={"month": "garbage"}).status_code == 200
        refused = c.post(
            f"/ui/schools/{SCHOOL}/calendar/import",
            data={"csrf": form_token(october), "calendar": "beijing-2026-27"},
            files={"file": ("x.csv", b"date,kind\n2026-10-12,holiday\n")},
        )
        assert refused.status_code == 403, "calendars are shared: only admins change them"
    with TestClient(app) as api:
        body = {"username": "root", "password": "a long admin password", "role": "admin", "scope_kind": "all"}
        assert api.post(f"{API}/users", json=body, headers=AUTH).status_code == 201
    with logged_in(app, "root", "a long admin password") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/calendar", params={"month": "2026-10"})
        assert 'id="calendar-import"' in page.text
        sent = {"csrf": form_token(page.text), "calendar": "beijing-2026-27"}
        bad = c.post(
            f"/ui/schools/{SCHOOL}/calendar/import", data=sent, files={"file": ("x.csv", b"date,kind\n2026-10-32,x\n")}
        )
        assert bad.status_code == 422 and "文件未导入" in bad.text
        ok = c.post(
            f"/ui/schools/{SCHOOL}/calendar/import",
            data=sent,
            files={"file": ("运动会.csv", "date,kind,name\n2026-10-12,休,运动会\n".encode())},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and "done=imported" in ok.headers["location"]
        october = c.get(f"/ui/schools/{SCHOOL}/calendar", params={"month": "2026-10"}).text
        assert '<td data-day="2026-10-12" class="off"' in october, "the sports day is no teaching day any more"
    with logged_in(app, "auditor-2") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/calendar")
        assert page.status_code == 200 and 'id="timetable-form"' not in page.text
        assert c.post(f"/ui/schools/{SCHOOL}/calendar", data={**form, "csrf": form_token(page.text)}).status_code == 403


def test_a_manager_adds_a_room_and_a_device_watched_by_an_agent_of_the_school(app):
    with TestClient(app) as api:
        agent = next(a["id"] for a in api.get(f"{API}/agents", headers=AUTH).json()["agents"] if a["school"] == SCHOOL)
        other = next(a["id"] for a in api.get(f"{API}/agents", headers=AUTH).json()["agents"] if a["school"] != SCHOOL)
    with logged_in(app, "junior-manager") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/names")
        csrf = form_token(page.text)
        room = {"csrf": csrf, "room": "physics-lab-9", "name": "物理实验室 9", "type": "physics_lab"}
        assert c.post(f"/ui/schools/{SCHOOL}/rooms", data=room, follow_redirects=False).status_code == 303
        device = {"csrf": csrf, "device": "physics-lab-9-projector", "kind": "projector", "room": "physics-lab-9"}
        device |= {"agent": agent, "name": "9 号投影仪"}
        assert c.post(f"/ui/schools/{SCHOOL}/devices", data=device, follow_redirects=False).status_code == 303
        wrong = c.post(f"/ui/schools/{SCHOOL}/devices", data={**device, "agent": other})
        assert wrong.status_code == 422 and "belongs to school" in wrong.text
        assert c.post(f"/ui/schools/{SCHOOL}/rooms", data={**room, "room": "bad room"}).status_code == 422
        assert c.post(f"/ui/schools/{SCHOOL}/rooms", data={**room, "name": ""}).status_code == 422
        assert c.post(f"/ui/schools/{SCHOOL}/devices", data={**device, "csrf": "x"}).status_code == 403
    with TestClient(app) as api:
        made = api.get(f"{API}/schools/{SCHOOL}/devices/physics-lab-9-projector", headers=AUTH).json()
    assert (made["room"], made["agent"], made["kind"], made["name"]) == (
        "physics-lab-9",
        agent,
        "projector",
        "9 号投影仪",
    )


def test_kind_names_are_the_citys_named_by_admins_in_the_api_the_page_and_excel(app):
    with TestClient(app) as api:
        assert api.put(f"{API}/device-kinds/projector", json={"name_zh": "投影机"}, headers=AUTH).status_code == 201
        listed = {k["kind"]: k for k in api.get(f"{API}/device-kinds", headers=AUTH).json()["kinds"]}
        assert listed["projector"] == {
            "kind": "projector",
            "name_zh": "投影机",
            "name_en": "projector",
            "named_here": True,
        }
        assert listed["oscilloscope"]["named_here"] is False and listed["oscilloscope"]["name_zh"] == "示波器"
        body = {"username": "root", "password": "a long admin password", "role": "admin", "scope_kind": "all"}
        assert api.post(f"{API}/users", json=body, headers=AUTH).status_code == 201
    with logged_in(app, "junior-manager") as c:
        school_page = c.get(f"/ui/schools/{SCHOOL}").text
        assert "投影机" in school_page and "投影仪" not in school_page, "every page says the city's name"
        page = c.get(f"/ui/schools/{SCHOOL}/names")
        assert 'id="kind-names"' not in page.text, "kind names are the city's: not a school manager's"
        refused = c.post("/ui/device-kinds", data={"csrf": form_token(page.text), "school": SCHOOL, "zh:pc": "电脑 X"})
        assert refused.status_code == 403
        content = c.get(f"/ui/schools/{SCHOOL}/names.xlsx").content
        wb = load_workbook(io.BytesIO(content))
        ws = wb["名称"]
        header = [str(x.value) for x in ws[1]]
        col = {k: header.index(h) + 1 for k in ("what", "code", "name") for h in header if h.endswith(f"({k})")}
        kind_row = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=col["what"]).value == "设备类型")
        ws.cell(row=kind_row, column=col["name"], value="别的名字")
        changed = io.BytesIO()
        wb.save(changed)
        up = {"file": ("n.xlsx", changed.getvalue())}
        r = c.post(f"/ui/schools/{SCHOOL}/names.xlsx", data={"csrf": form_token(page.text)}, files=up)
        assert r.status_code == 422 and "只有管理员可以修改" in r.text
        same = {"file": ("n.xlsx", content)}
        assert (
            c.post(
                f"/ui/schools/{SCHOOL}/names.xlsx",
                data={"csrf": form_token(page.text)},
                files=same,
                follow_redirects=False,
            ).status_code
            == 303
        ), "an untouched export goes back in"
    with logged_in(app, "root", "a long admin password") as c:
        page = c.get(f"/ui/schools/{SCHOOL}/names")
        assert 'id="kind-names"' in page.text
        form = {
            "csrf": form_token(page.text),
            "school": SCHOOL,
            "zh:oscilloscope": "数字示波器",
            "en:oscilloscope": "DSO",
        }
        assert c.post("/ui/device-kinds", data=form, follow_redirects=False).status_code == 303
    with TestClient(app) as api:
        listed = {k["kind"]: k for k in api.get(f"{API}/device-kinds", headers=AUTH).json()["kinds"]}
        assert (listed["oscilloscope"]["name_zh"], listed["oscilloscope"]["name_en"]) == ("数字示波器", "DSO")
        assert api.delete(f"{API}/device-kinds/projector", headers=AUTH).status_code == 204
        again = {k["kind"]: k for k in api.get(f"{API}/device-kinds", headers=AUTH).json()["kinds"]}
        assert again["projector"]["name_zh"] == "投影仪", "the built-in name shows again"
        entries = api.get(f"{API}/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]
        assert {e["actor"] for e in entries if e["entity"] == "device_kind"} >= {"root"}
