"""The edge agent: one poller per device, one publisher, one on-disk queue between them."""

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Callable

from campuspulse.backoff import delays, sleep_unless
from campuspulse.drivers import Driver, NoReportYet
from campuspulse.drivers.registry import build_driver
from campuspulse.edge.monitor import DeviceMonitor, EmitPolicy
from campuspulse.edge.publisher import Publisher
from campuspulse.edge.queue import RecordQueue
from campuspulse.edge.settings import AgentSettings, DeviceSettings
from campuspulse.settings import MqttSettings

log = logging.getLogger(__name__)
FLUSH_S = 0.1  # how long observations wait in memory for the queue's next commit
# While the queue's disk cannot be written, observations wait in memory; past this many, readings are shed.
HELD_LIMIT = 200_000


class EdgeAgent:
    """Runs an agent's devices and its publisher until stopped."""

    def __init__(
        self,
        settings: AgentSettings,
        mqtt: MqttSettings,
        clock: Callable[[], float] = time.time,
        reload: Callable[[], AgentSettings] | None = None,
    ) -> None:
        self.settings, self.clock, self._reload = settings, clock, reload
        bound = int(settings.queue_max_mb * 1024 * 1024) if settings.queue_max_mb else None
        self.queue = RecordQueue(settings.queue_path, bound)
        self.device_errors: dict[str, int] = {}
        self.devices: list[tuple[DeviceSettings, Driver, DeviceMonitor]] = []
        self._build_devices(settings)
        self.publisher = Publisher(
            mqtt,
            settings.id,
            settings.school,
            self.queue,
            [d.id for d in settings.devices],
            settings.batch_size,
            settings.status_every_s,
        )
        self.publisher.on_reload = self.request_reload
        self.reloads = 0
        self._reload_requested = asyncio.Event()
        self._observed: list[dict[str, object]] = []
        self.queue_write_errors = 0
        self.readings_shed = 0  # readings never queued (no seq: nothing waits for them) while the disk was full
        self._share_again_at = 0.0

    def _build_devices(self, settings: AgentSettings) -> None:
        self.devices = []
        for dev in settings.devices:
            policy = EmitPolicy(settings.valid_s, settings.heartbeat_s or settings.valid_s / 3, dev.reading_every_s)
            self.devices.append((dev, build_driver(dev.source), DeviceMonitor(dev.id, dev.detector, policy)))

    def request_reload(self) -> str | None:
        """Ask for the device list to be read again (the `reload` command); an error message if it cannot be."""
        if self._reload is None:
            return "this agent was not started from a config file"
        self._reload_requested.set()
        return None

    def _apply_reload(self) -> None:
        try:
            new = self._reload() if self._reload else self.settings
        except Exception as exc:  # a bad file keeps the running configuration
            log.error("agent %s: reload refused, keeping the running devices: %s", self.settings.id, exc)
            return
        if (new.id, new.school) != (self.settings.id, self.settings.school):
            log.error("agent %s: reload refused: the agent id and school cannot change while it runs", new.id)
            return
        self.settings = new
        self._build_devices(new)
        self.publisher.devices = [d.id for d in new.devices]
        self.publisher.status_changed = True
        self.reloads += 1
        log.info("agent %s: reloaded, %d devices", new.id, len(new.devices))

    @property
    def held_records(self) -> int:
        """Observations not yet committed to the queue."""
        return len(self._observed)

    def enqueue(self, records: list[dict[str, object]]) -> None:
        """Hold observed records for the next commit to the queue (every FLUSH_S: one transaction for all devices)."""
        self._observed += records

    def flush(self) -> None:
        """Commit held records to the queue (seq assigned now) and wake the publisher, which reads only the disk.

        If the disk is full or failing, the records stay in memory for the next flush (readings beyond
        HELD_LIMIT are shed, states kept) and the agent keeps observing and publishing what is queued.
        """
        if not self._observed:
            return
        try:
            self.queue.append(self._observed)
        except sqlite3.OperationalError as exc:  # "database or disk is full", "disk I/O error"
            self.queue_write_errors += 1
            if len(self._observed) > HELD_LIMIT:
                kept = [r for r in self._observed if r.get("type") != "reading"]
                self.readings_shed += len(self._observed) - len(kept)
                self._observed = kept
            since = self.publisher.unwritable[0] if self.publisher.unwritable else int(self.clock() * 1000)
            self.publisher.unwritable = (since, len(self._observed))
            if self.queue_write_errors == 1:
                self.publisher.status_changed = True  # the server hears of it with the next status
            if self.queue_write_errors == 1 or self.queue_write_errors % 100 == 0:
                log.error(
                    "agent %s: cannot write the queue at %s (%s); holding %d records in memory, retrying",
                    self.settings.id,
                    self.settings.queue_path,
                    exc,
                    len(self._observed),
                )
            return
        if self.queue_write_errors:
            log.warning(
                "agent %s: the queue is writable again after %d failed commits",
                self.settings.id,
                self.queue_write_errors,
            )
            self.queue_write_errors = 0
            self.publisher.unwritable = None
            self.publisher.status_changed = True
        if self.queue.exclusive and time.monotonic() >= self._share_again_at:
            self._share_again_at = time.monotonic() + 10.0
            self.queue.share_again()
        self._observed = []
        self.publisher.wakeup.set()

    async def _flush_every(self, stop: asyncio.Event) -> None:
        while not await sleep_unless(stop, FLUSH_S):
            self.flush()

    async def _poll(self, dev: DeviceSettings, driver: Driver, monitor: DeviceMonitor) -> None:
        """Poll one device until cancelled (a plain sleep between polls: hundreds of pollers stay cheap)."""
        backoff, opened = delays(1.0, 60.0), False
        rnd = random.Random(dev.id)
        try:
            while True:
                wait = dev.poll_s * rnd.uniform(0.9, 1.1)
                try:
                    if not opened:
                        await driver.open()
                        opened = True
                    self.enqueue(monitor.observe(await driver.read()))
                    backoff = delays(1.0, 60.0)
                except NoReportYet:
                    pass  # open and listening; the device's time stays unknown until its first report
                except OSError as exc:
                    self.device_errors[dev.id] = self.device_errors.get(dev.id, 0) + 1
                    self.enqueue(monitor.fault(int(self.clock() * 1000)))
                    wait = max(wait, next(backoff)) if not opened else wait
                    log.warning("device %s: %s; retrying in %.1f s", dev.id, exc, wait)
                    if opened:
                        await driver.close()
                        opened = False
                await asyncio.sleep(wait)
        finally:
            if opened:
                await driver.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every device and publish until `stop` is set; on `reload`, poll the devices of the new config."""
        publishing = asyncio.Event()  # stops after the pollers, so that their last observations go out
        publisher = asyncio.create_task(self.publisher.run(publishing))
        flusher = asyncio.create_task(self._flush_every(publishing))
        try:
            while not stop.is_set():
                pollers = [asyncio.create_task(self._poll(d, drv, mon)) for d, drv, mon in self.devices]
                waits = {
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._reload_requested.wait()),
                    publisher,
                    flusher,
                }
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in [*(waits - {publisher, flusher}), *pollers]:
                    task.cancel()
                await asyncio.gather(*pollers, return_exceptions=True)
                if publisher.done() or flusher.done():
                    break
                if self._reload_requested.is_set():
                    self._reload_requested.clear()
                    self._apply_reload()
        finally:
            stop.set()
            self.flush()
            publishing.set()
            outcomes = await asyncio.gather(flusher, publisher, return_exceptions=True)
            self.queue.close()
        for outcome in outcomes:  # a publisher or flusher that failed ends the agent with its error, not silently
            if isinstance(outcome, Exception):
                raise outcome
