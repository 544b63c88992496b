"""The dashboard in a real browser: each view's numbers against the API, drill-down, scopes, live refresh."""

import io
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import text

from campuspulse.demo.campus import local_now
from campuspulse.server.web.charts import percent
from campuspulse.telemetry import format_ts
from tests.browser.conftest import Site, log_in, shoot

SCHOOL, OTHER = "hd-junior-01", "cy-junior-03"
DEVICE = "physics-lab-1-lab-pc"


def card(page: Page, figure: str) -> str:
    return page.locator(f'.card[data-figure="{figure}"] .value').inner_text().strip()


def period(page: Page) -> dict[str, str]:
    """The page's period as the API takes it (the form's end date is inclusive, the API's `to` exclusive)."""
    until = date.fromisoformat(page.input_value("form.period input[name=until]"))
    return {"from": page.input_value("form.period input[name=from]"), "to": (until + timedelta(days=1)).isoformat()}


def get(site: Site, path: str, **params: object) -> dict:
    r = site.api.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_school_manager_sees_its_school_with_the_api_figures(page: Page, site: Site):
    log_in(page, site, "junior-manager")
    expect(page).to_have_url(re.compile(f"/ui/schools/{SCHOOL}$"))
    span = period(page)
    total = get(site, "/utilization", scope="school", id=SCHOOL, **span)["rows"][0]
    assert card(page, "utilization") == percent(total["utilization"])
    assert card(page, "coverage") == percent(total["coverage"])
    assert card(page, "devices_used") == f"{total['devices_used']} / {total['devices']}"
    assert card(page, "sessions") == str(total["sessions"])
    for r in get(site, "/utilization", scope="school", id=SCHOOL, group_by="device", **span)["rows"]:
        cell = page.locator(f'#devices tr[data-device="{r["key"].split("/")[1]}"] td[data-col="utilization"]')
        assert cell.inner_text().strip() == percent(r["utilization"])
    rooms = get(site, "/utilization", scope="school", id=SCHOOL, group_by="room", **span)["rows"]
    assert page.locator("#heatmap g[data-row]").count() >= len(rooms) * 5  # every room, every school day
    offering = get(site, "/experiments/offering-rate", scope="school", id=SCHOOL, term=_term(page))
    for r in offering["by_class"]:
        cell = page.locator(f'#by-class tr[data-class="{r["class"]}"] td[data-type="{r["type"]}"]')
        assert cell.inner_text().strip() == f"{r['done']} / {r['required']}"
    shoot(page, "school")

    page.click(f'#devices a:text-is("{DEVICE}")')
    expect(page).to_have_url(re.compile(f"/devices/{DEVICE}$"))
    day = _last_school_day()
    page.fill("input[name=day]", day)
    page.click("form.period button[type=submit]")
    expect(page).to_have_url(re.compile(f"day={day}"))
    end = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    line = get(site, f"/schools/{SCHOOL}/devices/{DEVICE}/timeline", **{"from": day, "to": end})
    assert page.locator("#timeline rect.piece").count() == len(line["pieces"])
    for state, seconds in line["seconds"].items():
        legend = page.locator(f'ul.legend li[data-state="{state}"] .num').inner_text()
        assert legend == f"{seconds / 3600:.1f} h"
    figures = get(site, "/utilization", scope="device", id=f"{SCHOOL}/{DEVICE}", **{"from": day, "to": end})
    assert card(page, "utilization") == percent(figures["rows"][0]["utilization"])
    shoot(page, "device")

    for path in (f"/ui/schools/{OTHER}", "/ui/region", "/ui/region/chaoyang", f"/ui/schools/{OTHER}/devices/x"):
        answer = page.goto(f"{site.url}{path}")
        assert answer is not None and answer.status == 403, path
        expect(page.locator("p.error")).to_be_visible()


def test_auditor_drills_down_from_the_city_to_a_school(page: Page, site: Site):
    log_in(page, site, "auditor-2")
    expect(page).to_have_url(re.compile("/ui/region$"))
    page.goto(f"{site.url}/ui/region?{past()}")  # days that have ended: the figures stand still while compared
    span = period(page)
    districts = get(site, "/utilization", scope="city", group_by="district", **span)["rows"]
    assert page.locator("#ranking tbody tr").count() == len(districts) == 2
    for r in districts:
        cell = page.locator(f'#ranking tr[data-key="{r["key"]}"] td[data-col="utilization"]')
        assert cell.inner_text().strip() == percent(r["utilization"])
    ranked = [float(t.strip("%")) for t in page.locator('#ranking td[data-col="utilization"]').all_inner_texts()]
    assert ranked == sorted(ranked, reverse=True)
    schools = {}
    for std in get(site, "/standards")["standards"]:
        for r in get(site, "/compliance", scope="city", standard=std["code"])["schools"]:
            if r["applies"]:
                schools.setdefault(r["district"], []).append(r["compliant"])
    for district, flags in schools.items():
        cell = page.locator(f'#ranking tr[data-key="{district}"] td[data-col="compliance_rate"]')
        assert cell.inner_text().strip() == percent(sum(flags) / len(flags))
    shoot(page, "city")

    page.click('#ranking a:text-is("朝阳区")')
    expect(page).to_have_url(re.compile(r"/ui/region/chaoyang\?from=.*&to="))
    offered = get(site, "/experiments/offering-rate", scope="district", id="chaoyang", term=_term(page))
    done = sum(r["done"] for r in offered["by_school"])
    required = sum(r["required"] for r in offered["by_school"])
    assert card(page, "offering_rate") == percent(done / required)
    page.click(f'#ranking tr[data-key="{OTHER}"] a')
    expect(page).to_have_url(re.compile(f"/ui/schools/{OTHER}\\?from="))
    gaps = get(site, "/compliance", scope="school", id=OTHER, standard="SAMPLE-JUNIOR-PHYSICS")["gaps"]
    assert gaps, "the sample campus leaves this school short of the standard"
    for g in gaps:
        row = page.locator(f'#gaps tr[data-item="{g["code"]}"] td')
        assert row.nth(3).inner_text().strip() == str(g["missing"])
        assert row.nth(4).inner_text().strip() == g["missing_value"]
    cost = sum(Decimal(g["missing_value"]) for g in gaps)
    assert page.locator('#gaps td[data-col="cost"]').inner_text().strip() == f"{cost:.2f}"
    expect(page.locator('#gaps .badge[data-standard="SAMPLE-JUNIOR-PHYSICS"]')).to_have_text("未达标")
    shoot(page, "school-gaps")


def test_a_region_auditor_sees_nothing_outside_its_region(page: Page, site: Site):
    log_in(page, site, "cy-auditor")
    expect(page).to_have_url(re.compile("/ui/region/chaoyang$"))
    assert page.locator("#ranking tbody tr").all_inner_texts() and all(
        "hd-" not in key for key in page.locator("#ranking tbody tr").evaluate_all("rs => rs.map(r => r.dataset.key)")
    )
    for path in (
        f"/ui/schools/{SCHOOL}",
        "/ui/region/haidian",
        "/ui/region",
        f"/ui/schools/{SCHOOL}/devices/{DEVICE}",
        f"/ui/live?school={SCHOOL}",
    ):
        answer = page.goto(f"{site.url}{path}")
        assert answer is not None and answer.status == 403, path
        assert "海淀区实验中学" not in page.content()


def test_figures_refresh_without_a_reload_when_records_arrive(page: Page, site: Site):
    log_in(page, site, "junior-manager")
    before = int(card(page, "sessions"))
    page.evaluate("window.marker = 'same page'")
    agent = f"{SCHOOL}-physics-lab-1"
    now = int(time.time() * 1000)
    recs = [
        {
            "type": "state",
            "seq": site.next_seq[agent],
            "ts": format_ts(now - 120_000),
            "device": DEVICE,
            "state": "idle",
            "valid_s": 600,
        },
        {
            "type": "state",
            "seq": site.next_seq[agent] + 1,
            "ts": format_ts(now - 60_000),
            "device": DEVICE,
            "state": "in_use",
            "valid_s": 600,
        },
    ]
    site.next_seq[agent] += 2
    body = orjson.dumps({"v": 1, "agent": agent, "school": SCHOOL, "records": recs})
    assert site.api.post("/ingest/records", content=body).status_code == 200
    expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile(r"[1-9]"))
    assert int(card(page, "sessions")) == before + 1
    assert page.evaluate("window.marker") == "same page", "refreshed in place, not reloaded"

    page.locator("#trend-section details").evaluate("d => d.open = true")
    page.fill("form.period input[name=from]", "2026-10-05")  # typing a date: the refresh waits until it is done
    refreshed = page.locator("body").get_attribute("data-refreshed")
    later = [{**recs[1], "seq": site.next_seq[agent], "ts": format_ts(now - 30_000), "state": "idle"}]
    site.next_seq[agent] += 1
    body = orjson.dumps({"v": 1, "agent": agent, "school": SCHOOL, "records": later})
    assert site.api.post("/ingest/records", content=body).status_code == 200
    page.wait_for_timeout(2500)
    assert page.locator("body").get_attribute("data-refreshed") == refreshed, "no refresh while typing"
    assert page.input_value("form.period input[name=from]") == "2026-10-05"
    page.locator("h1").click()  # done typing
    expect(page.locator("body")).not_to_have_attribute("data-refreshed", refreshed or "")
    assert page.locator("#trend-section details").evaluate("d => d.open"), "what the user opened stays open"
    assert page.input_value("form.period input[name=from]") == "2026-10-05", "what was typed and not sent stays"

    page.goto(f"{site.url}/ui/schools/{SCHOOL}?{past()}")
    assert page.locator("body").get_attribute("data-live") is None, "a past period does not refresh"


def test_time_inferred_around_a_very_late_record_is_hatched_on_the_device_timeline(page: Page, site: Site):
    day = _last_school_day()
    end = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    device = "chemistry-lab-2-lab-pc"
    line = get(site, f"/schools/{SCHOOL}/devices/{device}/timeline", **{"from": day, "to": end})
    long = next(p for p in line["pieces"] if p["state"] != "unknown" and p["end_ms"] - p["start_ms"] > 1_200_000)
    agent = f"{SCHOOL}-chemistry-lab-2"
    late = {  # the agent's next seq, but from inside yesterday's long piece, in another state
        "type": "state",
        "seq": site.next_seq[agent],
        "ts": format_ts(long["start_ms"] + 600_000),
        "device": device,
        "state": "fault" if long["state"] != "fault" else "idle",
        "valid_s": 120,
    }
    site.next_seq[agent] += 1
    body = orjson.dumps({"v": 1, "agent": agent, "school": SCHOOL, "records": [late]})
    assert site.api.post("/ingest/records", content=body).status_code == 200
    line = get(site, f"/schools/{SCHOOL}/devices/{device}/timeline", **{"from": day, "to": end})
    assert line["approximate_s"] >= 120

    log_in(page, site, "junior-manager")
    page.goto(f"{site.url}/ui/schools/{SCHOOL}/devices/{device}?day={day}")
    assert page.locator("#timeline rect.approximate").count() == sum(p["approximate"] for p in line["pieces"])
    legend = page.locator('ul.legend li[data-state="approximate"]')
    assert (
        "推测" in legend.inner_text() and legend.locator(".num").inner_text() == f"{line['approximate_s'] / 3600:.1f} h"
    )
    expect(page.locator("#approximate-note")).to_be_visible()
    shoot(page, "device-approximate")


def test_login_is_refused_with_a_reason_and_the_language_can_switch(page: Page, site: Site):
    page.goto(f"{site.url}/ui/")
    page.fill("input[name=username]", "junior-manager")
    page.fill("input[name=password]", "not the password")
    page.click("form.login button[type=submit]")
    expect(page.locator("p.error")).to_have_text("用户名或密码错误")
    answer = page.request.post(f"{site.url}/ui/login", form={"username": "junior-manager", "password": "x"})
    assert answer.status == 400, "a post without the form's token is refused"
    log_in(page, site, "junior-manager")
    page.click("a.lang")
    expect(page.locator('.card[data-figure="utilization"] .label')).to_have_text("Utilization")
    page.goto(f"{site.url}/ui/schools/{SCHOOL}")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.click("form[action='/ui/logout'] button")
    expect(page).to_have_url(re.compile("/ui/login"))
    assert page.goto(f"{site.url}/ui/schools/{SCHOOL}").url.endswith(f"/ui/login?next=/ui/schools/{SCHOOL}")


def _term(page: Page) -> str:
    return page.locator("form.period .muted").inner_text().split()[-1]


def past() -> str:
    """Four weeks of days that have ended, as a page's query."""
    last = date.fromisoformat(_last_school_day())
    return f"from={(last - timedelta(days=27)).isoformat()}&until={last.isoformat()}"


def _last_school_day() -> str:
    d = local_now().date() - timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d.isoformat()


def test_the_printable_report_shows_the_api_figures_and_prints(page: Page, site: Site):
    log_in(page, site, "auditor-2")
    page.goto(f"{site.url}/ui/region/haidian?{past()}")
    page.click("#report-link")
    expect(page).to_have_url(re.compile("/ui/report\\?scope=district&id=haidian"))
    span = {"from": page.url.split("from=")[1].split("&")[0], "to": page.url.split("to=")[1].split("&")[0]}
    total = get(site, "/utilization", scope="district", id="haidian", **span)
    assert page.locator('strong[data-col="utilization"]').inner_text() == percent(total["rows"][0]["utilization"])
    assert page.locator('#about td[data-col="coverage"]').inner_text() == percent(total["coverage"])
    for r in get(site, "/utilization", scope="district", id="haidian", group_by="school", **span)["rows"]:
        cell = page.locator(f'#report-utilization tr[data-key="{r["key"]}"] td[data-col="utilization"]')
        assert cell.inner_text() == percent(r["utilization"])
    rate = get(site, "/compliance", scope="district", id="haidian", standard="SAMPLE-JUNIOR-PHYSICS")["summary"]
    shown = page.locator('span[data-standard="SAMPLE-JUNIOR-PHYSICS"]').inner_text()
    assert shown == percent(rate["compliance_rate"])
    last = (date.fromisoformat(span["to"]) - timedelta(days=1)).isoformat()
    assert page.locator('#about td[data-col="period"]').inner_text() == f"{span['from']} – {last}（含结束日）"
    names = {s["code"]: s["name"] for s in get(site, "/schools")["schools"]}
    assert page.locator("#report-utilization tbody td:first-child").all_inner_texts() == [
        names[r["key"]]
        for r in get(site, "/utilization", scope="district", id="haidian", group_by="school", **span)["rows"]
    ]
    formulas = page.locator("dl.formulas").inner_text()
    assert "使用率 = " in formulas and "R_item = 配足的基本项目数" in formulas and "utilization =" not in formulas
    expect(page.locator("#signature")).to_contain_text("审核人")
    shoot(page, "report")
    with page.expect_download() as download:
        page.click("#xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")

    page.emulate_media(media="print")
    pages = PdfReader(io.BytesIO(page.pdf(format="A4", print_background=True))).pages
    headings = {h.strip() for h in page.locator(".report h1, .report h2, .report h3").all_inner_texts()}
    texts = [p.extract_text() for p in pages]
    assert len(texts) >= 2
    for n, printed in enumerate(texts, start=1):
        lines = [line.strip() for line in printed.splitlines() if line.strip()]
        assert f"{n} / {len(texts)}" in lines, (n, lines[-3:])  # the page number at the foot of every page
        body = [line for line in lines if line != f"{n} / {len(texts)}"]
        assert not any(body[-1].startswith(h[:12]) for h in headings), (n, body[-1])  # no heading left at a page's end
    assert "审核人" in texts[-1] and "编制单位" in texts[-1]
    page.emulate_media(media="screen")


def test_a_district_managers_report_offers_no_city_breadcrumb(page: Page, site: Site):
    log_in(page, site, "hd-manager-2")
    page.goto(f"{site.url}/ui/report?scope=district&id=haidian&{past()}")
    crumbs = page.locator("nav.crumbs a")
    assert "/ui/region?" not in " ".join(a.get_attribute("href") or "" for a in crumbs.all())
    expect(crumbs.first).to_have_attribute("href", re.compile(r"^/ui/region/haidian\?from="))
    page.goto(f"{site.url}/ui/report?scope=school&id=hd-junior-01&{past()}")
    expect(page.locator("nav.crumbs a").last).to_have_attribute("href", re.compile(r"^/ui/schools/hd-junior-01\?"))


SEEN_UTC = datetime(2026, 11, 30, 2, 24, 26, tzinfo=UTC)


def test_one_period_everywhere_carried_by_links_with_inclusive_end_dates(page: Page, site: Site):
    """District and school pages used to default to different periods (the same school showed 37.5% in the
    district table and 36.9% one click later), drill-down links dropped the chosen period, and the end date was
    exclusive ("至（不含）": choosing 11/01–11/30 lost the 30th)."""
    log_in(page, site, "hd-manager-2")
    expect(page).to_have_url(re.compile("/ui/region/haidian$"))
    expect(page.locator("header.top nav.crumbs a")).to_have_count(0)  # no 全市 for a district's manager
    expect(page.locator("form.period")).to_contain_text("至（含）")
    last = date.fromisoformat(_last_school_day())
    first = (last - timedelta(days=13)).isoformat()
    page.fill("form.period input[name=from]", first)
    page.fill("form.period input[name=until]", last.isoformat())
    page.click("form.period button[type=submit]")
    expect(page).to_have_url(re.compile(f"until={last.isoformat()}"))
    span = {"from": first, "to": (last + timedelta(days=1)).isoformat()}
    assert period(page) == span, "the last day chosen is counted"
    row = page.locator(f'#ranking tr[data-key="{SCHOOL}"]')
    in_table = row.locator('td[data-col="utilization"]').inner_text().strip()
    row.locator("a").click()
    expect(page).to_have_url(re.compile(f"/ui/schools/{SCHOOL}\\?from={first}&to="))
    assert period(page) == span, "the link carried the period"
    assert card(page, "utilization") == in_table
    expect(page.locator("header.top nav.crumbs a")).to_have_text(["海淀区"])
    figures = get(site, "/utilization", scope="school", id=SCHOOL, **span)["rows"][0]
    assert in_table == percent(figures["utilization"])
    with site.engine.begin() as conn:  # a status heard at 02:24 UTC is 10:24 in Beijing
        conn.execute(text("UPDATE agents SET last_seen = :at WHERE school = :s"), {"at": SEEN_UTC, "s": SCHOOL})
    page.reload()
    expect(page.locator("table.agents td:nth-child(3)").first).to_have_text("2026-11-30 10:24")

    explained = page.locator('.card[data-figure="utilization"]').get_attribute("title") or ""
    assert explained.startswith("使用率 = 各设备“使用中”时长之和"), "each headline figure says how it is computed"
    page.locator("details.explain summary").click()
    expect(page.locator("details.explain dd").nth(5)).to_contain_text("达标的学校数")

    page.click("nav.quick-periods a[data-period=this_month]")
    today = local_now().date()
    month = {"from": today.replace(day=1).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    assert period(page) == month
    expect(page.locator("nav.quick-periods a[aria-current]")).to_have_text("本月")
    got = get(site, "/utilization", scope="school", id=SCHOOL, **month)["rows"][0]
    assert card(page, "utilization") == percent(got["utilization"])
    page.click("nav.quick-periods a[data-period=previous]")
    days = date.fromisoformat(month["to"]) - date.fromisoformat(month["from"])
    before = date.fromisoformat(month["from"])
    assert period(page) == {"from": (before - days).isoformat(), "to": before.isoformat()}, "the same length, before"

    answer = page.goto(f"{site.url}/ui/schools/{SCHOOL}?from={last.isoformat()}&until={first}")
    assert answer is not None and answer.status == 422
    expect(page.locator("p.error")).to_have_text("开始日期须不晚于结束日期，且区间不超过 400 天")


def test_tables_search_sort_and_export_what_they_show(page: Page, site: Site):
    log_in(page, site, "junior-manager")
    table = page.locator("#device-table")
    rows = table.locator("tbody tr:visible")
    everything = rows.count()
    page.locator("#devices .table-tools input[type=search]").fill("示波器")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("physics-lab-1-oscilloscope")
    page.locator("#devices .table-tools input[type=search]").fill("")
    expect(rows).to_have_count(everything)

    header = table.locator("thead th", has_text="使用率")
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    shown = [float(t.strip("%")) for t in table.locator('tbody td[data-col="utilization"]').all_inner_texts()]
    assert shown == sorted(shown, reverse=True)
    header.click()
    shown = [float(t.strip("%")) for t in table.locator('tbody td[data-col="utilization"]').all_inner_texts()]
    assert shown == sorted(shown)

    page.locator("#devices .table-tools input[type=search]").fill("实验室电脑")
    with page.expect_download() as download:
        page.locator("#devices .table-tools button.csv").click()
    assert download.value.suggested_filename.startswith("hd-junior-01-devices-")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].startswith("设备,功能室,类型,使用率")
    assert len(lines) == 1 + rows.count() and all("实验室电脑" in line for line in lines[1:])


def test_the_trend_by_week_and_month_shows_the_api_figures(page: Page, site: Site):
    log_in(page, site, "auditor-2")
    page.goto(f"{site.url}/ui/schools/hd-junior-01?{past()}")
    rows = page.locator("#trend tbody tr")
    expect(rows).to_have_count(12)
    keys = rows.evaluate_all("rs => rs.map(r => r.dataset.key)")
    first = page.locator("#trend tbody tr").first.locator("td").first.text_content()
    last_day = past().split("until=")[1]
    end = (date.fromisoformat(last_day) + timedelta(days=1)).isoformat()
    api = {
        r["key"]: r
        for r in get(
            site, "/utilization", scope="school", id="hd-junior-01", group_by="week", **{"from": first, "to": end}
        )["rows"]
    }
    for key in keys:
        cell = page.locator(f'#trend tr[data-key="{key}"] td[data-col="utilization"]')
        assert cell.text_content() == (percent(api[key]["utilization"]) if key in api else "—"), key
    assert any(key in api for key in keys[-2:]), "the last weeks have data"
    expect(page.locator("svg.columns g")).to_have_count(12)
    shoot(page, "trend", "#trend-section")
    page.click("#trend-month")
    expect(page.locator("#trend tbody tr")).to_have_count(6)
    assert "from=" in page.url and "trend=month" in page.url, "the period stays with the trend's choice"
    month = page.locator("#trend tbody tr").last.get_attribute("data-key")
    assert month == last_day[:7]


def test_coverage_names_the_teaching_days_it_counts(page: Page, site: Site):
    log_in(page, site, "auditor-2")
    page.goto(f"{site.url}/ui/schools/hd-junior-01?{past()}")
    first, last = past().split("from=")[1].split("&")[0], past().split("until=")[1]
    days = [d["date"] for d in get(site, "/schools/hd-junior-01/calendar", **{"from": first, "to": last})["days"]]
    shown = page.locator("#teaching-days")
    expect(shown).to_contain_text(f"计 {len(days)} 个教学日")
    assert shown.get_attribute("title") == ", ".join(days)
    page.goto(f"{site.url}/ui/region/haidian?{past()}")
    counts = [
        len(get(site, f"/schools/{s['code']}/calendar", **{"from": first, "to": last})["days"])
        for s in get(site, "/schools")["schools"]
        if s["district"] == "haidian"
    ]
    said = f"计 {counts[0]} 个教学日" if min(counts) == max(counts) else f"各校计 {min(counts)}–{max(counts)} 个教学日"
    expect(page.locator("#teaching-days")).to_have_text(said)
