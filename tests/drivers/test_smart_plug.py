"""The smart-plug driver against Tasmota and Shelly Gen2 payloads on a real Mosquitto."""

import asyncio
import threading

import pytest

from campuspulse.drivers import DeviceError
from campuspulse.drivers.smart_plug import SmartPlugConfig, SmartPlugDriver
from campuspulse.edge.agent import EdgeAgent
from campuspulse.edge.queue import RecordQueue
from campuspulse.edge.settings import AgentSettings
from campuspulse.settings import MqttSettings
from tests.simulators.smart_plugs import PlugPublisher
from tests.support.driver_reads import read_until
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt


def test_tasmota_plug_answers_status_8_on_connect_and_then_reports(mosquitto):
    plug = PlugPublisher(mosquitto.port)

    async def go():
        d = SmartPlugDriver(SmartPlugConfig(firmware="tasmota", topic="tasmota_ABC123", broker_port=mosquitto.port))
        await d.open()
        first = await read_until(d, lambda v: v.get("power_w") == 86.0)  # from STATUS8, asked on connect
        plug.garbage()  # ignored
        plug.power = 3.0
        plug.tasmota_sensor()
        second = await read_until(d, lambda v: v.get("power_w") == 3.0)
        plug.tasmota_relay(False)
        third = await read_until(d, lambda v: v.get("relay") == 0.0)
        await d.close()
        return first, second, third

    try:
        first, second, third = asyncio.run(go())
    finally:
        plug.close()
    assert first == {"power_w": 86.0, "voltage_v": 230.0, "current_a": 0.39, "energy_kwh": 1.234}
    assert second["power_w"] == 3.0 and third["relay"] == 0.0


def test_shelly_plug_reports_and_goes_stale(mosquitto):
    plug = PlugPublisher(mosquitto.port)

    async def go():
        d = SmartPlugDriver(
            SmartPlugConfig(
                firmware="shelly", topic="shellyplusplugs-a8032ab1", stale_after_s=0.5, broker_port=mosquitto.port
            )
        )
        await d.open()
        first = await read_until(d, lambda v: True)  # the answer to Switch.GetStatus, asked on open
        plug.shelly_status("shellyplusplugs-a8032ab1", 42.5)
        values = await read_until(d, lambda v: v["power_w"] == 42.5)
        await asyncio.sleep(0.7)
        with pytest.raises(DeviceError, match="no report for"):
            await d.read()
        await d.close()
        return first, values

    try:
        first, values = asyncio.run(go())
    finally:
        plug.close()
    assert first["power_w"] == 86.0 and plug.requests == 1
    assert values == {"power_w": 42.5, "voltage_v": 230.1, "current_a": 0.39, "energy_kwh": 1.2345, "relay": 1.0}


def test_an_unreachable_plug_broker_cannot_be_opened():
    async def go():
        await SmartPlugDriver(SmartPlugConfig(firmware="shelly", topic="x", broker_port=1, connect_timeout_s=1)).open()

    with pytest.raises(OSError):
        asyncio.run(go())


def queued(tmp_path) -> list[dict]:
    queue = RecordQueue(tmp_path / "q.db")
    try:
        return queue.peek(1000)
    finally:
        queue.close()


@pytest.mark.parametrize("firmware", ["tasmota", "shelly"])
def test_an_agent_waits_for_a_plugs_first_report_without_calling_it_a_fault(mosquitto, tmp_path, firmware):
    """The agent opens the plug once, records nothing while the plug has not answered, then its values."""
    plug = PlugPublisher(mosquitto.port, answer_after_s=1.5)
    topic = plug.topic if firmware == "tasmota" else plug.shelly_id
    source = {"driver": "smart_plug", "firmware": firmware, "topic": topic, "broker_port": mosquitto.port}
    settings = AgentSettings(
        id="a1",
        school="s1",
        queue_path=tmp_path / "q.db",
        devices=[{"id": "plug1", "poll_s": 0.1, "reading_every_s": 0.1, "source": source}],
    )
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    agent = EdgeAgent(settings, MqttSettings(port=free_port()))  # no broker for the agent: its records stay queued
    thread = threading.Thread(target=loop.run_until_complete, args=(agent.run(stop),), daemon=True)
    thread.start()
    try:
        wait_until(lambda: any(r["type"] == "reading" for r in queued(tmp_path)), 15, "the plug's first values")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        plug.close()
    records = queued(tmp_path)
    assert [r["state"] for r in records if r["type"] == "state"][:1] == ["in_use"], "86 W: in use, never fault"
    assert next(r for r in records if r["type"] == "reading")["values"]["power_w"] == 86.0
    assert agent.device_errors == {} and plug.requests == 1, "opened once, asked once"
