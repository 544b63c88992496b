"""Smart plugs publishing their reports to a real broker, in the payload shapes their firmware uses."""

import threading

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class PlugPublisher:
    """Publishes Tasmota and Shelly Gen2 reports; answers Tasmota's `cmnd/<topic>/STATUS 8` and Shelly's
    `Switch.GetStatus` RPC on `<shelly_id>/rpc` (after `answer_after_s`), counting the requests."""

    def __init__(
        self,
        port: int,
        tasmota_topic: str = "tasmota_ABC123",
        shelly_id: str = "shellyplusplugs-a8032ab1",
        answer_after_s: float = 0.0,
    ) -> None:
        self.topic, self.shelly_id, self.answer_after_s = tasmota_topic, shelly_id, answer_after_s
        self.power = 86.0
        self.requests = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_command
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(f"cmnd/{tasmota_topic}/STATUS", 0), (f"{shelly_id}/rpc", 0)])
        self.client.loop_start()

    def _energy(self) -> dict:
        return {
            "TotalStartTime": "2026-09-01T08:00:00",
            "Total": 1.234,
            "Yesterday": 0.2,
            "Today": 0.1,
            "Power": self.power,
            "ApparentPower": 95,
            "ReactivePower": 40,
            "Factor": 0.9,
            "Voltage": 230,
            "Current": 0.39,
        }

    def _on_command(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.requests += 1
        threading.Timer(self.answer_after_s, self._answer, (msg.topic, msg.payload)).start()

    def _answer(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/STATUS") and payload == b"8":
            body = {"StatusSNS": {"Time": "2026-09-07T08:00:00", "ENERGY": self._energy()}}
            self.client.publish(f"stat/{self.topic}/STATUS8", orjson.dumps(body))
        elif topic.endswith("/rpc"):
            # Shelly Gen2 RPC over MQTT: the answer goes to `<src>/rpc` (Shelly Gen2 API docs, "RPC Channels: MQTT";
            # derived from the documented frame and the switch status below, not captured)
            ask = orjson.loads(payload)
            answer = {"id": ask["id"], "src": self.shelly_id, "dst": ask["src"], "result": self._switch(self.power)}
            self.client.publish(f"{ask['src']}/rpc", orjson.dumps(answer))

    def tasmota_sensor(self) -> None:
        body = {"Time": "2026-09-07T08:00:10", "ENERGY": self._energy()}
        self.client.publish(f"tele/{self.topic}/SENSOR", orjson.dumps(body)).wait_for_publish(5)

    def tasmota_relay(self, on: bool) -> None:
        self.client.publish(f"stat/{self.topic}/POWER", b"ON" if on else b"OFF").wait_for_publish(5)

    @staticmethod
    def _switch(apower: float, output: bool = True) -> dict:
        return {
            "id": 0,
            "source": "timer",
            "output": output,
            "apower": apower,
            "voltage": 230.1,
            "current": 0.39,
            "aenergy": {"total": 1234.5, "by_minute": [0, 0, 0], "minute_ts": 1788739200},
            "temperature": {"tC": 45.0, "tF": 113.0},
        }

    def shelly_status(self, device: str, apower: float, output: bool = True) -> None:
        body = self._switch(apower, output)
        self.client.publish(f"{device}/status/switch:0", orjson.dumps(body)).wait_for_publish(5)

    def garbage(self) -> None:
        self.client.publish(f"tele/{self.topic}/SENSOR", b"{not json").wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
