"""The MQTT collector (paho-mqtt 2): batches of messages are acknowledged only after the store committed them.

paho's network thread only queues messages; a writer thread takes up to `batch_max_messages` (or
what arrives within `batch_max_delay_ms`), writes them to the store in one transaction, spools
their time-series lines to disk, and then acks them (manual acks). If the store cannot be
written, nothing of the batch is acked: the collector drops the connection, reconnects with
backoff, and the broker redelivers from the persistent session. With `shared_group` several
collectors split the load through `$share/<group>/…`.
"""

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import Histogram

from campuspulse.backoff import delays
from campuspulse.collector.settings import CollectorSettings
from campuspulse.collector.timeseries import TimeSeriesSink
from campuspulse.settings import MqttSettings
from campuspulse.store.db import store_unavailable
from campuspulse.store.ingest import TelemetryWriter
from campuspulse.telemetry import (
    ContractError,
    ParsedBatch,
    StatusPayload,
    TopicKind,
    parse_records_payload,
    parse_status_payload,
    parse_topic,
)
from campuspulse.telemetry.line_protocol import record_lines, status_line
from campuspulse.telemetry.topics import subscription

log = logging.getLogger(__name__)
RECEIVE_MAXIMUM = 1000
# Each batch allocates tens of thousands of short-lived objects: collect young cycles every 50,000 allocations.
YOUNG_GC_THRESHOLD = 50_000


@dataclass(slots=True)
class CollectorCounters:
    """What the collector has done since it started."""

    messages: int = 0
    batches: int = 0
    records_stored: int = 0
    duplicates: int = 0
    pending: int = 0
    dead_letters: int = 0
    future_records: int = 0
    write_failures: int = 0
    seqs_lost: int = 0
    last_batch_s: float = 0.0
    last_lag_s: float = 0.0


@dataclass(frozen=True, slots=True)
class _Inbound:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes


class Collector:
    """Subscribes to every agent's records and status and writes them to the store (and the time series)."""

    def __init__(
        self,
        mqtt_settings: MqttSettings,
        writer: TelemetryWriter,
        client_id: str = "campuspulse-collector",
        options: CollectorSettings | None = None,
        sink: TimeSeriesSink | None = None,
    ) -> None:
        """`client_id` names the MQTT session unless `options` are given, which carry their own."""
        self.settings, self.writer, self.sink = mqtt_settings, writer, sink
        self.options = options or CollectorSettings(client_id=client_id)
        self.counters = CollectorCounters()
        self.batch_seconds = Histogram(
            "campuspulse_collector_batch_seconds",
            "store write, spool and ack of a batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=None,  # not the global registry: a process may run several collectors (tests, benches)
        )
        self.connected = threading.Event()  # set once subscribed
        self._stop = threading.Event()
        self._reset = threading.Event()
        self._inbox: queue.Queue[_Inbound] = queue.Queue()
        self._generation = 0
        v5 = mqtt_settings.protocol == "5"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
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
        self.client.max_inflight_messages_set(RECEIVE_MAXIMUM)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._threads = [
            threading.Thread(target=self._supervise, name="collector-supervisor", daemon=True),
            threading.Thread(target=self._write_loop, name="collector-writer", daemon=True),
        ]

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (retrying in the background) and start handling messages."""
        if self.sink is not None:
            self.sink.start()
        self._connect()
        self.client.loop_start()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Disconnect, finish the batch in hand, stop the threads."""
        self._stop.set()
        for t in self._threads:
            t.join(15)
        self.client.disconnect()
        self.client.loop_stop()
        if self.sink is not None:
            self.sink.close()

    def _connect(self) -> None:
        props, clean_start = None, mqtt.MQTT_CLEAN_START_FIRST_ONLY  # paho's defaults, the only ones of 3.1.1
        if self.settings.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 7 * 24 * 3600
            props.ReceiveMaximum = RECEIVE_MAXIMUM
            clean_start = False
        host, port, keepalive = self.settings.host, self.settings.port, self.settings.keepalive_s
        try:
            self.client.connect(host, port, keepalive, clean_start=clean_start, properties=props)
        except OSError as exc:  # paho's loop retries; say why meanwhile
            log.warning("collector: broker %s:%s unreachable (%s)", host, port, exc)
            self.client.connect_async(host, port, keepalive, clean_start=clean_start, properties=props)

    def _supervise(self) -> None:
        backoff = delays(1.0, 30.0)
        while not self._stop.wait(0.2 if self._reset.is_set() else 5.0):
            if self._reset.is_set():
                wait = next(backoff)
                log.warning("collector: store write failed; reconnecting in %.1f s for redelivery", wait)
                self._generation += 1
                self.client.disconnect()
                self.client.loop_stop()
                self._drop_inbox()
                if self._stop.wait(wait):
                    return
                self._reset.clear()
                self._connect()
                self.client.loop_start()
                continue
            backoff = delays(1.0, 30.0)
            try:
                lost = self.writer.settle_stale_gaps()
                if lost:
                    self.counters.seqs_lost += lost
                    log.warning("collector: %d seqs never arrived within the reorder window: possible data loss", lost)
            except Exception:
                log.exception("collector: settling seq gaps failed")

    def _drop_inbox(self) -> None:
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                return

    # callbacks (paho's network thread) ---------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("collector: connection refused: %s", reason)
            return
        self._generation += 1
        group = self.options.shared_group
        share = f"$share/{group}/" if group else ""
        prefix = self.settings.topic_prefix
        client.subscribe([(share + subscription(k, prefix), 1) for k in (TopicKind.RECORDS, TopicKind.STATUS)])

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[ReasonCode], _p: Properties | None
    ) -> None:
        if any(getattr(r, "is_failure", False) for r in reasons):
            log.error("collector: subscription refused: %s", reasons)
            return
        self.connected.set()
        log.info("collector connected to %s:%s and subscribed", self.settings.host, self.settings.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self._generation += 1  # acks for messages of the old connection would hit new message ids
        self.connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if not self._reset.is_set():
            self._inbox.put(
                _Inbound(self._generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload))
            )  # no copy of bytes

    # the writer ----------------------------------------------------------------------------
    def _take_batch(self) -> list[_Inbound]:
        try:
            items = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.options.batch_max_delay_ms / 1000
        while len(items) < self.options.batch_max_messages:
            try:
                items.append(self._inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return items

    def _write_loop(self) -> None:
        while not self._stop.is_set():
            items = [i for i in self._take_batch() if i.generation == self._generation]
            if not items:
                continue
            try:
                self._handle_isolating([(i.topic, i.payload) for i in items])
            except Exception:
                self.counters.write_failures += 1
                log.exception("collector: could not store a batch of %d messages; they will be redelivered", len(items))
                self._reset.set()
                continue
            for i in items:
                if i.generation == self._generation:
                    self.client.ack(i.mid, i.qos)

    def _handle_isolating(self, messages: list[tuple[str, bytes]]) -> None:
        """Store a batch; if that fails for a reason retrying cannot cure, store its messages one by one and keep
        one that fails again on its own as a dead letter with the error, so that it holds up nothing else.
        Raises when the store itself is unavailable: the batch is then redelivered."""
        try:
            self.handle(messages)
            return
        except Exception as error:
            if store_unavailable(error):
                raise
            log.warning("collector: a batch of %d messages failed (%r); storing them one by one", len(messages), error)
        for topic, payload in messages:
            try:
                self.handle([(topic, payload)])
            except Exception as error:
                if store_unavailable(error):
                    raise
                reason = f"could not be stored: {type(error).__name__}: {error}"
                log.error("collector: a message on %s %s; kept as a dead letter", topic, reason)
                self.writer.dead_letter(f"mqtt:{topic}", reason, payload)
                self.counters.messages += 1
                self.counters.dead_letters += 1

    def handle(self, messages: list[tuple[str, bytes]]) -> None:
        """Validate and store messages in one store transaction, then spool their time series.

        Contract breaches become dead letters. Raises if the store (or the spool) cannot be written.
        """
        started = time.monotonic()
        batches: list[tuple[ParsedBatch, str]] = []
        statuses: list[tuple[StatusPayload, str]] = []
        dead: list[tuple[str, str, object]] = []
        for topic_name, payload in messages:
            source = f"mqtt:{topic_name}"
            try:
                topic = parse_topic(topic_name, self.settings.topic_prefix)
                if topic.kind is TopicKind.RECORDS:
                    batches.append((parse_records_payload(payload, topic), source))
                elif topic.kind is TopicKind.STATUS:
                    statuses.append((parse_status_payload(payload, topic), source))
            except ContractError as exc:
                dead.append((source, str(exc), payload))
        result = self.writer.write(batches, statuses, dead)
        lines: list[str] = []
        newest = 0
        for (batch, _), r in zip(batches, result.batches, strict=True):
            if not r.refused:
                lines += record_lines(batch.school, batch.agent, batch.records)
                newest = max([newest, *(rec.ts for rec in batch.records)])
        for (status, _), refusal in zip(statuses, result.status_refusals, strict=True):
            if refusal is None:
                lines.append(status_line(status))
        if self.sink is not None:
            self.sink.spool(lines)
        # Counted once the batch is in both places, batches first, so whoever reads them sees whole batches.
        c = self.counters
        c.last_batch_s = time.monotonic() - started
        self.batch_seconds.observe(c.last_batch_s)
        c.messages += len(messages)
        c.batches += 1
        for r in result.batches:
            c.records_stored += r.stored
            c.duplicates += r.duplicates
            c.pending += r.pending
            c.dead_letters += r.dead_letters
            c.future_records += r.future
        c.dead_letters += len(dead) + sum(refusal is not None for refusal in result.status_refusals)
        if newest:
            self.counters.last_lag_s = time.time() - newest / 1000
