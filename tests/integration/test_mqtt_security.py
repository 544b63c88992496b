"""The production broker setup on a real Mosquitto: the shipped TLS config, password file and ACL, with agents
made by `campuspulse agent provision`. Agents reach the store over TLS; an agent cannot publish as another or
read others' topics; nobody connects without TLS, without a password, or with an old one."""

import asyncio
import shutil
import signal
import ssl
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from campuspulse.broker_accounts import set_password
from campuspulse.cli import app as cli
from campuspulse.collector.service import Collector
from campuspulse.edge.agent import EdgeAgent
from campuspulse.edge.settings import AgentRoleSettings
from campuspulse.server.inventory import service as inventory
from campuspulse.settings import MqttSettings, load_settings
from campuspulse.store.db import make_engine, upgrade
from campuspulse.store.ingest import TelemetryWriter
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.progress import settled_through
from tests.support.tls import make_certs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
CONFIG = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
COLLECTOR, COLLECTOR_PASSWORD = "campuspulse-collector", "collector password for tests"


class Broker:
    """The shipped production config on a free port, with test certificates and files under a temp dir."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.port = tmp, free_port()
        self.certs = make_certs(tmp / "certs")
        self.passwd, self.acl = tmp / "campuspulse.passwd", tmp / "campuspulse.acl"
        shutil.copy(CONFIG / "campuspulse.acl", self.acl)
        set_password(self.passwd, COLLECTOR, COLLECTOR_PASSWORD)
        conf = (CONFIG / "campuspulse-production.conf").read_text()
        for shipped, here in (
            ("listener 8883", f"listener {self.port} 127.0.0.1"),
            ("/etc/mosquitto/certs/ca.crt", str(self.certs.ca)),
            ("/etc/mosquitto/certs/server.crt", str(self.certs.cert)),
            ("/etc/mosquitto/certs/server.key", str(self.certs.key)),
            ("/etc/mosquitto/campuspulse.passwd", str(self.passwd)),
            ("/etc/mosquitto/campuspulse.acl", str(self.acl)),
            ("/var/lib/mosquitto/", f"{tmp}/"),
        ):
            assert shipped in conf, shipped
            conf = conf.replace(shipped, here)
        self.mosquitto = Mosquitto(tmp, self.port, conf=conf)

    def provision(self, agent: str, school: str) -> Path:
        out = self.tmp / f"{agent}.yaml"
        r = CliRunner().invoke(
            cli,
            [
                "agent",
                "provision",
                "--id",
                agent,
                "--school",
                school,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ca-file",
                str(self.certs.ca),
                "--passwd-file",
                str(self.passwd),
                "--acl-file",
                str(self.acl),
                "--out",
                str(out),
                "--queue-path",
                str(self.tmp / f"{agent}-queue.db"),
            ],
        )
        assert r.exit_code == 0, r.output
        assert out.stat().st_mode & 0o077 == 0, "the agent's config holds its password: owner only"
        return out

    def reload(self) -> None:
        assert self.mosquitto.proc is not None
        self.mosquitto.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)


class Client:
    """A paho client that notes what it receives; `connected` is the CONNACK reason (None: no answer)."""

    def __init__(self, port: int, user: str | None, password: str | None, ca: Path | None) -> None:
        self.got: list[str] = []
        self.reason: int | None = None
        self.answered = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if ca is not None:
            self.c.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._connected
        self.c.on_message = lambda _c, _u, msg: self.got.append(msg.topic)
        try:
            self.c.connect("127.0.0.1", port)
        except (OSError, ssl.SSLError):
            self.answered.set()
            return
        self.c.loop_start()
        self.answered.wait(5)

    def _connected(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self.reason = getattr(reason, "value", reason)  # type: ignore[assignment]
        self.answered.set()

    def ok(self) -> bool:
        return self.reason == 0

    def subscribe(self, *topics: str) -> None:
        for t in topics:
            self.c.subscribe(t, qos=1)
        time.sleep(0.3)

    def publish(self, topic: str) -> None:
        self.c.publish(topic, b'{"v":1}', qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.mosquitto.start()
    yield b
    b.mosquitto.stop()


def password_of(config: Path) -> str:
    mqtt_settings = load_settings(config, AgentRoleSettings).mqtt
    assert mqtt_settings.password is not None
    return mqtt_settings.password.get_secret_value()


def test_a_provisioned_agent_reaches_the_store_over_tls(broker, tmp_path):
    config = broker.provision("a1", "s1")
    broker.reload()
    settings = load_settings(config, AgentRoleSettings)
    assert settings.mqtt.tls and settings.mqtt.username == "a1"
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test"
        inventory.put_school(s, "s1", {"name": "S1", "district": "d1", "stage": "junior", "tz": "Asia/Shanghai"})
        inventory.put_agent(s, "a1", "s1")
        s.flush()
        inventory.put_device(s, "s1", "pc1", {"agent": "a1", "room": "lab", "kind": "pc"})
    tls = {"host": "127.0.0.1", "port": broker.port, "tls": True, "ca_file": broker.certs.ca}
    collector = Collector(
        MqttSettings(**tls, username=COLLECTOR, password=COLLECTOR_PASSWORD),
        TelemetryWriter(engine),
        client_id="secure-collector",
    )
    collector.start()
    assert collector.connected.wait(10), "the collector subscribes over TLS with its own user"
    assert settings.agent is not None
    source = {"driver": "simulated", "use_share": 1.0, "open_hours": ["00:00", "24:00"]}
    devices = [{"id": "pc1", "poll_s": 0.1, "source": source}]
    agent_settings = type(settings.agent).model_validate(
        {**settings.agent.model_dump(), "valid_s": 3, "heartbeat_s": 0.5, "devices": devices}
    )
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(EdgeAgent(agent_settings, settings.mqtt).run(stop),), daemon=True
    )
    thread.start()
    try:

        def settled() -> int:
            with Session(engine) as s:
                return settled_through(s, "a1")

        wait_until(lambda: settled() >= 5, 30, "records of the TLS agent settled in the store")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        collector.stop()
        engine.dispose()


def test_an_agent_can_neither_publish_as_another_nor_read_others(broker):
    a1 = Client(broker.port, "a1", password_of(broker.provision("a1", "s1")), broker.certs.ca)
    a2 = Client(broker.port, "a2", password_of(broker.provision("a2", "s1")), broker.certs.ca)
    broker.reload()
    a1.close()
    a2.close()
    a1 = Client(broker.port, "a1", password_of(broker.tmp / "a1.yaml"), broker.certs.ca)
    a2 = Client(broker.port, "a2", password_of(broker.tmp / "a2.yaml"), broker.certs.ca)
    collector = Client(broker.port, COLLECTOR, COLLECTOR_PASSWORD, broker.certs.ca)
    assert a1.ok() and a2.ok() and collector.ok()
    collector.subscribe("campus/v1/+/+/records", "campus/v1/+/+/status")
    a1.subscribe("campus/v1/s1/a1/cmd", "campus/v1/s1/a2/cmd", "campus/v1/+/+/records", "campus/v1/s1/+/status")
    a1.publish("campus/v1/s1/a1/records")  # its own: delivered
    a1.publish("campus/v1/s1/a2/records")  # as another agent of its school
    a1.publish("campus/v1/s2/a1/records")  # as itself at another school
    a1.publish("campus/v1/s1/a1/cmd")  # a command to itself
    a2.publish("campus/v1/s1/a2/records")  # the other agent's own: delivered to the collector, not to a1
    collector.publish("campus/v1/s1/a2/cmd")
    collector.publish("campus/v1/s1/a1/cmd")
    wait_until(lambda: "campus/v1/s1/a1/cmd" in a1.got, 10, "a1 to get its own command")
    time.sleep(1)
    assert sorted(collector.got) == ["campus/v1/s1/a1/records", "campus/v1/s1/a2/records"]
    assert a1.got == ["campus/v1/s1/a1/cmd"], "a1 reads its own command topic and nothing else"
    for c in (a1, a2, collector):
        c.close()


def test_no_connection_without_tls_a_password_or_with_a_renewed_one(broker):
    config = broker.provision("a1", "s1")
    old = password_of(config)
    broker.reload()
    assert Client(broker.port, "a1", old, broker.certs.ca).ok()
    assert not Client(broker.port, "a1", old, None).ok(), "plain TCP to the TLS listener gets no MQTT answer"
    assert not Client(broker.port, None, None, broker.certs.ca).ok(), "anonymous: refused"
    assert not Client(broker.port, "a1", "guess", broker.certs.ca).ok(), "wrong password: refused"
    new = password_of(broker.provision("a1", "s1"))
    broker.reload()
    assert not Client(broker.port, "a1", old, broker.certs.ca).ok(), "a renewed agent's old password is refused"
    assert Client(broker.port, "a1", new, broker.certs.ca).ok()


def test_an_agent_names_refused_credentials_and_only_those(broker, caplog):
    """A wrong password is logged as refused credentials; a broker that goes away is only unreachable."""
    settings = load_settings(broker.provision("a1", "s1"), AgentRoleSettings)
    broker.reload()
    assert settings.agent is not None
    devices = [{"id": "pc1", "poll_s": 0.1, "source": {"driver": "simulated"}}]
    agent_settings = type(settings.agent).model_validate({**settings.agent.model_dump(), "devices": devices})

    def run(mqtt_settings: MqttSettings, until: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.new_event_loop()
        agent = EdgeAgent(agent_settings, mqtt_settings)
        thread = threading.Thread(target=loop.run_until_complete, args=(agent.run(stop),), daemon=True)
        thread.start()
        try:
            if until == "broker unreachable":
                wait_until(agent.publisher.connected.is_set, 30, "the agent to connect")
                broker.mosquitto.stop()
            wait_until(lambda: until in caplog.text, 30, until)
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(15)

    wrong = settings.mqtt.model_copy(update={"password": SecretStr("guess")})
    run(wrong, "refused its credentials")
    assert "check mqtt.username and mqtt.password" in caplog.text
    caplog.clear()
    run(settings.mqtt, "broker unreachable")
    assert "refused its credentials" not in caplog.text, "a lost connection is not blamed on the password"


def test_the_dashboard_hands_an_agent_its_config_with_a_new_password_the_broker_takes_at_once(broker, tmp_path):
    """Campus IT downloads an agent's config from /ui/agents: the server sets the password and ACL in the broker's
    files and reloads it; the config's password connects, the previous one stops, and each issue is audited."""
    import yaml
    from fastapi.testclient import TestClient

    from campuspulse.config_files import ConfigError
    from campuspulse.server.app import create_app
    from campuspulse.server.settings import AgentBrokerSettings
    from tests.support.campus import AUTH, TOKEN
    from tests.support.dashboard_campus import seed
    from tests.support.pages import form_token, logged_in

    assert broker.mosquitto.proc is not None
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.mosquitto.proc.pid}\n")
    settings = AgentBrokerSettings(
        host="127.0.0.1",
        port=broker.port,
        ca_file=str(broker.certs.ca),
        passwd_file=broker.passwd,
        acl_file=broker.acl,
        pid_file=pid_file,
        queue_path=str(tmp_path / "queue.db"),
    )
    app = create_app(f"sqlite:///{tmp_path / 'store.db'}", admin_token=TOKEN, agent_broker=settings)
    seed(app.state.engine, back=1)
    listed = TestClient(app).get("/api/v1/agents", headers=AUTH).json()["agents"]
    agent = next(a["id"] for a in listed if a["school"].startswith("hd-"))  # an agent of the manager's district
    passwords = []
    with logged_in(app, "hd-manager-2") as c:
        page = c.get("/ui/agents")
        assert page.status_code == 200 and f'action="/ui/agents/{agent}/config"' in page.text
        for _ in range(2):
            r = c.post(f"/ui/agents/{agent}/config", data={"csrf": form_token(page.text)})
            assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
            config = tmp_path / f"{agent}.yaml"
            config.write_bytes(r.content)
            passwords.append(yaml.safe_load(r.content)["mqtt"]["password"])
            time.sleep(0.5)  # the broker rereads its files on the server's SIGHUP
        forged = c.post(f"/ui/agents/{agent}/config", data={"csrf": "forged"})
        assert forged.status_code == 403
    body = yaml.safe_load(config.read_text())
    assert body["agent"]["id"] == agent and body["mqtt"]["tls"] and body["mqtt"]["ca_file"] == str(broker.certs.ca)
    assert all(d["source"]["driver"] == "set-me" for d in body["agent"]["devices"]) and body["agent"]["devices"]
    old, new = passwords
    assert not Client(broker.port, agent, old, broker.certs.ca).ok(), "issuing again ends the old password"
    fresh = Client(broker.port, agent, new, broker.certs.ca)
    assert fresh.ok(), "the config's password connects over TLS"
    fresh.close()
    with pytest.raises(ConfigError, match="set-me"):
        load_settings(config, AgentRoleSettings)  # the agent refuses to start until each device's source is set
    entries = TestClient(app).get("/api/v1/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]
    issued = [e for e in entries if e["entity"] == "agent" and (e["new"] or {}).get("credentials_issued_by")]
    assert len(issued) == 2 and issued[-1]["actor"] == "hd-manager-2"
    with logged_in(app, "cy-auditor") as c:
        assert (
            c.post(f"/ui/agents/{agent}/config", data={"csrf": form_token(c.get("/ui/agents").text)}).status_code == 403
        )
    app.state.engine.dispose()
