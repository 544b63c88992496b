"""A teacher on a phone (390 × 844) records that a class did an experiment and sees the class's progress move, as
the offering rate of the API counts it; a mistake is undone; nothing else of the dashboard is theirs to change."""

from playwright.sync_api import Browser, expect

from campuspulse.demo.campus import local_now
from campuspulse.server.metrics.service import term_of
from tests.browser.conftest import Site, log_in, shoot

SCHOOL = "hd-junior-01"


def classes(site: Site) -> list[dict]:
    term = term_of(local_now().date().isoformat())
    rows = site.api.get("/experiments/offering-rate", params={"scope": "school", "id": SCHOOL, "term": term}).json()
    return rows["by_class"]


def by_class(site: Site, name: str) -> dict[str, tuple[int, int]]:
    return {r["type"]: (r["done"], r["required"]) for r in classes(site) if r["class"] == name}


def test_a_teacher_records_an_experiment_on_a_phone_and_sees_the_class_progress(browser: Browser, site: Site):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", has_touch=True).new_page()
    phone.set_default_timeout(15_000)
    log_in(phone, site, "jr-teacher")
    expect(phone).to_have_url(f"{site.url}/ui/teach")
    expect(phone.locator("h1")).to_have_text("实验记录")
    name = next(r["class"] for r in classes(site) if r["type"] == "演示" and r["done"] < r["required"])
    phone.select_option("#pick-class select[name=class]", name)  # the form sends itself
    expect(phone.locator("main h2").first).to_contain_text(f"{name} 班本学期进度")
    before = by_class(site, name)
    for kind, (done, required) in before.items():
        row = phone.locator(f'#progress p[data-type="{kind}"]')
        expect(row.locator('[data-col="done"]')).to_have_text(str(done))
        expect(row.locator('[data-col="required"]')).to_have_text(str(required))

    phone.check("input[name=show_type][value=演示]")  # only demonstrations are offered now
    shown = phone.locator("#experiment option:not([hidden])[data-type]")
    assert shown.count() > 0
    assert set(shown.evaluate_all("os => os.map(o => o.dataset.type)")) == {"演示"}
    todo = phone.locator("#plan tr:not(.done)[data-code]").evaluate_all("rs => rs.map(r => r.dataset.code)")
    demos = set(shown.evaluate_all("os => os.map(o => o.value)"))
    code = next(c for c in todo if c in demos)
    phone.select_option("#experiment", code)
    phone.fill("input[name=teacher]", "王老师")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, "nothing sticks out of a phone's screen"
    shoot(phone, "teacher-phone")
    phone.click("#record-form button[type=submit]")
    expect(phone.locator("#record-done")).to_have_text("已记录。")
    done, required = before["演示"]
    expect(phone.locator('#progress p[data-type="演示"] [data-col="done"]')).to_have_text(str(done + 1))
    assert by_class(site, name)["演示"] == (done + 1, required)
    expect(phone.locator(f'#plan tr[data-code="{code}"]')).to_have_class("done")

    phone.on("dialog", lambda d: d.accept())
    phone.locator("#recent li").first.locator("button").click()
    expect(phone.locator("#record-done")).to_have_text("已撤销。")
    assert by_class(site, name)["演示"] == (done, required)

    phone.goto(f"{site.url}/ui/users")
    expect(phone.locator("main")).to_contain_text("仅管理员")
    phone.context.close()
