"""Alerts on SQLite and PostgreSQL: each rule finds what it should, devices behind an offline agent and outside
teaching time stay quiet, a flapping agent is one alert, reminders stop when acknowledged, and every channel
receives what its documentation says, signed — or is retried and counted.

The campus: district hd (city bj) with school s1 and district cy with school s2. Agent a1 watches devices d1 and
d2 of s1, agent a2 device d3 of s1, agent b1 device e1 of s2. 2026-11-18 is a teaching day with periods
08:00–08:45 and 10:00–10:45 (Asia/Shanghai); evaluations happen at 10:30 unless a test says otherwise.

The state agents report (online, last seen, queue) is written to the store as the collector writes it; the
end-to-end path from killed agent processes is `tests/chaos/test_alert_latency.py`.
"""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from campuspulse.server.alerts.channels import ChannelSettings, webhook_signature
from campuspulse.server.alerts.rules import RuleIn, put_rule
from campuspulse.server.alerts.service import AlertService
from campuspulse.server.app import create_app
from tests.support.campus import AUTH, TOKEN
from tests.support.receivers import http_receiver, smtp_receiver

API = "/api/v1"
TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 18, 10, 30, tzinfo=TZ).astimezone(UTC)
RULES = [
    RuleIn(code="agent-offline", kind="agent_offline", severity="critical", after_s=150, clear_after_s=60),
    RuleIn(code="device-silent", kind="device_silent", after_s=600),
]


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        for path, body in [
            ("/regions/bj", {"name": "北京", "level": "city"}),
            ("/regions/hd", {"name": "海淀", "level": "district", "parent": "bj"}),
            ("/regions/cy", {"name": "朝阳", "level": "district", "parent": "bj"}),
            ("/schools/s1", {"name": "一中", "district": "hd", "stage": "junior"}),
            ("/schools/s2", {"name": "二中", "district": "cy", "stage": "junior"}),
            ("/schools/s1/rooms/lab", {"name": "物理实验室", "type": "physics_lab"}),
            ("/schools/s2/rooms/lab", {"name": "物理实验室", "type": "physics_lab"}),
            ("/agents/a1", {"school": "s1"}),
            ("/agents/a2", {"school": "s1"}),
            ("/agents/b1", {"school": "s2"}),
            ("/schools/s1/devices/d1", {"agent": "a1", "room": "lab", "kind": "oscilloscope"}),
            ("/schools/s1/devices/d2", {"agent": "a1", "room": "lab", "kind": "lab_pc"}),
            ("/schools/s1/devices/d3", {"agent": "a2", "room": "lab", "kind": "projector"}),
            ("/schools/s2/devices/e1", {"agent": "b1", "room": "lab", "kind": "projector"}),
        ]:
            r = c.put(f"{API}{path}", json=body, headers=AUTH)
            assert r.status_code in (200, 201), (path, r.text)
        for school in ("s1", "s2"):
            body = {"periods": [["08:00", "08:45"], ["10:00", "10:45"]]}
            assert c.put(f"{API}/schools/{school}/calendar/2026-11-18", json=body, headers=AUTH).is_success
        for rule in RULES:
            r = c.put(f"{API}/alert-rules/{rule.code}/1", json=rule.model_dump(), headers=AUTH)
            assert r.status_code == 201, r.text
        seen(c, "a1", "a2", "b1", at=AT - timedelta(seconds=30))
        yield c
    app.state.engine.dispose()


def seen(client, *agents: str, at: datetime, online: bool = True) -> None:
    """An agent's status as the collector stores it."""
    with client.app.state.engine.begin() as conn:
        for agent in agents:
            conn.execute(
                text("UPDATE agents SET online = :o, last_seen = :at WHERE id = :a"),
                {"o": online, "at": at, "a": agent},
            )


def sql(client, statement: str, **params: object) -> None:
    with client.app.state.engine.begin() as conn:
        conn.execute(text(statement), params)


def alerts(client, **params) -> list[dict]:
    r = client.get(f"{API}/alerts", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


def service(client, *channels: ChannelSettings) -> AlertService:
    return AlertService(client.app.state.engine, channels)


def by_subject(client, **params) -> dict[str, dict]:
    return {a["subject"]: a for a in alerts(client, **params)}


def test_an_offline_agent_is_one_alert_naming_the_devices_it_hides(client):
    run = service(client)
    seen(client, "a1", at=AT - timedelta(seconds=10), online=False)  # the broker's last will
    run.evaluate(AT, force=True)
    found = by_subject(client)
    agent = found.pop("agent:a1")
    assert (agent["rule"], agent["severity"], agent["state"]) == ("agent-offline", "critical", "open")
    assert agent["details"]["hides"] == ["s1/d1", "s1/d2"] and "last will" in agent["details"]["reason"]
    assert set(found) == {"device:s1/d3", "device:s2/e1"}, "no device alert behind the offline agent"
    assert "30 分钟无数据" in found["device:s1/d3"]["summary"]  # unknown since the period began at 10:00


def test_silence_beyond_the_timeout_is_offline_too_and_coming_back_resolves_after_the_hold(client):
    run = service(client)
    seen(client, "a2", at=AT - timedelta(seconds=151))
    run.evaluate(AT, force=True)
    found = by_subject(client)
    assert "silent for 151 s" in found["agent:a2"]["details"]["reason"]
    assert "device:s1/d3" not in found, "its device is behind a silent agent"
    seen(client, "a2", at=AT + timedelta(seconds=5))
    run.evaluate(AT + timedelta(seconds=10), force=True)
    assert by_subject(client)["agent:a2"]["state"] == "open", "clear, but not long enough to resolve"
    run.evaluate(AT + timedelta(seconds=71), force=True)
    assert "agent:a2" not in by_subject(client)
    resolved = by_subject(client, state="resolved")["agent:a2"]
    assert resolved["resolved_at"] is not None


def test_an_agent_flapping_every_20_s_is_one_alert_not_thirty(client):
    with http_receiver() as hook:
        channel = ChannelSettings(name="ops", kind="webhook", url=hook.url, secret="k" * 32)
        run = service(client, channel)
        for n in range(30):
            at = AT + timedelta(seconds=20 * n)
            seen(client, "a1", at=at, online=n % 2 == 1)  # down, up, down, up…
            run.evaluate(at, force=True)
            run.deliver(at)
        agent_alerts = [a for a in alerts(client, state="open") if a["subject"] == "agent:a1"]
        assert len(agent_alerts) == 1 and agent_alerts[0]["flaps"] == 14
        events = [r.json["event"] for r in hook.requests if r.json["alert"]["subject"] == "agent:a1"]
        assert events == ["opened"], "one notification for the whole flapping"


def test_device_rules_are_quiet_outside_teaching_time(client):
    run = service(client)
    run.evaluate(AT + timedelta(minutes=30), force=True)  # 11:00 local: after the last period
    assert not [a for a in alerts(client) if a["kind"] == "device_silent"]
    run.evaluate(AT, force=True)
    assert {a["subject"] for a in alerts(client) if a["kind"] == "device_silent"} == {
        "device:s1/d1",
        "device:s1/d2",
        "device:s1/d3",
        "device:s2/e1",
    }


def test_a_device_with_records_during_the_period_is_not_silent(client):
    now_ms = int(AT.timestamp() * 1000)
    sql(
        client,
        "INSERT INTO state_segments (school, device, state, start_ms, end_ms, last_ts_ms, agent, first_seq, last_seq,"
        " records, approx_start_ms, approx_end_ms) VALUES ('s1', 'd3', 'idle', :a, :b, :b, 'a2', 0, 5, 6, 0, 0)",
        a=now_ms - 1_800_000,
        b=now_ms - 300_000,
    )
    service(client).evaluate(AT, force=True)
    assert "device:s1/d3" not in by_subject(client), "known until 5 minutes ago: under the 10-minute limit"


def test_reminders_while_unacknowledged_and_none_after(client):
    sql(client, "UPDATE agents SET online = false WHERE id = 'a1'")
    rule = RuleIn(code="agent-offline", kind="agent_offline", severity="critical", renotify_after_s=600)
    assert client.put(f"{API}/alert-rules/agent-offline/2", json=rule.model_dump(), headers=AUTH).status_code == 201
    with http_receiver() as hook:
        run = service(client, ChannelSettings(name="ops", kind="webhook", url=hook.url, secret="k" * 32))
        for minutes in (0, 5, 10, 15):
            run.evaluate(AT + timedelta(minutes=minutes), force=True)
            run.deliver(AT + timedelta(minutes=minutes))
        mine = [r.json["event"] for r in hook.requests if r.json["alert"]["subject"] == "agent:a1"]
        assert mine == ["opened", "reminder"]
        alert_id = by_subject(client)["agent:a1"]["id"]
        r = client.post(f"{API}/alerts/{alert_id}/ack", headers=AUTH)
        assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"]
        for minutes in (25, 35):
            run.evaluate(AT + timedelta(minutes=minutes), force=True)
            run.deliver(AT + timedelta(minutes=minutes))
        assert [r.json["event"] for r in hook.requests if r.json["alert"]["subject"] == "agent:a1"] == mine
    log = client.get(f"{API}/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]
    mine_audit = [(e["actor"], e["action"], (e["new"] or {}).get("state")) for e in log if e["entity"] == "alert"]
    assert ("alerts", "create", "open") in mine_audit and ("bootstrap-admin", "update", "acknowledged") in mine_audit


def test_every_channel_receives_its_documented_payload_signed(client, tmp_path):
    seen(client, "a1", at=AT, online=False)
    with http_receiver() as robots, smtp_receiver(tmp_path / "smtp") as smtp:
        channels = [
            ChannelSettings(name="hook", kind="webhook", url=f"{robots.url}/hook", secret="webhook-secret"),
            ChannelSettings(name="wecom", kind="wecom", url=f"{robots.url}/cgi-bin/webhook/send?key=K"),
            ChannelSettings(name="ding", kind="dingtalk", url=f"{robots.url}/robot/send?access_token=T", secret="SECx"),
            ChannelSettings(name="feishu", kind="feishu", url=f"{robots.url}/open-apis/bot/v2/hook/H", secret="fs"),
            ChannelSettings(
                name="mail",
                kind="smtp",
                host="127.0.0.1",
                port=smtp.port,
                ca_file=str(smtp.ca),
                sender="alerts@campus.example",
                to=["it@campus.example"],
            ),
        ]
        run = service(client, *channels)
        run.evaluate(AT, force=True)
        assert run.deliver(AT) == 5 * 3  # three alerts (a1, d3, e1), five channels each
        opened = [r for r in robots.requests if "agent:a1" in r.body.decode()]
        hook = next(r for r in opened if r.path == "/hook")
        stamp = hook.headers["X-Campuspulse-Timestamp"]
        assert hook.headers["X-Campuspulse-Signature"] == webhook_signature("webhook-secret", stamp, hook.body)
        assert hook.json["event"] == "opened" and hook.json["alert"]["details"]["hides"] == ["s1/d1", "s1/d2"]

        wecom = next(r for r in opened if r.path == "/cgi-bin/webhook/send")
        assert wecom.query == {"key": "K"} and wecom.json["msgtype"] == "markdown"
        assert "采集端 a1 离线" in wecom.json["markdown"]["content"]

        ding = next(r for r in opened if r.path == "/robot/send")
        expected = base64.b64encode(
            hmac.new(b"SECx", f"{ding.query['timestamp']}\nSECx".encode(), hashlib.sha256).digest()
        ).decode()
        assert ding.query["access_token"] == "T" and ding.query["sign"] == expected  # parse_qs undid the quoting
        assert ding.json["msgtype"] == "markdown" and ding.json["markdown"]["title"].startswith("[严重·告警]")

        feishu = next(r for r in opened if r.path.startswith("/open-apis/bot/v2/hook/"))
        key = f"{feishu.json['timestamp']}\nfs".encode()
        assert feishu.json["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        assert feishu.json["msg_type"] == "text" and "采集端 a1 离线" in feishu.json["content"]["text"]

        mails = [m for m in smtp.messages if "a1" in str(m["Subject"])]
        assert len(mails) == 1 and mails[0]["To"] == "it@campus.example"
        assert "s1/d1, s1/d2" in mails[0].get_content()


def test_a_channel_that_refuses_is_retried_and_counted_never_dropped(client):
    seen(client, "a1", at=AT, online=False)
    with http_receiver() as robot:
        robot.answer = {"errcode": 310000, "errmsg": "sign not match"}
        run = service(client, ChannelSettings(name="ding", kind="dingtalk", url=f"{robot.url}/robot/send", secret="S"))
        run.evaluate(AT, force=True)
        assert run.deliver(AT) == 0 and run.counts["delivery_failures"] == 3
        alert = by_subject(client)["agent:a1"]
        detail = client.get(f"{API}/alerts/{alert['id']}", headers=AUTH).json()["deliveries"][0]
        assert detail["attempts"] == 1 and "sign not match" in detail["last_error"] and detail["next_at"]
        assert run.deliver(AT + timedelta(seconds=1)) == 0, "not before its next try"
        robot.answer = {"errcode": 0}
        assert run.deliver(AT + timedelta(seconds=6)) == 3
        detail = client.get(f"{API}/alerts/{alert['id']}", headers=AUTH).json()["deliveries"][0]
        assert detail["attempts"] == 2 and detail["delivered_at"] and detail["next_at"] is None


def test_subscriptions_and_the_alert_centre_follow_scope(client):
    seen(client, "a1", "b1", at=AT, online=False)
    with http_receiver() as hook:
        channels = [
            ChannelSettings(name="cy", kind="webhook", url=f"{hook.url}/cy", secret="s", scope="region:cy"),
            ChannelSettings(name="city", kind="webhook", url=f"{hook.url}/city", secret="s", scope="region:bj"),
            ChannelSettings(name="crit", kind="webhook", url=f"{hook.url}/crit", secret="s", min_severity="critical"),
        ]
        run = service(client, *channels)
        run.evaluate(AT, force=True)
        run.deliver(AT)
        told = {(r.path, r.json["alert"]["subject"]) for r in hook.requests}
        assert {s for p, s in told if p == "/cy"} == {"agent:b1"}
        assert {s for p, s in told if p == "/city"} == {"agent:a1", "agent:b1", "device:s1/d3"}
        assert {s for p, s in told if p == "/crit"} == {"agent:a1", "agent:b1"}
    body = {"username": "cy-mgr", "password": "long enough pw", "role": "district_manager", "scope_kind": "region"}
    assert client.post(f"{API}/users", json={**body, "scope_id": "cy"}, headers=AUTH).status_code == 201
    token = client.post(f"{API}/auth/token", data={"username": "cy-mgr", "password": "long enough pw"}).json()
    mgr = {"Authorization": f"Bearer {token['access_token']}"}
    mine = client.get(f"{API}/alerts", headers=mgr).json()
    assert {a["subject"] for a in mine["alerts"]} == {"agent:b1"} and mine["counts"] == {"open/critical": 1}
    other = by_subject(client)["agent:a1"]["id"]
    assert client.post(f"{API}/alerts/{other}/ack", headers=mgr).status_code == 403


def test_rule_files_and_the_api_keep_versions(client):
    rules = client.get(f"{API}/alert-rules", headers=AUTH).json()["rules"]
    assert {(r["code"], r["version"]) for r in rules} == {("agent-offline", "1"), ("device-silent", "1")}
    bad = {**RULES[0].model_dump(), "kind": "moon_phase"}
    r = client.put(f"{API}/alert-rules/agent-offline/2", json=bad, headers=AUTH)
    assert r.status_code == 422
    with Session(client.app.state.engine) as s, s.begin():
        s.info["actor"] = "test"
        assert put_rule(s, "2", RuleIn(code="agent-offline", kind="agent_offline", after_s=90))
    newest = {r["code"]: r for r in client.get(f"{API}/alert-rules", headers=AUTH).json()["rules"]}
    assert (newest["agent-offline"]["version"], newest["agent-offline"]["after_s"]) == ("2", 90)


STANDARD = {
    "name": "测试标准",
    "province": "北京",
    "stage": "junior",
    "subject": "physics",
    "valid_from": "2026-09-01",
    "items": [
        {"code": "X", "name": "示波器", "unit": "台", "category": "基本", "rule": "1/校", "reference_price": "1"}
    ],
}


def _disk(client) -> None:
    sql(client, "UPDATE agents SET queue_unwritable_since = :at, queue_held = 12 WHERE id = 'a2'", at=AT)


def _lost(client) -> None:
    sql(
        client,
        "INSERT INTO seq_gaps (agent, epoch, first_seq, last_seq, reason, settled_at)"
        " VALUES ('a2', '', 10, 19, 'lost', :at)",
        at=AT - timedelta(seconds=100),
    )


def _dead(client) -> None:
    for n in range(3):
        sql(
            client,
            "INSERT INTO dead_letters (received_at, source, agent, school, reason, raw) "
            "VALUES (:at, 'mqtt', 'a2', 's1', 'bad', '{}')",
            at=AT - timedelta(seconds=10 * n),
        )


def _skew(client) -> None:
    received = int(AT.timestamp() * 1000)
    sql(
        client,
        "INSERT INTO clock_skew (agent, epoch, seq, device, ts_ms, received_ms) VALUES ('a2', '', 1, 'd3', :ts, :r)",
        ts=received + 600_000,
        r=received,
    )


def _lag(client) -> None:
    sql(
        client,
        "UPDATE agents SET queue_records = 50, queue_oldest = :at WHERE id = 'a2'",
        at=AT - timedelta(seconds=400),
    )


def _used(client) -> None:
    """d3 was in use during this morning's first period."""
    start = int(datetime(2026, 11, 18, 8, 5, tzinfo=TZ).timestamp() * 1000)
    sql(
        client,
        "INSERT INTO state_segments (school, device, state, start_ms, end_ms, last_ts_ms, agent, first_seq, last_seq,"
        " records, approx_start_ms, approx_end_ms) VALUES ('s1', 'd3', 'in_use', :a, :b, :b, 'a2', 0, 5, 6, 0, 0)",
        a=start,
        b=start + 1_800_000,
    )


def _idle(client) -> None:
    sql(client, "DELETE FROM state_segments WHERE device = 'd3'")


def _below(client) -> None:
    assert client.put(f"{API}/standards/T/1", json=STANDARD, headers=AUTH).status_code == 201


@pytest.mark.parametrize(
    ("rule", "make", "subject", "says"),
    [
        (
            RuleIn(code="disk", kind="agent_disk", severity="critical"),
            _disk,
            "agent:a2",
            "磁盘不可写，12 条记录暂存内存",
        ),
        (RuleIn(code="lost", kind="seq_lost", window_s=3600), _lost, "agent:a2", "有 10 条记录已判定丢失"),
        (
            RuleIn(code="dead", kind="dead_letters", threshold=3, window_s=600),
            _dead,
            "school:s1",
            "3 条不合规数据被拒收",
        ),
        (RuleIn(code="skew", kind="clock_skew", threshold=1, window_s=3600), _skew, "agent:a2", "时钟超前约 600 秒"),
        (RuleIn(code="lag", kind="collector_lag", after_s=300), _lag, "agent:a2", "有 50 条记录未能送达"),
        (RuleIn(code="idle", kind="equipment_idle", teaching_days=2), _idle, "device:s1/d3", "已连续 2 个教学日未使用"),
        (
            RuleIn(code="below", kind="below_compliance"),
            _below,
            "school:s1/standard:T",
            "未达到 测试标准（1）：0/1 项达标",
        ),
    ],
)
def test_each_rule_finds_its_condition_and_nothing_without_it(client, rule, make, subject, says):
    sql(client, "DELETE FROM alert_rules")
    with Session(client.app.state.engine) as s, s.begin():
        s.info["actor"] = "test"
        put_rule(s, "1", rule)
    if make is _idle:
        _used(client)
    run = service(client)
    run.evaluate(AT, force=True)
    assert subject not in by_subject(client), "nothing before the condition"
    make(client)
    run.evaluate(AT, force=True)
    found = by_subject(client)
    assert subject in found and says in found[subject]["summary"], found
    assert found[subject]["kind"] == rule.kind


def test_the_last_will_of_the_current_connection_marks_the_agent_offline_and_an_old_one_does_not(client):
    """The will is written when the agent connects, so its `ts` is older than the statuses after it; the `session`
    it carries says which connection it ends (a will of an earlier connection, redelivered, changes nothing)."""
    from campuspulse.telemetry import format_ts
    from campuspulse.telemetry.records import StatusPayload

    writer = client.app.state.writer
    t0 = int(AT.timestamp() * 1000)

    def status(online: bool, ts: int, session: int) -> StatusPayload:
        return StatusPayload(agent="a1", school="s1", online=online, ts=format_ts(ts), session=format_ts(session))

    def online() -> bool | None:
        with client.app.state.engine.connect() as conn:
            return conn.execute(text("SELECT online FROM agents WHERE id = 'a1'")).scalar_one()

    writer.apply_status(status(True, t0 + 1_000, t0), "test")
    writer.apply_status(status(True, t0 + 60_000, t0), "test")
    writer.apply_status(status(False, t0 - 30_000, t0 - 40_000), "test")  # a will of an earlier connection
    assert online()
    writer.apply_status(status(False, t0, t0), "test")  # this connection's will: the broker lost the agent
    assert not online()
    writer.apply_status(status(True, t0 + 90_000, t0 + 85_000), "test")  # reconnected
    assert online()


def test_a_rule_disabled_withdraws_its_open_alerts_and_says_so(client):
    """An alert whose rule is disabled used to stay open for ever: nothing watched its condition any more."""
    seen(client, "a1", at=AT - timedelta(seconds=10), online=False)
    with http_receiver() as robots:
        run = service(client, ChannelSettings(name="hook", kind="webhook", url=f"{robots.url}/hook", secret="s"))
        run.evaluate(AT, force=True)
        assert by_subject(client)["agent:a1"]["state"] == "open"
        with Session(client.app.state.engine) as s, s.begin():
            s.info["actor"] = "test"
            put_rule(s, "2", RuleIn(code="agent-offline", kind="agent_offline", after_s=150, enabled=False))
        assert run.evaluate(AT + timedelta(seconds=30), force=True).get("withdrawn") == 1
        assert "agent:a1" not in by_subject(client)
        gone = by_subject(client, state="resolved")["agent:a1"]
        assert gone["details"]["withdrawn_by_rule_version"] == "2" and gone["resolved_at"] is not None
        run.deliver(AT + timedelta(seconds=30))
        events = [r.json["event"] for r in robots.requests if "agent:a1" in r.body.decode()]
        assert events == ["opened", "withdrawn"]
        assert run.evaluate(AT + timedelta(seconds=60), force=True).get("withdrawn") is None, "once"
        assert "device:s1/d3" in by_subject(client), "the other rule's alerts stay"


def test_an_alert_holding_is_written_at_most_once_a_minute_not_on_every_evaluation(client):
    run = service(client)
    seen(client, "a1", at=AT - timedelta(seconds=10), online=False)
    run.evaluate(AT, force=True)
    updates: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:
        if statement.lstrip().upper().startswith("UPDATE ALERTS"):
            updates.append(statement)

    engine = client.app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for n in range(1, 6):
            run.evaluate(AT + timedelta(seconds=10 * n), force=True)  # the condition holds, nothing else changes
        assert updates == [], "no write while the alert merely holds"
        run.evaluate(AT + timedelta(seconds=70), force=True)
        assert len(updates) >= 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert by_subject(client)["agent:a1"]["holding_at"].startswith((AT + timedelta(seconds=70)).isoformat()[:16])
