"""Shelly payloads from public sources through the parsers, and through the driver on a real Mosquitto with the
device's notifications (`events/rpc`) and Gen1 topics."""

import asyncio

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from campuspulse.drivers import DeviceError, NoReportYet
from campuspulse.drivers.shelly_http import ShellyHttpConfig, ShellyHttpDriver
from campuspulse.drivers.shelly_payloads import gen1_value, merge_notification, shelly_values
from campuspulse.drivers.smart_plug import SmartPlugConfig, SmartPlugDriver
from tests.drivers import shelly_captures as cap
from tests.drivers.tasmota_captures import Capture
from tests.simulators.shelly_gen1_http import ShellyGen1Http
from tests.support.driver_reads import read_until


def load(c: Capture) -> dict:
    return orjson.loads(c.payload)


def test_a_metered_switch_gives_power_and_its_relay_an_unmetered_one_its_relay_alone():
    assert shelly_values(load(cap.SWITCH_METERED)) == {"power_w": 85.3, "relay": 1.0}
    assert shelly_values(load(cap.SWITCH_UNMETERED)) == {"relay": 0.0}, "no apower: not a fault, the relay's state"


def test_meters_without_a_relay():
    channels = load(cap.EM1_CHANNELS)
    assert shelly_values(channels["em1:1"], "em1:1") == {"power_w": 123.3}
    three = shelly_values(load(cap.EM_THREE_PHASE), "em:0")
    assert three["power_w"] == 0.067 and three["current_a"] == 0.094
    assert three["voltage_v"] == pytest.approx((0.1 + 0.1 + 233.5) / 3)
    pm1 = shelly_values(load(cap.PM1_METER), "pm1:0")
    assert pm1 == {"power_w": 72.4, "voltage_v": 231.2, "current_a": 0.412, "energy_kwh": pytest.approx(5.123456)}
    with pytest.raises(DeviceError, match="no power and no output"):
        shelly_values({"id": 0, "temperature": {"tC": 40}}, "pm1:0")


def test_notifications_replace_or_overlay_the_known_status():
    full = merge_notification({}, load(cap.NOTIFY_FULL), "switch:0")
    assert full is not None and shelly_values(full)["power_w"] == 41.0
    changed = merge_notification(full, load(cap.NOTIFY_CHANGED), "switch:0")
    assert changed is not None
    assert shelly_values(changed) == {
        "power_w": 7.5,
        "voltage_v": 230.1,
        "current_a": 0.21,
        "energy_kwh": 1.236,
        "relay": 1.0,
    }, "unchanged fields stay, nested aenergy is overlaid"
    assert merge_notification(full, load(cap.NOTIFY_CHANGED), "switch:1") is None, "another component's news"


def test_gen1_topics_carry_plain_numbers_and_words():
    assert gen1_value("power", b"53.41") == {"power_w": 53.41}
    assert gen1_value("energy", b"60000") == {"energy_kwh": 1.0}, "watt-minutes"
    assert gen1_value("", b"on") == {"relay": 1.0}
    with pytest.raises(DeviceError):
        gen1_value("power", b"nan")


def test_every_capture_names_its_source():
    for c in vars(cap).values():
        if isinstance(c, Capture):
            assert c.source and (c.derived == c.source.startswith("derived"))


@pytest.mark.mqtt
@pytest.mark.parametrize("firmware", ["shelly", "shelly-gen1"])
def test_the_driver_follows_notifications_and_gen1_topics_on_a_real_broker(mosquitto, firmware):
    device = mqtt.Client(CallbackAPIVersion.VERSION2)
    device.connect("127.0.0.1", mosquitto.port)
    device.loop_start()
    ident = "shellyplusplugs-a8032ab1" if firmware == "shelly" else "shellyplug-s-7C87CE"

    def send(topic: str, payload: bytes) -> None:
        device.publish(topic, payload).wait_for_publish(5)

    async def go() -> list[dict]:
        component = "switch:0" if firmware == "shelly" else "relay:0"
        config = SmartPlugConfig(firmware=firmware, topic=ident, component=component, broker_port=mosquitto.port)
        d = SmartPlugDriver(config)
        await d.open()
        seen = []
        with pytest.raises(NoReportYet):
            await d.read()
        if firmware == "shelly":
            send(f"{ident}/events/rpc", cap.NOTIFY_FULL.payload)
            seen.append(await read_until(d, lambda v: v.get("power_w") == 41.0))
            send(f"{ident}/events/rpc", cap.NOTIFY_CHANGED.payload)
            seen.append(await read_until(d, lambda v: v.get("power_w") == 7.5))
        else:
            send(f"shellies/{ident}/relay/0", b"on")
            send(f"shellies/{ident}/relay/0/power", b"53.41")  # Gen1 topics as the Shelly Gen1 MQTT docs list them
            seen.append(await read_until(d, lambda v: v.get("power_w") == 53.41))
            send(f"shellies/{ident}/relay/0", b"off")
            seen.append(await read_until(d, lambda v: v.get("relay") == 0.0))
        await d.close()
        return seen

    try:
        seen = asyncio.run(go())
    finally:
        device.loop_stop()
        device.disconnect()
    if firmware == "shelly":
        assert seen[1]["voltage_v"] == 230.1 and seen[1]["relay"] == 1.0
    else:
        assert seen == [{"relay": 1.0, "power_w": 53.41}, {"relay": 0.0, "power_w": 53.41}]


def test_a_gen1_device_polled_over_http_with_basic_credentials():
    device = ShellyGen1Http(cap.GEN1_STATUS_PLUG_S.payload, ("admin", "plug-pass"))
    try:
        config = ShellyHttpConfig(host=device.host, username="admin", password="plug-pass")
        values = asyncio.run(ShellyHttpDriver(config).read()).values
        with pytest.raises(DeviceError, match="asks for credentials"):
            asyncio.run(ShellyHttpDriver(ShellyHttpConfig(host=device.host)).read())
    finally:
        device.stop()
    assert values == {"relay": 1.0, "power_w": 53.41, "energy_kwh": 1.0}
