"""`campuspulse agent discover` against simulated plugs announcing themselves on a private Mosquitto, and a PJLink
projector at an address the user names."""

import threading

import orjson
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from campuspulse.cli import app as cli
from campuspulse.edge.settings import AgentSettings
from tests.simulators.pjlink import PjlinkSimulator, Projector
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.mqtt

# home-assistant/core tests/components/tasmota/test_switch.py, DEFAULT_CONFIG: a relay without metering whose
# FullTopic is %topic%/%prefix%/ (as Tasmota publishes it retained on tasmota/discovery/<mac>/config)
TASMOTA_RELAY = {
    "dn": "My Device",
    "fn": ["Test", "Beer", "Milk", "Four", "Five"],
    "hn": "tasmota_49A3BC",
    "mac": "00000049A3BC",
    "md": "Sonoff 123",
    "ofl": "offline",
    "onln": "online",
    "state": ["OFF", "ON", "TOGGLE", "HOLD"],
    "sw": "2.3.3.4",
    "t": "tasmota_49A3BC",
    "t_f": "%topic%/%prefix%/",
    "t_p": ["cmnd", "stat", "tele"],
    "li": [0, 0, 0, 0, 0, 0, 0, 0],
    "rl": [1, 0, 0, 0, 0, 0, 0, 0],
    "se": [],
    "ver": 1,
}
# derived: a metering plug's config and sensors messages, in the shape of the same discovery protocol ("sn" holds
# the SENSOR payload, as home-assistant/core's tasmota tests' LIST_SENSOR_CONFIG)
TASMOTA_METER = {"dn": "Lab plug", "mac": "A4CF12AABBCC", "md": "Sonoff Pow R2", "t": "lab-plug", "rl": [1], "ver": 1}
TASMOTA_METER_SENSORS = {"sn": {"Time": "2026-09-07T08:00:00", "ENERGY": {"Power": 86, "Total": 1.2}}, "ver": 1}
# home-assistant-libs/aioshelly tests/rpc_device/fixtures/shellymini1gen4/Shelly.GetDeviceInfo and Shelly.GetStatus
# (the parts read here): a Gen4 relay without a power meter
SHELLY_INFO = {"name": "Shelly 1 Mini Gen4 [DDEEFF]", "id": "shelly1minig4-aabbccddeeff", "model": "S4SW-001X8EU"}
SHELLY_STATUS = {
    "input:0": {"id": 0, "state": False},
    "switch:0": {"id": 0, "source": "WS_in", "output": False, "temperature": {"tC": 64.4, "tF": 147.9}},
    "sys": {"mac": "AABBCCDDEEFF", "uptime": 72831},
}
# derived: a Gen1 announce with the fields bieniu/ha-shellies-discovery's README reads (id, mac, fw_ver) and a model
SHELLY_GEN1_ANNOUNCE = {"id": "shellyplug-s-7C87CE", "model": "SHPLG-S", "mac": "7C87CE000000", "fw_ver": "v1.9.4"}


class Campus:
    """Plugs on a broker: retained Tasmota discovery, a Gen1 plug answering `announce`, a Gen2 device online."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("shellies/command", 0), ("shelly1minig4-aabbccddeeff/rpc", 0)])
        self.client.loop_start()
        self.asked: list[str] = []
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        for topic, body in (
            ("tasmota/discovery/00000049A3BC/config", TASMOTA_RELAY),
            ("tasmota/discovery/A4CF12AABBCC/config", TASMOTA_METER),
            ("tasmota/discovery/A4CF12AABBCC/sensors", TASMOTA_METER_SENSORS),
        ):
            self.client.publish(topic, orjson.dumps(body), retain=True).wait_for_publish(5)
        self.client.publish("shelly1minig4-aabbccddeeff/online", b"true", retain=True).wait_for_publish(5)
        done.wait(5)

    def _message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.asked.append(msg.topic)
        if msg.topic == "shellies/command" and msg.payload == b"announce":
            client.publish("shellies/announce", orjson.dumps(SHELLY_GEN1_ANNOUNCE))
        elif msg.topic.endswith("/rpc"):
            ask = orjson.loads(msg.payload)
            result = SHELLY_INFO if ask["method"] == "Shelly.GetDeviceInfo" else SHELLY_STATUS
            answer = {"id": ask["id"], "src": SHELLY_INFO["id"], "dst": ask["src"], "result": result}
            client.publish(f"{ask['src']}/rpc", orjson.dumps(answer))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_discover_finds_what_announces_itself_and_the_projector_named_and_writes_valid_sections(tmp_path):
    broker = Mosquitto(tmp_path / "broker")
    (tmp_path / "broker").mkdir()
    broker.start()
    campus = Campus(broker.port)
    projector = PjlinkSimulator(Projector())
    projector.start()
    out = tmp_path / "found.yaml"
    try:
        args = ["agent", "discover", "--broker", f"127.0.0.1:{broker.port}", "--seconds", "3", "--write", str(out)]
        args += ["--pjlink", f"127.0.0.1:{projector.port}", "--pjlink", f"127.0.0.1:{free_port()}"]
        result = CliRunner().invoke(cli, args)
    finally:
        campus.close()
        projector.stop()
        broker.stop()
    assert result.exit_code == 0, result.output
    assert "5 device(s) found" in result.output and "no PJLink greeting" in result.output
    devices = yaml.safe_load(out.read_text())["devices"]
    by_topic = {d["source"].get("topic") or d["source"].get("host"): d for d in devices}
    relay = by_topic["tasmota_49A3BC"]["source"]
    assert relay["full_topic"] == "%topic%/%prefix%/" and by_topic["tasmota_49A3BC"]["detector"]["value"] == "relay"
    assert by_topic["lab-plug"]["detector"]["value"] == "power_w", "its sensors carry ENERGY: metered"
    assert by_topic["shelly1minig4-aabbccddeeff"]["source"]["component"] == "switch:0"
    assert by_topic["shellyplug-s-7C87CE"]["source"]["firmware"] == "shelly-gen1"
    assert by_topic["127.0.0.1"]["source"]["driver"] == "pjlink"
    AgentSettings(id="a1", school="s1", devices=devices)  # every section is a valid device as written
    assert "shellies/command" in campus.asked, "Gen1 devices were asked to announce themselves"
