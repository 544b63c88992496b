"""The smart-plug driver against Tasmota and Shelly Gen2 payloads on a real Mosquitto."""

import asyncio

import pytest

from campuspulse.drivers import DeviceError
from campuspulse.drivers.smart_plug import SmartPlugConfig, SmartPlugDriver
from tests.simulators.smart_plugs import PlugPublisher

pytestmark = pytest.mark.mqtt


async def poll_until(driver, predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            obs = await driver.read()
            if predicate(obs.values):
                return obs.values
        except DeviceError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no matching report")
        await asyncio.sleep(0.05)


def test_tasmota_plug_answers_status_8_on_connect_and_then_reports(mosquitto):
    plug = PlugPublisher(mosquitto.port)

    async def go():
        d = SmartPlugDriver(SmartPlugConfig(firmware="tasmota", topic="tasmota_ABC123", broker_port=mosquitto.port))
        await d.open()
        first = await poll_until(d, lambda v: v.get("power_w") == 86.0)  # from STATUS8, asked on connect
        plug.garbage()  # ignored
        plug.power = 3.0
        plug.tasmota_sensor()
        second = await poll_until(d, lambda v: v.get("power_w") == 3.0)
        plug.tasmota_relay(False)
        third = await poll_until(d, lambda v: v.get("relay") == 0.0)
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
        with pytest.raises(DeviceError, match="no report yet"):
            await d.read()
        plug.shelly_status("shellyplusplugs-a8032ab1", 42.5)
        values = await poll_until(d, lambda v: True)
        await asyncio.sleep(0.7)
        with pytest.raises(DeviceError, match="no report for"):
            await d.read()
        await d.close()
        return values

    try:
        values = asyncio.run(go())
    finally:
        plug.close()
    assert values == {"power_w": 42.5, "voltage_v": 230.1, "current_a": 0.39, "energy_kwh": 1.2345, "relay": 1.0}


def test_an_unreachable_plug_broker_cannot_be_opened():
    async def go():
        await SmartPlugDriver(SmartPlugConfig(firmware="shelly", topic="x", broker_port=1, connect_timeout_s=1)).open()

    with pytest.raises(OSError):
        asyncio.run(go())
