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
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.domain.audit import rfc3339
from hub.domain.errors import FieldProblem, NotFound, ValidationFailed
from hub.domain.plc import Datatype, Device, Quality, Tag
from hub.ports import Clock, TagBatch, UnitOfWorkFactory
from hub.services.events import InProcessBus

log = logging.getLogger("hub.telemetry")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUCKETS = {"1s": 1, "10s": 10, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
AGGREGATES = ("avg", "min", "max", "last")
MAX_HISTORY = 10_000


def micros(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class TagSlot:
    """One tag's latest value and what its samples need, precomputed."""

    __slots__ = (
        "kind",
        "linear",
        "offset",
        "quality",
        "scale",
        "series",
        "tag",
        "topic",
        "ts",
        "value",
    )

    def __init__(self, tag: Tag, series: int, topic: str) -> None:
        self.tag = tag
        self.series = series
        self.topic = topic
        self.scale, self.offset, self.linear = tag.scale, tag.offset, tag.numeric and tag.linear
        self.kind = (
            2 if tag.datatype is Datatype.STRING else 1 if tag.datatype is Datatype.BOOL else 0
        )
        self.value: Any = None
        self.quality = Quality.BAD
        self.ts: datetime | None = None


class DeviceFeed:
    """A supervised device as the pipeline sees it."""

    def __init__(self, device: Device, tenant_slug: str, series: dict[str, int]) -> None:
        self.device = device
        self.tenant_slug = tenant_slug
        base = f"tenants/{tenant_slug}/devices/{device.name}/tags/"
        self.slots = {
            t.name: TagSlot(t, series[t.name], base + t.name)
            for t in device.tags
            if t.name in series
        }


@dataclass(frozen=True)
class TelemetrySettings:
    flush_interval: float = 0.1  # seconds between writes when samples trickle in
    batch_size: int = 5000  # write at once when this many are waiting
    max_buffer: int = 500_000  # beyond this, samples are dropped (and counted)
    retention_days: int = 30
    publish: bool = True


Observer = Callable[[DeviceFeed, TagSlot, Any, Quality, datetime], None]


class TelemetryService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        bus: InProcessBus,
        settings: TelemetrySettings | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._bus = bus
        self.settings = settings or TelemetrySettings()
        self.feeds: dict[str, DeviceFeed] = {}
        self.observe: Observer | None = None  # the alarm evaluator, when it runs
        self.watched: set[tuple[str, str]] = set()  # (device id, tag) with alarm rules
        self._rows: list[dict[str, Any]] = []
        self._events: list[tuple[str, Any]] = []
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
                    prior = old.slots[name]
                    slot.value, slot.quality, slot.ts = prior.value, prior.quality, prior.ts
        self.feeds[device.id] = feed
        return feed

    def detach(self, device_id: str) -> None:
        self.feeds.pop(device_id, None)

    # --- the hot path ---

    def ingest(self, feed: DeviceFeed, batch: TagBatch) -> None:
        if len(self._rows) >= self.settings.max_buffer:
            self.dropped += len(batch.values)
            return
        slots, rows, events = feed.slots, self._rows, self._events
        qualities, stamps, ts = batch.qualities, batch.stamps, batch.ts
        publish = self.settings.publish
        device_id = feed.device.id
        good = Quality.GOOD
        ts_us = micros(ts)
        stamp_text = rfc3339(ts) if publish else ""
        observe, watched = self.observe, self.watched
        for i, value in enumerate(batch.values):
            tag = batch.tags[i]
            slot = slots.get(tag.name)
            if slot is None:
                continue
            quality = qualities[i] if qualities is not None else good
            if stamps is not None:
                at = stamps[i]
                at_us, at_text = micros(at), rfc3339(at) if publish else ""
            else:
                at, at_us, at_text = ts, ts_us, stamp_text
            if value is not None and slot.linear:
                value = value * slot.scale + slot.offset
            slot.value, slot.quality, slot.ts = value, quality, at
            if slot.kind == 0:
                rows.append({"s": slot.series, "t": at_us, "v": value, "x": None, "q": quality})
            elif slot.kind == 1:
                number = None if value is None else float(bool(value))
                rows.append({"s": slot.series, "t": at_us, "v": number, "x": None, "q": quality})
            else:
                rows.append({"s": slot.series, "t": at_us, "v": None, "x": value, "q": quality})
            if observe is not None and (device_id, tag.name) in watched:
                observe(feed, slot, value, quality, at)
            if publish:
                events.append(
                    (
                        slot.topic,
                        {
                            "tenant": feed.tenant_slug,
                            "tenant_id": feed.device.tenant_id,
                            "device": feed.device.name,
                            "device_id": device_id,
                            "tag": tag.name,
                            "value": value,
                            "quality": quality.label,
                            "ts": at_text,
                            "unit": tag.unit,
                        },
                    )
                )
        if len(rows) >= self.settings.batch_size:
            self._wake.set()

    def mark_bad(self, feed: DeviceFeed, at: datetime) -> None:
        """The device is unreachable: every tag goes bad, its last value kept as bad."""
        tags = [s.tag for s in feed.slots.values() if s.quality is not Quality.BAD or s.ts is None]
        if tags:
            values = [feed.slots[t.name].value for t in tags]
            self.ingest(feed, TagBatch(tags, values, at, [Quality.BAD] * len(tags)))

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
        """Write every waiting sample in one transaction, then publish them."""
        rows, self._rows = self._rows, []
        events, self._events = self._events, []
        if rows:
            try:
                async with self._uow(write=True) as uow:
                    await uow.plc.add_samples(rows)
                    await uow.commit()
            except Exception:
                self._rows[:0] = rows  # keep them for the next try
                self._events[:0] = events
                raise
            self.stored += len(rows)
        if events:
            await self._bus.publish_many(events)
        return len(rows)

    async def purge(self) -> int:
        cutoff = self._clock.now() - timedelta(days=self.settings.retention_days)
        async with self._uow(write=True) as uow:
            removed = await uow.plc.purge_samples(micros(cutoff))
            await uow.commit()
        if removed:
            log.info("telemetry retention removed %d samples", removed)
        return removed

    # --- reading ---

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
    ) -> list[dict[str, Any]]:
        problems = []
        if bucket is not None and bucket not in BUCKETS:
            problems.append(FieldProblem("bucket", f"one of {', '.join(BUCKETS)}"))
        if agg not in AGGREGATES:
            problems.append(FieldProblem("agg", f"one of {', '.join(AGGREGATES)}"))
        end = end or self._clock.now()
        start = start or end - timedelta(hours=1)
        if start >= end:
            problems.append(FieldProblem("from", "must be before 'to'"))
        if problems:
            raise ValidationFailed(problems)
        await self.flush()  # what was read a moment ago is part of the history
        async with self._uow() as uow:
            series = (await uow.plc.series(device.tenant_id, device.id)).get(tag)
            if series is None:
                raise NotFound(f"tag {tag!r} not found on device {device.name!r}")
            width = BUCKETS[bucket] * 1_000_000 if bucket else None
            rows = await uow.plc.history(
                device.tenant_id, series, micros(start), micros(end), width, agg, MAX_HISTORY
            )
        spec = device.tag(tag)
        if width is None:
            return [
                {
                    "ts": from_micros(ts),
                    "value": _stored_value(spec, value, text),
                    "quality": Quality(q).label,
                }
                for ts, value, text, q in rows
            ]
        return [{"ts": from_micros(ts), "value": value, "count": n} for ts, value, n in rows]


def _stored_value(tag: Tag | None, value: Any, text: Any) -> Any:
    if tag is not None and tag.datatype is Datatype.STRING:
        return text
    if tag is not None and tag.datatype is Datatype.BOOL:
        return None if value is None else bool(value)
    return value
