"""An agent with a serial balance and a simulated plug: unplugging the balance faults it alone."""

import asyncio
import threading
import time

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import generate_latest

from campuspulse.edge.agent import EdgeAgent
from campuspulse.edge.metrics import registry_for
from campuspulse.edge.settings import AgentSettings
from campuspulse.settings import MqttSettings
from tests.simulators.serial_devices import Balance, SerialSimulator
from tests.support.serial_pty import PtyPair
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt


def test_unplugged_balance_is_reported_as_fault_while_the_other_device_keeps_reporting(tmp_path, mosquitto):
    pty = PtyPair(tmp_path)
    pty.plug()
    sim = SerialSimulator(pty.far, Balance(weight_g=80.0).respond)
    sim.start()
    received: list[dict] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, m: received.extend(orjson.loads(m.payload)["records"])
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("campus/v1/s1/serial-agent/records", qos=1)
    sub.loop_start()
    settings = AgentSettings(
        id="serial-agent",
        school="s1",
        queue_path=tmp_path / "q.db",
        valid_s=3,
        heartbeat_s=0.5,
        devices=[
            {
                "id": "balance",
                "poll_s": 0.1,
                "reading_every_s": 0.2,
                "detector": {"value": "weight_g", "in_use_above": 50, "idle_below": 40, "off_below": -1000},
                "source": {"driver": "serial_line", "port": pty.device, "profile": "mt_sics", "timeout_s": 0.3},
            },
            {"id": "plug", "poll_s": 0.1, "source": {"driver": "simulated", "open_hours": ["00:00", "24:00"]}},
        ],
    )
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    agent = EdgeAgent(settings, MqttSettings(port=mosquitto.port))
    thread = threading.Thread(target=loop.run_until_complete, args=(agent.run(stop),), daemon=True)
    thread.start()
    try:
        time.sleep(1.5)
        sim.stop()
        pty.unplug()
        unplugged_at = len(received)
        time.sleep(2.0)
        pty.plug()
        sim = SerialSimulator(pty.far, Balance(weight_g=10.0).respond)
        sim.start()

        def balance_back():
            states = [r["state"] for r in received if r["type"] == "state" and r["device"] == "balance"]
            return states and states[-1] == "idle"

        wait_until(balance_back, 20, "the balance to be read again after its reopen backoff")
        metrics = generate_latest(registry_for(agent)).decode()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        sim.stop()
        pty.unplug()
        sub.loop_stop()
    balance_states = [r["state"] for r in received if r["type"] == "state" and r["device"] == "balance"]
    # in use (80 g), then fault while unplugged, then idle (10 g) once plugged back
    assert balance_states[0] == "in_use"
    assert "fault" in balance_states
    assert balance_states[-1] == "idle"
    assert balance_states.index("fault") < len(balance_states) - 1 - balance_states[::-1].index("idle")
    assert 'campuspulse_agent_driver_errors_total{device="plug"} 0.0' in metrics
    assert 'campuspulse_agent_driver_errors_total{device="balance"} 0.0' not in metrics
    assert "campuspulse_agent_connected 1.0" in metrics
    during = [r for r in received[unplugged_at:] if r["device"] == "plug"]
    assert len(during) >= 3, "the other device kept reporting while the balance was unplugged"
    assert [r["seq"] for r in received] == sorted({r["seq"] for r in received}), "every seq once, in order"
