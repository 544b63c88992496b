"""The alert centre in a real browser: a district manager sees their district's alerts counted in the header,
acknowledges one, and an auditor reads without acknowledging; also on a phone-sized screen."""

import re
from datetime import UTC, datetime

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, text

from campuspulse.server.alerts.rules import RuleIn
from campuspulse.server.alerts.service import AlertService
from campuspulse.store.schema import Agent, School
from tests.browser.conftest import Site, log_in, shoot


def test_a_district_manager_acknowledges_an_alert_of_their_district(page: Page, browser: Browser, site: Site):
    rule = RuleIn(code="agent-offline", kind="agent_offline", severity="critical", after_s=150)
    assert site.api.put("/alert-rules/agent-offline/1", json=rule.model_dump()).status_code == 201
    with site.engine.begin() as conn:
        agents = conn.execute(
            select(Agent.id, Agent.school).join(School, School.code == Agent.school).where(School.district == "haidian")
        ).all()
        agent = agents[0].id
        conn.execute(text("UPDATE agents SET online = true, last_seen = :at"), {"at": datetime.now(UTC)})
        conn.execute(text("UPDATE agents SET online = false WHERE id = :a"), {"a": agent})
    AlertService(site.engine).evaluate(force=True)

    log_in(page, site, "hd-manager-2")
    header = page.locator("header.top a.alert-count")
    expect(header).to_have_text("告警 1")
    header.click()
    expect(page).to_have_url(re.compile("/ui/alerts$"))
    row = page.locator(f'table.alerts tr[data-subject="agent:{agent}"]')
    expect(row).to_contain_text(f"采集端 {agent} 离线")
    expect(row).to_contain_text("严重")
    row.locator("button:text-is('确认')").click()
    expect(page.locator("p.notice")).to_have_text("已确认")
    expect(page.locator(f'table.alerts tr[data-subject="agent:{agent}"]')).to_contain_text("hd-manager-2")
    alert = site.api.get("/alerts").json()["alerts"][0]
    assert (alert["state"], alert["acknowledged_by"]) == ("acknowledged", "hd-manager-2")

    other = browser.new_context(locale="zh-CN").new_page()
    log_in(other, site, "cy-auditor")
    expect(other.locator("header.top a.alert-count")).to_have_text("告警")  # chaoyang has none
    other.context.close()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    log_in(phone, site, "auditor-2")
    phone.goto(f"{site.url}/ui/alerts")
    expect(phone.locator(f'table.alerts tr[data-subject="agent:{agent}"]')).to_be_visible()
    expect(phone.locator("table.alerts button")).to_have_count(0)  # auditors read only
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, "the table scrolls in its box, not the page"
    shoot(phone, "alerts-phone")
    phone.context.close()
    with site.engine.begin() as conn:  # the module's other tests see no alerts
        conn.execute(text("DELETE FROM alerts"))
        conn.execute(text("DELETE FROM alert_rules"))
