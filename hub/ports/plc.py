"""PLCs: the device registry, telemetry and alarm storage, and the connection to a device."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hub.domain.alarms import Alarm, Transition
from hub.domain.plc import BrowseEntry, Device, Quality, Tag


class PlcRepository(Protocol):
    async def add_device(self, device: Device, at: datetime) -> None: ...

    async def update_device(self, device: Device, at: datetime) -> None: ...

    async def series(self, tenant_id: str, device_id: str) -> dict[str, int]: ...

    async def device_names(self, tenant_id: str, device_ids: Sequence[str]) -> dict[str, str]: ...

    async def get_device(self, tenant_id: str, device_id: str) -> Device | None: ...

    async def device_by_name(self, tenant_id: str, name: str) -> Device | None: ...

    async def list_devices(self, tenant_id: str, after: str | None, limit: int) -> list[Device]: ...

    async def all_devices(self) -> list[Device]: ...

    async def delete_device(self, tenant_id: str, device_id: str) -> None: ...

    async def add_chunks(self, rows: list[tuple[Any, ...]]) -> None: ...

    async def chunk_page(
        self,
        tenant_id: str,
        series_id: int,
        start: int,
        end: int,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[tuple[Any, ...]]: ...

    async def any_chunk(self, tenant_id: str, series_id: int, start: int, end: int) -> bool: ...

    async def bucket_figures(
        self, tenant_id: str, series_id: int, start: int, end: int, width: int, agg: str
    ) -> list[tuple[int, int, float | None, int | None]]: ...

    async def edge_chunks(
        self, tenant_id: str, series_id: int, start: int, end: int, width: int
    ) -> list[tuple[Any, ...]]: ...

    async def latest(
        self, tenant_id: str, series_ids: Sequence[int]
    ) -> dict[int, tuple[Any, ...]]: ...

    async def purge_samples(self, before_us: int) -> int: ...

    async def add_alarm(self, alarm: Alarm, at: datetime) -> None: ...

    async def save_alarm(self, alarm: Alarm, at: datetime) -> None: ...

    async def get_alarm(self, tenant_id: str, alarm_id: str) -> Alarm | None: ...

    async def list_alarms(
        self, tenant_id: str, states: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Alarm]: ...

    async def all_alarms(self) -> list[Alarm]: ...

    async def delete_alarm(self, tenant_id: str, alarm_id: str) -> None: ...

    async def journal_add(self, tenant_id: str, alarm_id: str, t: Transition) -> None: ...

    async def journal(
        self, tenant_id: str, alarm_id: str, limit: int = 500
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class TagBatch:
    """Raw values of `tags` in order; `qualities`/`stamps` None means all good / all at `ts`.
    `errors` names why a tag is bad when the PLC said so (an OPC-UA status such as
    BadNodeIdUnknown, a Modbus exception), None where it did not."""

    tags: Sequence[Tag]
    values: Sequence[Any]
    ts: datetime
    qualities: Sequence[Quality] | None = None
    stamps: Sequence[datetime] | None = None
    errors: Sequence[str | None] | None = None


class PlcConnection(Protocol):
    """One device's connection. Every call is bounded by the device's timeout and raises
    a PlcError (PlcUnavailable, PlcTimeout, PlcRefused, ReadBackMismatch) when it fails."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def read(self, tags: Sequence[Tag]) -> TagBatch: ...

    def plan(self, tags: Sequence[Tag]) -> list[list[Tag]]:
        """How the adapter splits a polling group into requests (Modbus: one per block)."""
        ...

    async def write(self, tag: Tag, raw: Any) -> Any:
        """Write a raw value, read it back and return what the PLC then holds."""
        ...

    async def subscribe(self, tags: Sequence[Tag], deliver: Callable[[TagBatch], None]) -> bool:
        """Push changes to `deliver`; False when the protocol cannot (the caller polls)."""
        ...

    async def browse(self, node: str | None) -> list[BrowseEntry]: ...

    async def check(self) -> None:
        """Raise a PlcError unless the connection is alive (keep-alive while subscribed)."""
        ...

    def status(self) -> dict[str, Any]: ...


class PlcPort(Protocol):
    def open(self, device: Device) -> PlcConnection: ...
