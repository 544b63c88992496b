"""Tasmota payloads as devices publish them, each naming the public source it was taken from; a payload derived
rather than captured says so."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capture:
    """A payload, where it was found, and whether it was derived rather than captured."""

    payload: bytes
    source: str
    derived: bool = False


SINGLE_CHANNEL = Capture(
    b'{"Time": "2022-01-11T21:57:38", "ENERGY": {"TotalStartTime": "2020-10-21T22:15:00", "Total": 3.705, '
    b'"Yesterday": 0.028, "Today": 0.026, "Period": 1, "Power": 5, "ApparentPower": 5, "ReactivePower": 0, '
    b'"Factor": 1.00, "Voltage": 233, "Current": 0.021}}',
    "https://blog.mylocalbytes.com/kb/2022-01-10/LB-PM-Power-Monitoring, 'Via MQTT' (tele/livingroom-lamp/SENSOR)",
)
TOTAL_PER_CHANNEL = Capture(
    b'{"Time": "2020-09-25T12:47:15", "ENERGY": {"TotalStartTime": "2018-11-23T15:33:47", "Total": [0.000, 0.017], '
    b'"TotalTariff": [0.000, 0.017], "Yesterday": 0.000, "Today": 0.002, "ExportActive": 0.000, '
    b'"ExportTariff": [0.000, 0.000], "Period": 0.00, "Power": 0.00, "ApparentPower": 7.84, "ReactivePower": -7.21, '
    b'"Factor": 0.39, "Frequency": 50.0, "Voltage": 234.31, "Current": 0.039, "ImportActive": 12.580, '
    b'"ImportReactive": 0.002, "ExportReactive": 39.131, "PhaseAngle": 290.45}}',
    "home-assistant/core tests/components/tasmota/test_sensor.py, LIST_SENSOR_CONFIG_2",
)
TOTAL_PER_PHASE = Capture(
    b'{"ENERGY":{"Total":{"Phase1":1.2, "Phase2":3.4},"TotalStartTime":"2018-11-23T15:33:47"}}',
    "home-assistant/core tests/components/tasmota/test_sensor.py, DICT_SENSOR_CONFIG_2 (its first message)",
)
POWER_PER_CHANNEL = Capture(
    b'{"Time":"2026-09-07T08:00:00","ENERGY":{"TotalStartTime":"2026-09-01T08:00:00","Total":[0.512,1.204],'
    b'"Yesterday":[0.1,0.2],"Today":[0.05,0.07],"Power":[23.63,67.17],"ApparentPower":[30,80],'
    b'"ReactivePower":[18,43],"Factor":[0.79,0.84],"Voltage":[229,229],"Current":[0.13,0.35]}}',
    "derived: the array-per-channel ENERGY shape of Tasmota's energy driver (tasmota/tasmota_xdrv_driver/"
    "xdrv_03_energy.ino) as a two-channel device (Shelly 2.5, ADE7953) publishes it; the numbers are made up",
    derived=True,
)
CT_SENSOR = Capture(
    b'{"ANALOG":{"CTEnergy1":{"Energy":0.5,"Power":2300,"Voltage":230,"Current":10}}}',
    "home-assistant/core tests/components/tasmota/test_sensor.py, NUMBERED_SENSOR_CONFIG_2 (its first message)",
)
CT_SENSOR_STATUS8 = Capture(
    b'{"StatusSNS":{"ANALOG":{"CTEnergy1":{"Energy":1.0,"Power":1150,"Voltage":230,"Current":5}}}}',
    "home-assistant/core tests/components/tasmota/test_sensor.py, NUMBERED_SENSOR_CONFIG_2 (its STATUS 8 answer)",
)
RELAY_STATE_ON = Capture(
    b'{"POWER":"ON"}',
    "home-assistant/core tests/components/tasmota/test_switch.py, test_controlling_state_via_mqtt "
    "(topic tasmota_49A3BC/tele/STATE, FullTopic %topic%/%prefix%/)",
)
RELAY_STATE_OFF = Capture(
    b'{"POWER":"OFF"}',
    "home-assistant/core tests/components/tasmota/test_switch.py, test_controlling_state_via_mqtt",
)
