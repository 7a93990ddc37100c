"""What the telemetry pipeline keeps per device and tag: slots, poll groups, latest values.

A poll returns the values of a fixed list of tags (a `Group`). The pipeline keeps the
group's latest batch instead of copying each value into its tag, so a poll costs the same
whatever its size; a tag's latest value is looked up when someone asks. Values that come
one by one (OPC-UA changes, a device going bad, a write's read-back) are kept on the tag
itself (`own`); whichever is newer (by sequence number) is the tag's latest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.domain.plc import Datatype, Device, Quality, Tag

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_GROUPS = 64  # per device; a poll plan has a handful


def micros(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class Group:
    """One poll request's tags, aligned with the values it returns."""

    __slots__ = ("batch", "seq", "slots", "watch_version", "watching")

    def __init__(self, slots: list[TagSlot | None]) -> None:
        self.slots = slots
        self.batch: Any = None  # the latest TagBatch
        self.seq = 0
        self.watching: list[tuple[int, TagSlot]] = []  # slots with alarm rules
        self.watch_version = -1


class TagSlot:
    """One tag: how its samples are stored and published, and where its latest value is."""

    __slots__ = (
        "groups",
        "kind",
        "linear",
        "name",
        "offset",
        "own",
        "pending",
        "scale",
        "series",
        "tag",
        "topic",
        "unit",
        "watched",
    )

    def __init__(self, tag: Tag, series: int, topic: str) -> None:
        self.tag = tag
        self.name, self.unit = tag.name, tag.unit
        self.series = series
        self.topic = topic
        self.scale, self.offset, self.linear = tag.scale, tag.offset, tag.numeric and tag.linear
        self.kind = (
            2 if tag.datatype is Datatype.STRING else 1 if tag.datatype is Datatype.BOOL else 0
        )
        self.watched = False  # has alarm rules: the evaluator sees its samples
        self.groups: list[tuple[Group, int]] = []
        self.own: tuple[Any, Quality, datetime | None, int] | None = None  # value, quality, ts, seq
        self.pending: list[tuple[int, Any, int]] = []  # own samples not yet stored

    def scaled(self, value: Any) -> Any:
        if self.linear and value is not None:
            return value * self.scale + self.offset
        return value

    def latest(self) -> tuple[Any, Quality, datetime | None, int]:
        best = self.own if self.own is not None else (None, Quality.BAD, None, 0)
        for group, index in self.groups:
            if group.seq > best[3] and group.batch is not None:
                batch = group.batch
                best = (self.scaled(batch.values[index]), Quality.GOOD, batch.ts, group.seq)
        return best

    @property
    def value(self) -> Any:
        return self.latest()[0]

    @property
    def quality(self) -> Quality:
        return self.latest()[1]

    @property
    def ts(self) -> datetime | None:
        return self.latest()[2]


class DeviceFeed:
    """A supervised device as the pipeline sees it."""

    def __init__(self, device: Device, tenant_slug: str, series: dict[str, int]) -> None:
        self.device = device
        self.tenant_slug = tenant_slug
        base = f"tenants/{tenant_slug}/devices/{device.name}/tags/"
        self.payload = {
            "tenant": tenant_slug,
            "tenant_id": device.tenant_id,
            "device": device.name,
            "device_id": device.id,
        }
        self.slots = {
            t.name: TagSlot(t, series[t.name], base + t.name)
            for t in device.tags
            if t.name in series
        }
        self._groups: dict[int, tuple[Sequence[Tag], Group]] = {}

    def aligned(self, tags: Sequence[Tag]) -> list[TagSlot | None]:
        return [self.slots.get(t.name) for t in tags]

    def group_for(self, tags: Sequence[Tag]) -> Group:
        """The group of a poll's tag list, by the list's identity (a poll plan reuses it)."""
        cached = self._groups.get(id(tags))
        if cached is not None and cached[0] is tags:
            return cached[1]
        if len(self._groups) >= MAX_GROUPS:
            self._forget_groups()
        group = Group(self.aligned(tags))
        for index, slot in enumerate(group.slots):
            if slot is not None:
                slot.groups.append((group, index))
        self._groups[id(tags)] = (tags, group)
        return group

    def _forget_groups(self) -> None:
        for slot in self.slots.values():
            slot.own, slot.groups = slot.latest(), []  # keep what is known
        self._groups.clear()
