"""Users managed from the dashboard as an admin does it, and a password changed by its owner: each change ends the
sessions it must, in a real browser."""

import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Site, log_in, shoot

ADMIN, NEWCOMER = "ops-admin", "lab-keeper"
FIRST, RESET, OWN = "first password 1", "reset password 2", "own password 3"


def row(page: Page, name: str):
    return page.locator(f'table.users tr[data-user="{name}"]')


def test_an_admin_runs_users_from_the_dashboard_and_sessions_end_with_each_change(
    page: Page, browser: Browser, site: Site
):
    body = {"username": ADMIN, "password": "admin password 0", "role": "admin", "scope_kind": "all"}
    assert site.api.post("/users", json=body).status_code == 201
    log_in(page, site, ADMIN, "admin password 0")
    page.click("header.top a.manage")
    page.click("#console a:text-is('用户管理')")
    expect(page).to_have_url(re.compile("/ui/users$"))
    expect(row(page, ADMIN).locator("button")).to_have_count(0)  # no way to lock oneself out

    form = page.locator("form.new-user")
    form.locator("input[name=username]").fill(NEWCOMER)
    form.locator("select[name=role]").select_option("school_manager")
    form.locator("select[name=scope_kind]").select_option("school")
    form.locator("input[name=scope_id]").fill("hd-junior-01")
    form.locator("input[name=password]").fill(FIRST)
    form.locator("input[name=password_again]").fill(FIRST)
    form.locator("button[type=submit]").click()
    expect(page.locator("p.notice")).to_have_text("已创建用户")
    expect(row(page, NEWCOMER)).to_contain_text("学校管理员")

    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    log_in(other, site, NEWCOMER, FIRST)
    expect(other).to_have_url(re.compile("/ui/schools/hd-junior-01$"))

    row(page, NEWCOMER).locator("summary:text-is('更改角色/范围')").click()
    change = row(page, NEWCOMER).locator("form:has(button[value=role])")
    change.locator("select[name=role]").select_option("auditor")
    change.locator("select[name=scope_kind]").select_option("region")
    change.locator("input[name=scope_id]").fill("haidian")
    change.locator("button[value=role]").click()
    expect(page.locator("p.notice")).to_contain_text("已更改角色")
    expect(row(page, NEWCOMER)).to_contain_text("审计员")
    other.reload()
    expect(other).to_have_url(re.compile("/ui/login"))
    expect(other.locator("p.error")).to_have_text("登录已过期，请重新登录")

    row(page, NEWCOMER).locator("summary:text-is('重置密码')").click()
    reset = row(page, NEWCOMER).locator("form:has(button[value=password])")
    reset.locator("input[name=password]").fill(RESET)
    reset.locator("input[name=password_again]").fill("not the same one")
    reset.locator("button[value=password]").click()
    expect(page.locator("p.error")).to_have_text("两次输入的新密码不一致")
    row(page, NEWCOMER).locator("summary:text-is('重置密码')").click()
    reset = row(page, NEWCOMER).locator("form:has(button[value=password])")
    reset.locator("input[name=password]").fill(RESET)
    reset.locator("input[name=password_again]").fill(RESET)
    reset.locator("button[value=password]").click()
    expect(page.locator("p.notice")).to_contain_text("已重置密码")

    log_in(other, site, NEWCOMER, RESET)
    expect(other).to_have_url(re.compile("/ui/region/haidian$"))
    other.click(f"header.top a:text-is('{NEWCOMER}')")
    other.fill("input[name=current_password]", RESET)
    other.fill("input[name=password]", OWN)
    other.fill("input[name=password_again]", OWN)
    other.click("form.stack button[type=submit]")
    expect(other.locator("p.notice")).to_have_text("密码已修改，其他设备上的登录已退出")
    shoot(other, "account-phone")
    other.goto(f"{site.url}/ui/region/haidian")
    expect(other).to_have_url(re.compile("/ui/region/haidian$"))  # this browser keeps a fresh session

    row(page, NEWCOMER).locator("button[value=disable]").click()
    expect(row(page, NEWCOMER)).to_contain_text("已停用")
    other.reload()
    expect(other).to_have_url(re.compile("/ui/login"))
    shoot(page, "users")

    page.once("dialog", lambda d: d.accept())
    row(page, NEWCOMER).locator("button[value=delete]").click()
    expect(page.locator("p.notice")).to_contain_text("已删除用户")
    expect(row(page, NEWCOMER)).to_have_count(0)
    other.context.close()

    log = site.api.get("/audit", params={"limit": 1000}).json()["entries"]
    mine = [(e["actor"], e["action"]) for e in log if e["entity"] == "user" and e["key"] == NEWCOMER]
    assert mine == [
        (ADMIN, "create"),
        (ADMIN, "update"),  # role
        (ADMIN, "update"),  # reset
        (NEWCOMER, "update"),  # own password
        (ADMIN, "update"),  # disabled
        (ADMIN, "delete"),
    ]


def test_user_forms_refuse_other_sites_and_other_roles(page: Page, site: Site):
    log_in(page, site, "junior-manager")
    answer = page.goto(f"{site.url}/ui/users")
    assert answer is not None and answer.status == 403
    expect(page.locator("p.error")).to_have_text("仅管理员可管理用户")
    forged = page.request.post(
        f"{site.url}/ui/account/password",
        form={"current_password": "x", "password": "y" * 12, "password_again": "y" * 12},
    )
    assert forged.status == 403 and "表单已过期" in forged.text(), "a post without this session's token is refused"
