"""Shelly payloads as devices send them, each naming the public source it was taken from; a payload derived rather
than captured says so."""

from tests.drivers.tasmota_captures import Capture

SWITCH_METERED = Capture(
    b'{"id": 0, "output": true, "apower": 85.3}',
    "home-assistant/core tests/components/shelly/conftest.py (198765db), MOCK_STATUS_RPC['switch:0']",
)
SWITCH_UNMETERED = Capture(  # Shelly Mini 1 Gen4: a relay without a power meter
    b'{"id": 0, "source": "WS_in", "output": false, "temperature": {"tC": 64.4, "tF": 147.9}}',
    "home-assistant-libs/aioshelly tests/rpc_device/fixtures/shellymini1gen4/Shelly.GetStatus, 'switch:0'",
)
EM1_CHANNELS = Capture(
    b'{"em1:0": {"act_power": 85.3}, "em1:1": {"act_power": 123.3}, '
    b'"em1data:0": {"total_act_energy": 123456.4}, "em1data:1": {"total_act_energy": 987654.3}}',
    "home-assistant/core tests/components/shelly/conftest.py (198765db), MOCK_STATUS_RPC em1:0, em1:1",
)
EM_THREE_PHASE = Capture(  # Shelly Pro 3EM, EM.GetStatus?id=0, one phase loaded
    b'{"id": 0, "a_current": 0.041, "a_voltage": 0.1, "a_act_power": -0.0, "a_aprt_power": 0.0, "a_pf": 1.00, '
    b'"b_current": 0.027, "b_voltage": 0.1, "b_act_power": 0.0, "b_aprt_power": 0.0, "b_pf": 1.00, '
    b'"c_current": 0.026, "c_voltage": 233.5, "c_act_power": 0.1, "c_aprt_power": 6.1, "c_pf": 1.00, '
    b'"n_current": null, "total_current": 0.094, "total_act_power": 0.067, "total_aprt_power": 6.140, '
    b'"user_calibrated_phase": [], "errors": ["no_load"]}',
    "Edzelf/venus-control Platformio/src/Shelly_pro_3.h (the EM.GetStatus answer quoted in its header comment)",
)
PM1_METER = Capture(
    b'{"id": 0, "voltage": 231.2, "current": 0.412, "apower": 72.4, "freq": 50.0, '
    b'"aenergy": {"total": 5123.456, "by_minute": [1201.3, 1198.7, 1204.1], "minute_ts": 1788739200}}',
    "derived: the PM1 component's status fields of the Shelly Gen2 API docs (ComponentsAndServices/PM1, "
    "GetStatus) for a PM Mini; the numbers are made up",
    derived=True,
)
NOTIFY_FULL = Capture(
    b'{"src": "shellyplusplugs-a8032ab1", "dst": "shellyplusplugs-a8032ab1/events", "method": "NotifyFullStatus", '
    b'"params": {"ts": 1788739200.0, "switch:0": {"id": 0, "source": "init", "output": true, "apower": 41.0, '
    b'"voltage": 230.1, "current": 0.21, "aenergy": {"total": 1234.5, "by_minute": [0, 0, 0], '
    b'"minute_ts": 1788739200}}, "sys": {"uptime": 12}}}',
    "derived: a NotifyFullStatus frame as the Shelly Gen2 API docs describe it (General/Notifications, "
    "General/RPCProtocol), with the switch status of home-assistant/core's MOCK_STATUS_RPC fields",
    derived=True,
)
NOTIFY_CHANGED = Capture(
    b'{"src": "shellyplusplugs-a8032ab1", "dst": "shellyplusplugs-a8032ab1/events", "method": "NotifyStatus", '
    b'"params": {"ts": 1788739260.0, "switch:0": {"id": 0, "apower": 7.5, "aenergy": {"total": 1236.0}}}}',
    "derived: a NotifyStatus frame carrying only the changed fields (Shelly Gen2 API docs, General/Notifications: "
    "'overlay the changes from NotifyStatus over a known status')",
    derived=True,
)
GEN1_STATUS_PLUG_S = Capture(
    b'{"wifi_sta": {"connected": true, "ssid": "lab", "ip": "192.168.1.50", "rssi": -61}, "cloud": {"enabled": false, '
    b'"connected": false}, "mqtt": {"connected": false}, "time": "08:00", "has_update": false, '
    b'"mac": "7C87CE000000", "relays": [{"ison": true, "has_timer": false, "timer_started": 0, "timer_duration": 0, '
    b'"timer_remaining": 0, "overpower": false, "source": "http"}], "meters": [{"power": 53.41, "overpower": 0.0, '
    b'"is_valid": true, "timestamp": 1788739200, "counters": [52.1, 53.0, 53.3], "total": 60000}], '
    b'"temperature": 36.2, "overtemperature": false, "uptime": 3605}',
    "derived: a Shelly Plug S's GET /status with the fields evcc-io/evcc meter/shelly/gen1api_types.go reads "
    "(meters[].power, total; relays[].ison) as the Shelly Gen1 API docs lay them out; the numbers are made up",
    derived=True,
)
