"""A school manager runs their work from the console in the browser: uploads a ledger with mistakes and sees each
one beside its row, fixes it and sees it taken; a district manager issues a report and downloads it as issued."""

import hashlib
import io
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, log_in, shoot

SCHOOL = "hd-junior-01"


def edited(content: bytes, path: Path, changes: dict[tuple[int, str], object]) -> Path:
    wb = load_workbook(io.BytesIO(content))
    ws = wb["台账"]
    header = [str(c.value) for c in ws[1]]
    for (row, key), value in changes.items():
        ws.cell(row=row, column=next(i for i, h in enumerate(header, 1) if h.endswith(f"({key})")), value=value)
    wb.save(path)
    return path


def test_a_ledger_upload_shows_each_mistake_beside_its_row_then_takes_the_fixed_file(page: Page, site: Site, tmp_path):
    log_in(page, site, "junior-manager")
    page.click("header.top a.manage")
    expect(page.locator("h1")).to_have_text("管理")
    page.locator(f'#ledgers tr[data-school="{SCHOOL}"] a').first.click()
    expect(page.locator("h1")).to_contain_text("设备台账")
    with page.expect_download() as download:
        page.click("#ledger-download")
    original = Path(download.value.path()).read_bytes()
    lines = int(page.locator("#line-count").inner_text())

    wrong = edited(original, tmp_path / "台账-有误.xlsx", {(2, "quantity"): "十", (3, "unit_value"): -5})
    page.set_input_files("#ledger-form input[type=file]", str(wrong))
    page.click("#ledger-form button[type=submit]")
    expect(page.locator("#ledger-error")).to_contain_text("2 处问题，未导入任何一行")
    expect(page.locator('#problems tr[data-row="2"][data-column="quantity"]')).to_contain_text("应为整数")
    expect(page.locator('#problems tr[data-row="3"][data-column="unit_value"]')).to_be_visible()
    shoot(page, "ledger-errors")
    assert site.api.get(f"/schools/{SCHOOL}/equipment.xlsx").content is not None
    assert int(page.locator("#line-count").inner_text()) == lines

    fixed = edited(original, tmp_path / "台账.xlsx", {(2, "quantity"): 10})
    page.set_input_files("#ledger-form input[type=file]", str(fixed))
    page.click("#ledger-form button[type=submit]")
    expect(page.locator("#ledger-done")).to_contain_text("已导入：新增 0 行")
    item = load_workbook(io.BytesIO(site.api.get(f"/schools/{SCHOOL}/equipment.xlsx").content))["台账"]
    header = [str(c.value) for c in item[1]]
    assert item.cell(row=2, column=header.index("数量 (quantity)") + 1).value == 10


def test_a_district_manager_issues_a_report_and_downloads_it_as_issued(page: Page, site: Site):
    log_in(page, site, "hd-manager-2")
    page.goto(f"{site.url}/ui/reports")
    page.select_option("#issue-form select[name=target]", "district:haidian")
    page.on("dialog", lambda d: d.accept())
    page.click("#issue-form button[type=submit]")
    expect(page.locator("#issue-done")).to_have_text("报告已签发。")
    issued = site.api.get("/reports/issued").json()["reports"][0]
    with page.expect_download() as download:
        page.click(f'#issued tr[data-id="{issued["id"]}"] a')
    content = Path(download.value.path()).read_bytes()
    assert hashlib.sha256(content).hexdigest() == issued["sha256"]
    assert download.value.suggested_filename == f"campuspulse-commission-district-haidian-{issued['from']}.xlsx"


def test_any_table_exports_to_excel_with_numbers_as_numbers(page: Page, site: Site):
    log_in(page, site, "auditor-2")
    page.goto(f"{site.url}/ui/region/haidian")
    shown = page.locator("#ranking tbody tr").evaluate_all(
        "rs => rs.map(r => [r.dataset.key, r.querySelector('[data-col=utilization]').textContent.trim()])"
    )
    with page.expect_download() as download:
        page.locator('.table-tools[data-for="ranking"] button.xlsx').click()
    assert download.value.suggested_filename.startswith("ranking-haidian-")
    wb = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    ws = wb.worksheets[1]
    header = [c.value for c in ws[1]]
    assert header[2] == "使用率"
    got = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(got) == len(shown)
    for (_, text), row in zip(shown, got, strict=True):
        assert isinstance(row[2], float) and f"{row[2] * 100:.1f}%" == text
        assert isinstance(row[0], int), "the rank is a number"
    assert ws.cell(row=2, column=3).number_format == "0.0%"


PAGES = [
    "/ui/manage",
    "/ui/manage/schools",
    "/ui/manage/schools/hd-junior-01",
    "/ui/reports",
    "/ui/audit",
    "/ui/agents",
    "/ui/dead-letters",
    f"/ui/schools/{SCHOOL}/ledger",
    f"/ui/schools/{SCHOOL}/names",
    f"/ui/schools/{SCHOOL}/calendar",
    f"/ui/schools/{SCHOOL}",
    "/ui/region/haidian",
    f"/ui/teach?school={SCHOOL}",
]


WIDE = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > 392 && e.parentElement.getBoundingClientRect().right <= 392)
  .slice(0, 5).map(e => e.tagName + '.' + e.getAttribute('class') + '#' + e.id + ' in ' + e.parentElement.tagName
    + '.' + e.parentElement.getAttribute('class'))"""


def test_every_console_page_fits_a_phone(browser, site: Site):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    phone.set_default_timeout(15_000)
    log_in(phone, site, "hd-manager-2")
    for path in PAGES:
        r = phone.goto(f"{site.url}{path}")
        assert r is not None and r.status == 200, path
        width = phone.evaluate("document.documentElement.scrollWidth")
        wide = phone.evaluate(WIDE) if width > 391 else []
        assert width <= 390 + 1, f"{path} is {width} px wide on a 390 px phone: {wide}"
    shoot(phone, "manage-phone")
    phone.context.close()
