"""Publishes the queue over MQTT (aiomqtt, QoS 1) with a retained birth status and a Last Will.

A batch leaves the queue only after the broker's PUBACK; on any connection loss the agent
reconnects with backoff and resends from the queue (the collector drops what it already has).
"""

import asyncio
import logging
import ssl
import time
from collections.abc import Callable

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from campuspulse import __version__
from campuspulse.backoff import delays, sleep_unless
from campuspulse.edge.queue import RecordQueue
from campuspulse.settings import MqttSettings
from campuspulse.telemetry import TopicKind, format_ts, topic_for
from campuspulse.telemetry.codec import dumps, loads

log = logging.getLogger(__name__)
FINAL_DRAIN_S = 5.0
REFUSED = {4, 5, 134, 135}  # bad username or password, not authorized (MQTT 3.1.1 and 5)


def mqtt_client(mqtt: MqttSettings, client_id: str, will: aiomqtt.Will | None = None) -> aiomqtt.Client:
    """An `aiomqtt.Client` for the mqtt settings."""
    credentials = mqtt.username is not None and mqtt.username != ""
    return aiomqtt.Client(
        hostname=mqtt.host,
        port=mqtt.port,
        identifier=client_id,
        keepalive=mqtt.keepalive_s,
        protocol=aiomqtt.ProtocolVersion.V5 if mqtt.protocol == "5" else aiomqtt.ProtocolVersion.V311,
        username=mqtt.username if credentials else None,
        password=mqtt.password.get_secret_value() if credentials and mqtt.password else None,
        tls_context=ssl.create_default_context(cafile=str(mqtt.ca_file) if mqtt.ca_file else None)
        if mqtt.tls
        else None,
        will=will,
    )


def _code(rc: object) -> int | None:
    """The number of a CONNACK's return code (an int in MQTT 3.1.1, a ReasonCode in 5)."""
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


class Publisher:
    """Moves records from the on-disk queue to the broker."""

    def __init__(
        self,
        mqtt: MqttSettings,
        agent: str,
        school: str,
        queue: RecordQueue,
        devices: list[str],
        batch_size: int = 500,
        status_every_s: float = 60,
    ) -> None:
        self.mqtt, self.agent, self.school, self.queue = mqtt, agent, school, queue
        self.devices, self.batch_size, self.status_every_s = devices, batch_size, status_every_s
        self._status_at = 0.0
        self._session = format_ts(int(time.time() * 1000))
        self._announced: list[list[int]] = []  # the dropped ranges of the status made last
        self.wakeup = asyncio.Event()
        self.connected = asyncio.Event()
        self.published_batches = 0
        self.published_records = 0
        self.rebirths = 0
        self.status_changed = False
        self.unwritable: tuple[int, int] | None = None  # (since ms, observations held) while the queue's disk refuses
        self.on_reload: Callable[[], str | None] = lambda: "reload is not supported here"
        self._topic = {k: topic_for(school, agent, k, mqtt.topic_prefix) for k in TopicKind}
        self.epoch = queue.epoch
        envelope = {"v": 1, "agent": agent, "school": school} | ({"epoch": self.epoch} if self.epoch else {})
        self._envelope = dumps({**envelope, "records": []})[:-2]  # ends in `[`

    def _status(self, online: bool, queue: bool = True) -> bytes:
        """The status payload; with the queue's depth unless it is the Last Will (written at connect time)."""
        status: dict[str, object] = {
            "v": 1,
            "agent": self.agent,
            "school": self.school,
            "online": online,
            "ts": format_ts(int(time.time() * 1000)),
            "session": self._session,
            "version": __version__,
            "devices": self.devices,
        }
        if self.epoch:
            status["epoch"] = self.epoch
        if dropped := self.queue.dropped_ranges():
            status["dropped"] = dropped
        self._announced = dropped
        if queue:
            if (sent := self.queue.sent_through()) >= 0:
                status["sent_through"] = sent
            depth: dict[str, object] = {"records": len(self.queue), "oldest_ts": self.queue.oldest_ts()}
            if self.unwritable is not None:
                depth |= {"unwritable_since": format_ts(self.unwritable[0]), "held": self.unwritable[1]}
            status["queue"] = depth
        self._status_at = time.monotonic()
        return dumps(status)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, reconnecting with backoff; announce going offline on the way out."""
        backoff = delays()
        while not stop.is_set():
            self._session = format_ts(int(time.time() * 1000))  # this connection's: its will says which it ends
            will = aiomqtt.Will(self._topic[TopicKind.STATUS], self._status(False, queue=False), qos=1, retain=True)
            try:
                async with mqtt_client(self.mqtt, self.agent, will) as client:
                    await client.publish(self._topic[TopicKind.STATUS], self._status(True), qos=1, retain=True)
                    await client.subscribe(self._topic[TopicKind.CMD], qos=1)
                    self.connected.set()
                    backoff = delays()
                    log.info("agent %s connected to %s:%s", self.agent, self.mqtt.host, self.mqtt.port)
                    await self._drain_while_listening(client, stop)
                    await client.publish(
                        self._topic[TopicKind.STATUS], self._status(False), qos=1, retain=True, timeout=5
                    )
                    return
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                wait = next(backoff)
                if isinstance(exc, MqttConnectError) and _code(exc.rc) in REFUSED:  # a CONNACK
                    log.error(
                        "agent %s: the broker at %s:%s refused its credentials (%s): check mqtt.username and "
                        "mqtt.password, or provision the agent again; retrying in %.1f s",
                        self.agent,
                        self.mqtt.host,
                        self.mqtt.port,
                        exc,
                        wait,
                    )
                else:
                    log.warning("agent %s: broker unreachable (%s); retrying in %.1f s", self.agent, exc, wait)
                await sleep_unless(stop, wait)

    async def _drain_while_listening(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        """Publish the queue and answer commands; a lost connection, noticed by either, ends both at once (the
        listener notices it even while there is nothing to publish)."""
        drain = asyncio.create_task(self._drain(client, stop))
        listener = asyncio.create_task(self._commands(client))
        try:
            done, _ = await asyncio.wait({drain, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (drain, listener):
                task.cancel()
            await asyncio.gather(drain, listener, return_exceptions=True)
        if drain in done:
            drain.result()  # stopped, or the drain's own error
            return
        error = listener.exception()
        raise error if error is not None else aiomqtt.MqttError("the broker ended the session")

    async def _commands(self, client: aiomqtt.Client) -> None:
        """Answer the `cmd` topic (plain text or {"cmd": …}): `rebirth` republishes the birth status, `reload`
        reads the config file again and polls its devices (the birth status then lists them)."""
        async for message in client.messages:
            raw = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
            try:
                parsed = loads(raw)
                command = parsed.get("cmd") if isinstance(parsed, dict) else None
            except ValueError:
                command = raw.decode("utf-8", "replace").strip()
            if command == "rebirth":
                await client.publish(self._topic[TopicKind.STATUS], self._status(True), qos=1, retain=True)
                self.rebirths += 1
            elif command == "reload":
                if (refusal := self.on_reload()) is not None:
                    log.warning("agent %s: reload: %s", self.agent, refusal)
            else:
                log.warning("agent %s: unknown command %r on %s", self.agent, command, message.topic)

    async def _drain(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        while not stop.is_set():
            due = time.monotonic() - self._status_at >= self.status_every_s  # queue depth for the store
            if self.queue.dropped_changed or self.status_changed or due:  # before the records that follow
                self.queue.dropped_changed = self.status_changed = False
                await client.publish(self._topic[TopicKind.STATUS], self._status(True), qos=1, retain=True)
                if self._announced:  # acknowledged by the broker, which hands the status on to the collectors
                    self.queue.forget_dropped(self._announced)
            batch = self.queue.peek_raw(self.batch_size)
            if batch is None:
                self.wakeup.clear()
                waiter = asyncio.ensure_future(self.wakeup.wait())
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({waiter, stopper}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    stopper.cancel()
                continue
            await self._publish(client, batch)
        deadline = time.monotonic() + FINAL_DRAIN_S  # stopping: what was observed goes out while there is time
        while time.monotonic() < deadline and (batch := self.queue.peek_raw(self.batch_size)) is not None:
            await self._publish(client, batch)

    async def _publish(self, client: aiomqtt.Client, batch: tuple[int, list[bytes]]) -> None:
        """One records payload made from the queued JSON as it is (no parsing), then dropped once acked."""
        last_seq, records = batch
        body = self._envelope + b",".join(records) + b"]}"
        await client.publish(self._topic[TopicKind.RECORDS], body, qos=1, timeout=30)
        self.queue.remove_through(last_seq)
        self.published_batches += 1
        self.published_records += len(records)
