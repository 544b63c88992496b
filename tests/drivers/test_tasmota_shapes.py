"""Tasmota payloads from public sources through the smart-plug driver's parsers, and through the driver on a real
Mosquitto under a custom FullTopic."""

import asyncio

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from campuspulse.drivers import DeviceError
from campuspulse.drivers.smart_plug import SmartPlugConfig, SmartPlugDriver
from campuspulse.drivers.tasmota_payloads import tasmota_relay, tasmota_values
from tests.drivers import tasmota_captures as cap
from tests.support.driver_reads import read_until


def load(c: cap.Capture) -> object:
    return orjson.loads(c.payload)


def test_a_single_channel_plug_gives_power_voltage_current_and_energy():
    assert tasmota_values(load(cap.SINGLE_CHANNEL)) == {
        "power_w": 5.0,
        "current_a": 0.021,
        "energy_kwh": 3.705,
        "voltage_v": 233.0,
    }


def test_multi_channel_values_are_summed_or_one_channel_is_chosen():
    both = tasmota_values(load(cap.POWER_PER_CHANNEL))
    assert both["power_w"] == pytest.approx(90.8) and both["current_a"] == pytest.approx(0.48)
    assert both["energy_kwh"] == pytest.approx(1.716) and both["voltage_v"] == 229.0
    second = tasmota_values(load(cap.POWER_PER_CHANNEL), channel=2)
    assert second == {"power_w": 67.17, "current_a": 0.35, "energy_kwh": 1.204, "voltage_v": 229.0}
    assert tasmota_values(load(cap.TOTAL_PER_CHANNEL))["energy_kwh"] == pytest.approx(0.017)
    assert tasmota_values(load(cap.TOTAL_PER_CHANNEL), channel=1)["energy_kwh"] == 0.0
    assert tasmota_values(load(cap.TOTAL_PER_PHASE)) == {"energy_kwh": pytest.approx(4.6)}
    assert tasmota_values(load(cap.TOTAL_PER_PHASE), channel=2) == {"energy_kwh": 3.4}


def test_a_meter_without_energy_gives_power_at_its_path_and_says_what_to_set_otherwise():
    assert tasmota_values(load(cap.CT_SENSOR), power_path="ANALOG.CTEnergy1.Power") == {"power_w": 2300.0}
    assert tasmota_values(load(cap.CT_SENSOR_STATUS8), power_path="ANALOG.CTEnergy1.Power") == {"power_w": 1150.0}
    with pytest.raises(DeviceError, match="set power_path"):
        tasmota_values(load(cap.CT_SENSOR))
    with pytest.raises(DeviceError, match=r"no ANALOG\.CTEnergy9\.Power"):
        tasmota_values(load(cap.CT_SENSOR), power_path="ANALOG.CTEnergy9.Power")


def test_relay_states_come_from_state_objects_and_plain_words():
    assert tasmota_relay(cap.RELAY_STATE_ON.payload, 1) == 1.0
    assert tasmota_relay(cap.RELAY_STATE_OFF.payload, 1) == 0.0
    assert tasmota_relay(b'{"POWER1":"OFF","POWER2":"ON"}', 2) == 1.0  # derived: POWERn keys of a two-relay STATE
    assert tasmota_relay(b'{"POWER":"ON"}', 2) is None, "relay 2 is not relay 1"
    assert tasmota_relay(b"ON", 1) == 1.0 and tasmota_relay(b"garbage", 1) is None


def test_every_capture_names_its_source():
    for c in vars(cap).values():
        if isinstance(c, cap.Capture):
            assert c.source and (c.derived == c.source.startswith("derived"))


@pytest.mark.mqtt
def test_a_relay_without_metering_under_a_custom_full_topic_reports_its_state(mosquitto):
    """The device of home-assistant's test_switch: FullTopic %topic%/%prefix%/, no energy monitor. The driver
    asks for the relay's state on open (`tasmota_49A3BC/cmnd/POWER`) and follows `tele/STATE`."""
    asked: list[str] = []
    device = mqtt.Client(CallbackAPIVersion.VERSION2)

    def on_message(client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        asked.append(msg.topic)
        if msg.topic == "tasmota_49A3BC/cmnd/POWER":  # what Tasmota answers to an empty POWER command
            client.publish("tasmota_49A3BC/stat/RESULT", b'{"POWER":"OFF"}')

    device.on_message = on_message
    device.connect("127.0.0.1", mosquitto.port)
    device.subscribe("tasmota_49A3BC/cmnd/#")
    device.loop_start()

    async def go() -> tuple[dict, dict]:
        config = SmartPlugConfig(
            firmware="tasmota", topic="tasmota_49A3BC", full_topic="%topic%/%prefix%/", broker_port=mosquitto.port
        )
        d = SmartPlugDriver(config)
        await d.open()
        first = await read_until(d, lambda v: True)
        device.publish("tasmota_49A3BC/tele/STATE", cap.RELAY_STATE_ON.payload).wait_for_publish(5)
        second = await read_until(d, lambda v: v.get("relay") == 1.0)
        await d.close()
        return first, second

    try:
        first, second = asyncio.run(go())
    finally:
        device.loop_stop()
        device.disconnect()
    assert first == {"relay": 0.0} and second == {"relay": 1.0}
    assert sorted(asked) == ["tasmota_49A3BC/cmnd/POWER", "tasmota_49A3BC/cmnd/STATUS"]
