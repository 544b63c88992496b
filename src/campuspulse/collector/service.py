"""The MQTT collector (paho-mqtt 2): a message is acknowledged only after the ledger committed it.

Messages are handled in paho's network thread with manual acks. If the ledger cannot be written,
the message stays unacknowledged, the collector drops the connection and reconnects with backoff,
and the broker redelivers it from the persistent session.
"""

import logging
import ssl
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from campuspulse.backoff import delays
from campuspulse.server.ledger.ingest import Ledger
from campuspulse.settings import MqttSettings
from campuspulse.telemetry import ContractError, TopicKind, parse_records_payload, parse_status_payload, parse_topic
from campuspulse.telemetry.topics import subscription

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CollectorCounters:
    """What the collector has done since it started."""

    messages: int = 0
    records_stored: int = 0
    duplicates: int = 0
    pending: int = 0
    dead_letters: int = 0
    write_failures: int = 0


class Collector:
    """Subscribes to every agent's records and status and writes them to the ledger."""

    def __init__(self, mqtt_settings: MqttSettings, ledger: Ledger, client_id: str = "campuspulse-collector") -> None:
        self.settings, self.ledger = mqtt_settings, ledger
        self.counters = CollectorCounters()
        self.connected = threading.Event()  # set once subscribed
        self._stop = threading.Event()
        self._reset = threading.Event()
        v5 = mqtt_settings.protocol == "5"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if mqtt_settings.username:
            pw = mqtt_settings.password.get_secret_value() if mqtt_settings.password else None
            self.client.username_pw_set(mqtt_settings.username, pw)
        if mqtt_settings.tls:
            ctx = ssl.create_default_context(cafile=str(mqtt_settings.ca_file) if mqtt_settings.ca_file else None)
            self.client.tls_set_context(ctx)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._thread = threading.Thread(target=self._supervise, name="collector-supervisor", daemon=True)

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (retrying in the background) and start handling messages."""
        self._connect()
        self.client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()
        self._thread.join(5)

    def _connect(self) -> None:
        kw: dict[str, object] = {}
        if self.settings.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 7 * 24 * 3600
            props.ReceiveMaximum = 1000
            kw = {"clean_start": False, "properties": props}
        try:
            self.client.connect(self.settings.host, self.settings.port, self.settings.keepalive_s, **kw)
        except OSError as exc:  # paho's loop retries; say why meanwhile
            log.warning("collector: broker %s:%s unreachable (%s)", self.settings.host, self.settings.port, exc)
            self.client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive_s, **kw)

    def _supervise(self) -> None:
        backoff = delays(1.0, 30.0)
        while not self._stop.wait(5.0 if not self._reset.is_set() else 0):
            if self._reset.is_set():
                wait = next(backoff)
                log.warning("collector: ledger write failed; reconnecting in %.1f s for redelivery", wait)
                self.client.disconnect()
                self.client.loop_stop()
                if self._stop.wait(wait):
                    return
                self._reset.clear()
                self._connect()
                self.client.loop_start()
                continue
            backoff = delays(1.0, 30.0)
            try:
                self.ledger.settle_stale_gaps()
            except Exception:
                log.exception("collector: settling seq gaps failed")

    # callbacks ---------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("collector: connection refused: %s", reason)
            return
        prefix = self.settings.topic_prefix
        client.subscribe([(subscription(TopicKind.RECORDS, prefix), 1), (subscription(TopicKind.STATUS, prefix), 1)])

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[object], _p: object) -> None:
        if any(getattr(r, "is_failure", False) for r in reasons):
            log.error("collector: subscription refused: %s", reasons)
            return
        self.connected.set()
        log.info("collector connected to %s:%s and subscribed", self.settings.host, self.settings.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if self._reset.is_set():
            return  # not acked: redelivered after the reconnect
        try:
            self.handle(msg.topic, msg.payload)
        except Exception:
            self.counters.write_failures += 1
            log.exception("collector: could not store the message on %s; it will be redelivered", msg.topic)
            self._reset.set()
            return
        client.ack(msg.mid, msg.qos)

    def handle(self, topic_name: str, payload: bytes) -> None:
        """Validate and store one message; contract breaches become dead letters. Raises if the ledger fails."""
        self.counters.messages += 1
        source = f"mqtt:{topic_name}"
        try:
            topic = parse_topic(topic_name, self.settings.topic_prefix)
            if topic.kind is TopicKind.RECORDS:
                batch = parse_records_payload(payload, topic)
            elif topic.kind is TopicKind.STATUS:
                status = parse_status_payload(payload, topic)
            else:
                return
        except ContractError as exc:
            self.ledger.dead_letter(source, str(exc), payload.decode("utf-8", "replace"))
            self.counters.dead_letters += 1
            return
        if topic.kind is TopicKind.STATUS:
            if self.ledger.apply_status(status, source) is not None:
                self.counters.dead_letters += 1
            return
        result = self.ledger.ingest(batch, source)
        self.counters.records_stored += result.stored
        self.counters.duplicates += result.duplicates
        self.counters.pending += result.pending
        self.counters.dead_letters += result.dead_letters
