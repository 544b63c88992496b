"""Each device family end to end: a simulator speaking the device's real shapes → the agent as a process of its own
→ Mosquitto → the collector → the store → a utilization figure. The Tasmota plug is the one of
`config/examples/agent-smart-plug.yaml`, as a user would configure it."""

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.collector.service import Collector
from campuspulse.collector.settings import CollectorSettings
from campuspulse.server.inventory import service as inventory
from campuspulse.server.metrics.service import Scope, utilization
from campuspulse.settings import MqttSettings
from campuspulse.store.db import make_engine, upgrade
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.store.schema import StateSegment
from tests.drivers import shelly_captures
from tests.simulators.camera import Camera, CameraSimulator
from tests.simulators.modbus_meter import Meter, ModbusTcpSimulator
from tests.simulators.pjlink import PjlinkSimulator, Projector
from tests.simulators.serial_devices import Balance, ScpiMeter, SerialSimulator
from tests.simulators.shelly_gen1_http import ShellyGen1Http
from tests.simulators.smart_plugs import PlugPublisher
from tests.support.mosquitto import Mosquitto
from tests.support.serial_pty import PtyPair
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
ROOT = Path(__file__).resolve().parents[2]
TZ = "Asia/Shanghai"


def example_plug(port: int) -> dict[str, Any]:
    """The first device of the example smart-plug config, pointed at the test's broker."""
    config = yaml.safe_load((ROOT / "config/examples/agent-smart-plug.yaml").read_text())
    device = config["agent"]["devices"][0]
    device["source"]["broker_port"] = port
    return device | {"id": "d1", "poll_s": 0.3, "reading_every_s": 1}


@contextmanager
def tasmota(broker: int, _tmp: Path) -> Iterator[dict[str, Any]]:
    plug = PlugPublisher(broker)  # answers the STATUS 8 the driver asks for on connect (86 W)
    try:
        yield example_plug(broker)
    finally:
        plug.close()


@contextmanager
def shelly(broker: int, _tmp: Path) -> Iterator[dict[str, Any]]:
    plug = PlugPublisher(broker, answer_after_s=1.0)  # its Switch.GetStatus answer comes after the first polls
    try:
        device = {"id": "d1", "poll_s": 0.3, "reading_every_s": 1}
        device["detector"] = {"value": "power_w", "in_use_above": 8, "idle_below": 5, "off_below": 1}
        device["source"] = {"driver": "smart_plug", "firmware": "shelly", "topic": plug.shelly_id}
        device["source"]["broker_port"] = broker
        yield device
    finally:
        plug.close()


@contextmanager
def pjlink(_broker: int, _tmp: Path) -> Iterator[dict[str, Any]]:
    sim = PjlinkSimulator(Projector(power="1"))
    sim.start()
    try:
        yield {"id": "d1", "poll_s": 0.3, "source": {"driver": "pjlink", "host": "127.0.0.1", "port": sim.port}}
    finally:
        sim.stop()


@contextmanager
def serial_device(
    tmp: Path, respond: Callable[[str], bytes | None], device: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """`device` on a socat pty pair whose far end a simulator answers with `respond`."""
    pty = PtyPair(tmp)
    pty.plug()
    sim = SerialSimulator(pty.far, respond)
    sim.start()
    try:
        device["source"] |= {"driver": "serial_line", "port": pty.device, "timeout_s": 1}
        yield {"id": "d1", "poll_s": 0.3, "reading_every_s": 1} | device
    finally:
        sim.stop()
        pty.unplug()


def balance(_broker: int, tmp: Path) -> Any:
    detector = {"value": "weight_g", "in_use_above": 10, "idle_below": 5, "off_below": -1}
    return serial_device(tmp, Balance(weight_g=80.0).respond, {"detector": detector, "source": {"profile": "mt_sics"}})


@contextmanager
def modbus(_broker: int, _tmp: Path) -> Iterator[dict[str, Any]]:
    meter = Meter()
    meter.set_float("holding", 0, 86.5)
    sim = ModbusTcpSimulator(meter)
    sim.start()
    try:
        registers = [{"name": "power_w", "address": 0, "type": "float32"}]
        yield {
            "id": "d1",
            "poll_s": 0.3,
            "reading_every_s": 1,
            "detector": {"value": "power_w", "in_use_above": 8, "idle_below": 5, "off_below": 1},
            "source": {"driver": "modbus", "host": "127.0.0.1", "port": sim.port, "registers": registers},
        }
    finally:
        sim.stop()


@contextmanager
def camera(_broker: int, _tmp: Path) -> Iterator[dict[str, Any]]:
    sim = CameraSimulator(Camera())
    try:
        url = f"rtsp://127.0.0.1:{sim.rtsp_port}/Streaming/Channels/101"
        yield {"id": "d1", "poll_s": 0.3, "source": {"driver": "camera", "url": url, "timeout_s": 1}}
    finally:
        sim.stop()


def scpi_meter(_broker: int, tmp: Path) -> Any:
    detector = {"value": "voltage_v", "in_use_above": 0.5, "idle_below": 0.2, "off_below": -1}
    source = {"profile": "scpi", "command": "MEAS:VOLT:DC?", "field": "voltage_v"}
    return serial_device(tmp, ScpiMeter(volts=2.5, ending=b"\n").respond, {"detector": detector, "source": source})


@contextmanager
def shelly_gen1_http(_broker: int, _tmp: Path) -> Iterator[dict[str, Any]]:
    device = ShellyGen1Http(shelly_captures.GEN1_STATUS_PLUG_S.payload)
    try:
        yield {
            "id": "d1",
            "poll_s": 0.3,
            "reading_every_s": 1,
            "detector": {"value": "power_w", "in_use_above": 8, "idle_below": 5, "off_below": 1},
            "source": {"driver": "shelly_http", "host": device.host},
        }
    finally:
        device.stop()


FAMILIES: dict[str, Callable[[int, Path], Any]] = {
    "tasmota (example config)": tasmota,
    "shelly gen2": shelly,
    "pjlink": pjlink,
    "mt-sics balance": balance,
    "modbus meter": modbus,
    "camera": camera,
    "scpi meter": scpi_meter,
    "shelly gen1 over http": shelly_gen1_http,
}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_device_of_each_family_reaches_a_figure_through_the_agent_process(tmp_path, family):
    today = date.today()
    (tmp_path / "broker").mkdir()
    with ExitStack() as stack:
        broker = Mosquitto(tmp_path / "broker")
        broker.start()
        stack.callback(broker.stop)
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        stack.callback(engine.dispose)
        upgrade(engine)
        with Session(engine) as s, s.begin():
            s.info["actor"] = "test"
            inventory.put_school(s, "s1", {"name": "S1", "district": "d1", "stage": "junior", "tz": TZ})
            inventory.put_agent(s, "a1", "s1")
            s.flush()
            inventory.put_device(s, "s1", "d1", {"agent": "a1", "room": "lab", "kind": family.split()[0]})
            for day in (today - timedelta(days=1), today, today + timedelta(days=1)):  # whatever the zone's date
                inventory.put_calendar_day(s, "s1", day.isoformat(), [["00:00", "23:59"]])
        collector = Collector(
            MqttSettings(port=broker.port),
            TelemetryWriter(engine),
            options=CollectorSettings(client_id="families"),
        )
        collector.start()
        stack.callback(collector.stop)
        assert collector.connected.wait(10)
        device = stack.enter_context(FAMILIES[family](broker.port, tmp_path))
        config = tmp_path / "agent.yaml"
        agent = {"id": "a1", "school": "s1", "queue_path": str(tmp_path / "q.db"), "valid_s": 3, "heartbeat_s": 1}
        config.write_text(yaml.safe_dump({"mqtt": {"port": broker.port}, "agent": agent | {"devices": [device]}}))
        log = (tmp_path / "agent.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "campuspulse", "agent", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(lambda: proc.poll() is None and proc.kill())

        def in_use_stored() -> bool:
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()[-2000:]
            with Session(engine) as s:
                states = s.scalars(select(StateSegment.state).where(StateSegment.device == "d1")).all()
            return "in_use" in states

        wait_until(in_use_stored, 30, f"the {family} device's in_use state in the store")
        wait_until(lambda: _in_use_s(engine) >= 2, 30, "two seconds of use in the figure")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, (tmp_path / "agent.log").read_text()[-2000:]
        with Session(engine) as s:
            states = set(s.scalars(select(StateSegment.state).where(StateSegment.device == "d1")))
        assert "fault" not in states, f"{family}: {states}"
        log.close()


def _in_use_s(engine: Any) -> float:
    """Seconds in use of the device from yesterday to tomorrow (whatever the school's date is now)."""
    today = date.today()
    first, end = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=2)).isoformat()
    with Session(engine) as s:
        rows = utilization(s, Scope.DEVICE, "s1/d1", first, end)
    return float(rows[0]["in_use_s"]) if rows else 0.0  # type: ignore[arg-type]
