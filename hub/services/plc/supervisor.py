"""Device connections, supervised: connect, poll or subscribe, reconnect with backoff.

One task per enabled device. When a call fails the connection is dropped, every tag of
the device goes bad at once, and the session reconnects after an exponential backoff with
jitter capped at the device's `max_backoff_ms` (default 5 s), then subscribes again.
The backoff starts again from the bottom only after a connection has proven itself
(it delivered data, then stayed up for HEALTHY_SECONDS): a PLC that accepts connections
and then fails every time is retried ever more slowly, not in a loop.
A Modbus exception on one polling block, or an OPC-UA node the server refuses to
monitor, marks those tags bad with the PLC's reason and keeps the rest going.
Each attempt logs one WARNING line with its reason; tracebacks are logged at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any

from hub.domain.plc import (
    Device,
    DeviceStatus,
    PlcError,
    PlcRefused,
    PlcUnavailable,
    Quality,
    Tag,
    backoff_seconds,
)
from hub.ports import Clock, PlcConnection, PlcPort, TagBatch, UnitOfWorkFactory
from hub.services.telemetry.pipeline import DeviceFeed, TelemetryService

log = logging.getLogger("hub.plc")
KEEPALIVE_SECONDS = 1.0  # how often a subscribed connection is checked
HEALTHY_SECONDS = 5.0  # up this long, with data, before a failure restarts the backoff


def polling_groups(device: Device) -> list[tuple[float, list[Tag]]]:
    """Tags by polling interval (seconds): each group is read together."""
    groups: dict[int, list[Tag]] = {}
    for tag in device.tags:
        groups.setdefault(
            device.poll_interval_ms if tag.poll_interval_ms is None else tag.poll_interval_ms, []
        ).append(tag)
    return [(ms / 1000, tags) for ms, tags in sorted(groups.items())]


class DeviceSession:
    def __init__(
        self,
        device: Device,
        feed: DeviceFeed,
        port: PlcPort,
        telemetry: TelemetryService,
        clock: Clock,
        rng: Any = random,
    ) -> None:
        self.device = device
        self.feed = feed
        self._port = port
        self._telemetry = telemetry
        self._clock = clock
        self._rng = rng
        self.status = DeviceStatus()
        self.conn: PlcConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._failed_before = False
        self._alive = False  # the current connection has delivered data or answered
        self._traced = False  # an unexpected error's traceback was logged at ERROR

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"plc-{self.device.name}")

    async def stop(self) -> None:
        task = self._task
        # Python 3.11's wait_for can swallow a cancellation that races a reply, so cancel
        # until the task has really ended.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.2)
        self.conn = None
        self.status.connected, self.status.state = False, "stopped"

    def live(self) -> PlcConnection:
        if self.conn is None:
            raise PlcUnavailable(
                f"device {self.device.name!r} is not connected"
                + (f": {self.status.last_error}" if self.status.last_error else "")
            )
        return self.conn

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            conn = self._port.open(self.device)
            self.status.state = "connecting"
            self._alive, opened = False, None
            try:
                await conn.connect()
                opened = loop.time()
                self.conn = conn
                self.status.connected, self.status.state, self.status.last_error = (
                    True,
                    "connected",
                    None,
                )
                self.status.tag_errors.clear()
                self.status.last_seen = self._clock.now()
                if self._failed_before:
                    self.status.reconnect_count += 1
                await self._serve(conn)
                error = "connection ended"
            except PlcError as exc:
                error = exc.detail
                log.debug("device %s: %s", self.device.name, error, exc_info=True)
            except asyncio.CancelledError:
                self.conn = None
                await conn.close()
                raise
            except Exception as exc:  # a bug must not kill the session: log, reconnect
                error = f"unexpected error: {exc!r}"
                # A bug's traceback is shown once at ERROR, then only at DEBUG.
                level = logging.DEBUG if self._traced else logging.ERROR
                log.log(level, "device %s: %s", self.device.name, error, exc_info=True)
                self._traced = True
            self.conn = None
            self._failed_before = True
            self.status.connected, self.status.state, self.status.last_error = (
                False,
                "backoff",
                error,
            )
            self.status.tag_errors.clear()
            self._telemetry.mark_bad(self.feed, self._clock.now())
            await conn.close()
            if opened is not None and self._alive and loop.time() - opened >= HEALTHY_SECONDS:
                attempt = 0  # it worked for a while: this is a new outage
            delay = backoff_seconds(attempt, self.device.max_backoff_ms, rng=self._rng)
            log.warning("device %s: %s; reconnecting in %.2fs", self.device.name, error, delay)
            attempt += 1
            await asyncio.sleep(delay)

    def _deliver(self, batch: TagBatch) -> None:
        self.status.last_seen = batch.ts
        self._alive = True
        if batch.errors is not None or self.status.tag_errors:
            self._note_errors(batch)
        self._telemetry.ingest(self.feed, batch)

    def _note_errors(self, batch: TagBatch) -> None:
        """Keep why each tag is bad, as the PLC said, until a value without one comes."""
        errors = self.status.tag_errors
        for index, tag in enumerate(batch.tags):
            error = batch.errors[index] if batch.errors is not None else None
            if error is None:
                errors.pop(tag.name, None)
            elif errors.get(tag.name) != error:
                errors[tag.name] = error
                self.status.last_error = f"tag {tag.name!r}: {error}"

    async def _serve(self, conn: PlcConnection) -> None:
        tags = list(self.device.tags)
        if not tags:
            while True:
                await asyncio.sleep(KEEPALIVE_SECONDS)
                await conn.check()
                self._alive = True
        if await conn.subscribe(tags, self._deliver):
            while True:
                await asyncio.sleep(KEEPALIVE_SECONDS)
                await conn.check()
                self._alive = True
                if self.status.connected:
                    self.status.last_seen = self._clock.now()
        # Each request of a group is scheduled on its own, so that the pipeline's work on
        # one block overlaps the PLC's turnaround of the next.
        reads = [
            (interval, part)
            for interval, tags in polling_groups(self.device)
            for part in conn.plan(tags)
        ]
        await self._poll(conn, reads)

    async def _poll(self, conn: PlcConnection, groups: Sequence[tuple[float, list[Tag]]]) -> None:
        """Read each group when due. When the next read is due at once (a fast or overdue
        group), it is sent before this one's values go through the pipeline, so the
        pipeline's work overlaps the PLC's turnaround instead of adding to it."""
        loop = asyncio.get_running_loop()
        due = [loop.time()] * len(groups)
        ahead: tuple[int, asyncio.Task[TagBatch]] | None = None
        try:
            while True:
                if ahead is not None:
                    index, pending = ahead
                    ahead = None
                else:
                    index = min(range(len(groups)), key=due.__getitem__)
                    wait = due[index] - loop.time()
                    await asyncio.sleep(wait if wait > 0 else 0)
                    pending = asyncio.ensure_future(conn.read(groups[index][1]))
                interval = groups[index][0]
                due[index] = max(due[index] + interval, loop.time()) if interval else loop.time()
                try:
                    batch = await pending
                except PlcRefused as exc:
                    self._refused(groups[index][1], exc)
                    continue
                following = min(range(len(groups)), key=due.__getitem__)
                if due[following] <= loop.time():
                    ahead = (following, asyncio.ensure_future(conn.read(groups[following][1])))
                self._deliver(batch)
        finally:
            if ahead is not None:
                ahead[1].cancel()
                await asyncio.gather(ahead[1], return_exceptions=True)

    def _refused(self, tags: list[Tag], exc: PlcRefused) -> None:
        # The device answered: the group's addresses are wrong, not the link.
        n = len(tags)
        self._deliver(
            TagBatch(
                tags, [None] * n, self._clock.now(), [Quality.BAD] * n, errors=[exc.detail] * n
            )
        )


class PlcSupervisor:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        port: PlcPort,
        telemetry: TelemetryService,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._port = port
        self._telemetry = telemetry
        self.sessions: dict[str, DeviceSession] = {}
        self.running = False

    async def start(self) -> None:
        self.running = True
        async with self._uow() as uow:
            devices = await uow.plc.all_devices()
        for device in devices:
            await self.apply(device)

    async def stop(self) -> None:
        self.running = False
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)

    async def apply(self, device: Device) -> None:
        """(Re)start the device's session with its current definition."""
        if not self.running:
            return
        await self.remove(device.id, detach=False)
        async with self._uow() as uow:
            tenant = await uow.tenants.by_id(device.tenant_id)
            series = await uow.plc.series(device.tenant_id, device.id)
        if tenant is None:
            return
        feed = self._telemetry.attach(device, tenant.slug, series)
        if not device.enabled:
            return
        session = DeviceSession(device, feed, self._port, self._telemetry, self._clock)
        self.sessions[device.id] = session
        session.start()

    async def remove(self, device_id: str, *, detach: bool = True) -> None:
        session = self.sessions.pop(device_id, None)
        if session is not None:
            await session.stop()
        if detach:
            self._telemetry.detach(device_id)

    def session(self, device_id: str) -> DeviceSession | None:
        return self.sessions.get(device_id)

    def session_named(self, tenant_id: str, name: str) -> DeviceSession | None:
        """The running session of the tenant's device called `name` (a scan: a hub runs
        tens of devices, and this spares a database read on the interlock path)."""
        for session in self.sessions.values():
            if session.device.tenant_id == tenant_id and session.device.name == name:
                return session
        return None
