"""The telemetry pipeline: readings -> scaling, quality, latest value -> alarms -> batched
storage -> event bus (`tenants/{t}/devices/{device}/tags/{tag}`).

`ingest` is synchronous and cheap per sample (attribute sets and one append); samples are
written by one flusher task, many per transaction (one executemany), and published as one
burst after they are stored. A device that becomes unreachable gets a bad-quality sample
for every tag, so its last value is never shown as good.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.domain.audit import rfc3339
from hub.domain.errors import NotFound
from hub.domain.plc import Device, Quality
from hub.domain.samples import pack_chunks, pack_column, runs, unpack
from hub.ports import Clock, EventBus, TagBatch, UnitOfWorkFactory
from hub.services.telemetry.feed import DeviceFeed, Group, TagSlot, from_micros, micros
from hub.services.telemetry.history import MAX_HISTORY, HistoryPage, read, window

log = logging.getLogger("hub.telemetry")
LABELS = {q: q.label for q in Quality} | {int(q): q.label for q in Quality}
GOOD, BAD = Quality.GOOD, Quality.BAD


def _unscaled(slot: TagSlot, value: Any) -> Any:
    if slot.linear and value is not None:
        return (value - slot.offset) / slot.scale
    return value


@dataclass(frozen=True)
class TelemetrySettings:
    flush_interval: float = 0.5  # seconds between writes
    batch_size: int = 200_000  # write at once when this many are waiting
    max_buffer: int = 500_000  # beyond this, samples are dropped (and counted)
    retention_days: int = 30
    publish: bool = True


Observer = Callable[[DeviceFeed, TagSlot, Any, Quality, datetime], None]


class TelemetryService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        bus: EventBus,
        settings: TelemetrySettings | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._bus = bus
        self.settings = settings or TelemetrySettings()
        self.feeds: dict[str, DeviceFeed] = {}
        self.observe: Observer | None = None  # the alarm evaluator, when it runs
        self.watched: set[tuple[str, str]] = set()  # (device id, tag) with alarm rules
        self._dirty: list[TagSlot] = []  # slots with pending samples
        self._waiting = 0  # pending samples, all slots
        # Every batch since the last flush: (feed, group or None, slots, batch). Group
        # batches are stored column-wise at flush; all are published from here.
        self._bursts: list[tuple[DeviceFeed, Group | None, list[TagSlot | None], TagBatch]] = []
        self._seq = itertools.count(1)
        self._watch_version = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stored = 0
        self.dropped = 0

    # --- feeds ---

    def attach(self, device: Device, tenant_slug: str, series: dict[str, int]) -> DeviceFeed:
        feed = DeviceFeed(device, tenant_slug, series)
        old = self.feeds.get(device.id)
        if old is not None:  # keep what was known across a reconfiguration
            for name, slot in feed.slots.items():
                if name in old.slots:
                    slot.own = old.slots[name].latest()
        for name, slot in feed.slots.items():
            slot.watched = (device.id, name) in self.watched
        self.feeds[device.id] = feed
        return feed

    def watch(self, device_id: str, tag: str, on: bool) -> None:
        """Send (or stop sending) the tag's samples to the alarm evaluator."""
        (self.watched.add if on else self.watched.discard)((device_id, tag))
        slot = self.slot(device_id, tag)
        if slot is not None:
            slot.watched = on
        self._watch_version += 1

    def detach(self, device_id: str) -> None:
        """Forget a removed device, with its samples not yet stored (their rows are gone)."""
        feed = self.feeds.pop(device_id, None)
        if feed is None:
            return
        mine = set(map(id, feed.slots.values()))
        self._bursts = [b for b in self._bursts if b[0] is not feed]
        for slot in feed.slots.values():
            self._waiting -= len(slot.pending)
            slot.pending = []
        self._dirty = [s for s in self._dirty if id(s) not in mine]

    # --- the hot path ---

    def ingest(self, feed: DeviceFeed, batch: TagBatch) -> None:
        if self._waiting >= self.settings.max_buffer:
            self.dropped += len(batch.values)
            return
        if batch.qualities is None and batch.stamps is None:
            self._ingest_poll(feed, batch)
        else:
            self._ingest_each(feed, batch)
        self._waiting += len(batch.values)
        if self._waiting >= self.settings.batch_size:
            self._wake.set()

    def _ingest_poll(self, feed: DeviceFeed, batch: TagBatch) -> None:
        """A poll: every value good, one timestamp. O(1) plus the alarmed tags: the batch
        becomes its group's latest and waits whole for the flush."""
        group = feed.group_for(batch.tags)
        group.batch, group.seq = batch, next(self._seq)
        self._bursts.append((feed, group, group.slots, batch))
        observe = self.observe
        if observe is not None:
            if group.watch_version != self._watch_version:
                group.watching = [(i, s) for i, s in enumerate(group.slots) if s and s.watched]
                group.watch_version = self._watch_version
            values, ts = batch.values, batch.ts
            for index, slot in group.watching:
                observe(feed, slot, slot.scaled(values[index]), GOOD, ts)

    def _ingest_each(self, feed: DeviceFeed, batch: TagBatch) -> None:
        """Values with their own quality and source time (OPC-UA, a device going bad)."""
        qualities, stamps = batch.qualities, batch.stamps
        observe = self.observe
        slots = feed.aligned(batch.tags)
        self._bursts.append((feed, None, slots, batch))
        for i, value in enumerate(batch.values):
            slot = slots[i]
            if slot is None:
                continue
            quality = qualities[i] if qualities is not None else GOOD
            at = stamps[i] if stamps is not None else batch.ts
            value = slot.scaled(value)
            slot.own = (value, quality, at, next(self._seq))
            if not slot.pending:
                self._dirty.append(slot)
            slot.pending.append((micros(at), value, int(quality)))
            if slot.watched and observe is not None:
                observe(feed, slot, value, quality, at)

    def mark_bad(self, feed: DeviceFeed, at: datetime) -> None:
        """The device is unreachable: every tag goes bad, its last value kept as bad."""
        latest = {name: slot.latest() for name, slot in feed.slots.items()}
        tags = [
            s.tag for n, s in feed.slots.items() if latest[n][1] is not BAD or latest[n][2] is None
        ]
        if tags:
            values = [latest[t.name][0] for t in tags]
            # raw values: undo the scaling that ingest applies again
            raw = [_unscaled(feed.slots[t.name], v) for t, v in zip(tags, values, strict=True)]
            self.ingest(feed, TagBatch(tags, raw, at, [BAD] * len(tags)))

    # --- storing ---

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="telemetry-flusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.flush_interval)
            self._wake.clear()
            try:
                await self.flush()
                if loop.time() - last_purge > 3600:
                    last_purge = loop.time()
                    await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("telemetry flush failed; retrying")
                await asyncio.sleep(1)

    async def flush(self) -> int:
        """Write every waiting sample (a chunk per tag, one transaction), then publish."""
        dirty, self._dirty = self._dirty, []
        bursts, self._bursts = self._bursts, []
        count, self._waiting = self._waiting, 0
        rows = self._group_rows(bursts)
        taken = []
        for slot in dirty:
            samples, slot.pending = slot.pending, []
            if samples:
                taken.append((slot, samples))
                rows += [(slot.series, *c) for c in pack_chunks(slot.kind, samples)]
        if rows:
            try:
                async with self._uow(write=True) as uow:
                    await uow.plc.add_chunks(rows)
                    await uow.commit()
            except Exception:
                self._requeue(taken, bursts, count)
                raise
            self.stored += sum(r[3] for r in rows)
        if bursts and self.settings.publish:
            await self._publish(bursts)
        return count

    async def _publish(self, bursts: list[Any]) -> None:
        """Each tenant's samples as its own burst: an event carries its device's tenant."""
        by_tenant: dict[str, list[Any]] = {}
        for burst in bursts:
            by_tenant.setdefault(burst[0].device.tenant_id, []).append(burst)
        for tenant_id, own in by_tenant.items():
            topics = {s.topic for _, _, slots, _ in own for s in slots if s is not None}
            await self._bus.publish_many(tenant_id, SampleEvents(own), render_sample, topics)

    @staticmethod
    def _group_rows(bursts: list[Any]) -> list[tuple[Any, ...]]:
        """One chunk per tag of each group: its polls' values are a column (zip in C)."""
        polls: dict[int, tuple[Group, list[Any]]] = {}
        for _, group, _, batch in bursts:
            if group is not None:
                polls.setdefault(id(group), (group, []))[1].append(batch)
        rows: list[tuple[Any, ...]] = []
        for group, batches in polls.values():
            for run in runs(batches, _poll_micros):  # one run unless the clock jumped
                rows += _poll_chunks(group, run)
        return rows

    def _requeue(self, taken: list[Any], bursts: list[Any], count: int) -> None:
        """A failed write: put the samples back in front of what came since, to retry."""
        for slot, samples in taken:
            if not slot.pending:
                self._dirty.append(slot)
            slot.pending[:0] = samples
        # own samples are kept by `taken`; poll batches stay in their bursts
        self._bursts[:0] = bursts
        self._waiting += count

    async def purge(self) -> int:
        cutoff = self._clock.now() - timedelta(days=self.settings.retention_days)
        async with self._uow(write=True) as uow:
            removed = await uow.plc.purge_samples(micros(cutoff))
            await uow.commit()
        if removed:
            log.info("telemetry retention removed %d samples", removed)
        return removed

    # --- reading ---

    async def stored_latest(self, device: Device) -> dict[str, tuple[datetime, Any]]:
        """Each tag's newest stored sample (for tags not read since the hub started)."""
        async with self._uow() as uow:
            series = await uow.plc.series(device.tenant_id, device.id)
            chunks = await uow.plc.latest(device.tenant_id, list(series.values()))
        out = {}
        for tag in device.tags:
            chunk = chunks.get(series.get(tag.name, -1))
            if chunk is not None:
                ts, value, _ = unpack(TagSlot(tag, 0, "").kind, *chunk)[-1]
                out[tag.name] = (from_micros(ts), value)
        return out

    def slot(self, device_id: str, tag: str) -> TagSlot | None:
        feed = self.feeds.get(device_id)
        return None if feed is None else feed.slots.get(tag)

    async def history(
        self,
        device: Device,
        tag: str,
        start: datetime | None,
        end: datetime | None,
        bucket: str | None,
        agg: str,
        cursor: str | None = None,
        limit: int = MAX_HISTORY,
    ) -> HistoryPage:
        """One page of a tag's samples or buckets (hub/services/telemetry/history.py)."""
        w = window(start, end, bucket, agg, cursor, self._clock.now())
        await self.flush()  # what was read a moment ago is part of the history
        async with self._uow() as uow:
            series = (await uow.plc.series(device.tenant_id, device.id)).get(tag)
            if series is None:
                raise NotFound(f"tag {tag!r} not found on device {device.name!r}")
            spec = device.tag(tag)
            kind = TagSlot(spec, series, "").kind if spec is not None else 0
            return await read(uow.plc, device.tenant_id, series, kind, w, agg, limit)


def _poll_micros(batch: TagBatch) -> int:
    return micros(batch.ts)


def _poll_chunks(group: Group, batches: Sequence[TagBatch]) -> list[tuple[Any, ...]]:
    """A run of one group's polls (in time order) as one chunk per tag."""
    stamps = array("q", [micros(b.ts) for b in batches])
    ts_blob, first, last, n = stamps.tobytes(), stamps[0], stamps[-1], len(stamps)
    good = bytes(n)
    columns = zip(*[b.values for b in batches], strict=True)
    rows = []
    for slot, column in zip(group.slots, columns, strict=True):
        if slot is not None:
            vals, texts, summary = pack_column(
                slot.kind, column, stamps, slot.scale, slot.offset, slot.linear
            )
            rows.append((slot.series, first, last, n, ts_blob, vals, texts, good, *summary))
    return rows


class SampleEvents:
    """The (topic, raw) events of stored batches, made one by one only when iterated."""

    def __init__(self, bursts: list[Any]) -> None:
        self._bursts = bursts

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for feed, _, slots, batch in self._bursts:
            for i, slot in enumerate(slots):
                if slot is None:
                    continue
                value = batch.values[i]
                if slot.linear and value is not None:
                    value = value * slot.scale + slot.offset
                quality = int(batch.qualities[i]) if batch.qualities is not None else 0
                at = batch.stamps[i] if batch.stamps is not None else batch.ts
                yield slot.topic, (feed, slot, value, quality, at)


def render_sample(raw: tuple[Any, ...]) -> dict[str, Any]:
    """A sample's event payload, made only for a subscriber that takes it."""
    feed, slot, value, quality, at = raw
    return {
        **feed.payload,
        "tag": slot.name,
        "value": value,
        "quality": LABELS[quality],
        "ts": rfc3339(at),
        "unit": slot.unit,
    }
