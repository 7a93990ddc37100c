"""The device and tag registry, and what other services and workflows call on devices:
write a tag (read back and audited), read a tag's latest value, browse, status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain.audit import AuditEvent, Outcome, RequestContext
from hub.domain.errors import Conflict, FieldProblem, HubError, NotFound, ValidationFailed
from hub.domain.ids import is_id, new_id
from hub.domain.paging import decode_cursor, encode_cursor
from hub.domain.plc import (
    BrowseEntry,
    Device,
    DeviceStatus,
    NotWritable,
    PlcError,
    PlcTimeout,
    PlcUnavailable,
    Protocol,
    Quality,
    ReadBackMismatch,
    Tag,
    values_equal,
)
from hub.domain.plc_config import device_dict, parse_device, patch_device
from hub.domain.tenancy import Tenant
from hub.ports import Clock, Page, TagBatch, UnitOfWorkFactory
from hub.services.audit.log import AuditLog
from hub.services.plc.supervisor import PlcSupervisor
from hub.services.telemetry.history import MAX_HISTORY, HistoryPage
from hub.services.telemetry.pipeline import TelemetryService

MAX_SAFE_INT = 2**53 - 1
UNKNOWN_WRITE = "the write may still be applied by the PLC; read the tag before writing again"


@dataclass(frozen=True)
class TagValue:
    name: str
    value: Any
    quality: Quality
    ts: datetime | None
    unit: str
    error: str | None = None  # why the PLC refused the tag (BadNodeIdUnknown, ...)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "quality": self.quality.label,
            "ts": self.ts,
            "unit": self.unit,
            "error": self.error,
        }


@dataclass(frozen=True)
class WriteResult:
    device: str
    tag: str
    old: Any
    value: Any  # what the PLC holds after the write (read back, scaled)

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "tag": self.tag, "old_value": self.old, "value": self.value}


def device_view(device: Device) -> dict[str, Any]:
    return {"id": device.id, **device_dict(device), "created_at": device.created_at}


class DeviceService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        supervisor: PlcSupervisor,
        telemetry: TelemetryService,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self.supervisor = supervisor
        self.telemetry = telemetry

    # --- registry ---

    async def create(self, tenant: Tenant, raw: dict[str, Any], ctx: RequestContext) -> Device:
        now = self._clock.now()
        device = parse_device(raw, id=new_id(), tenant_id=tenant.id, at=now)
        async with self._uow(write=True) as uow:
            if await uow.plc.device_by_name(tenant.id, device.name) is not None:
                raise Conflict(f"a device named {device.name!r} exists")
            await uow.plc.add_device(device, now)
            await self._audit.record(uow, [tenant.id], ctx, self._event("device.create", device))
            await uow.commit()
        await self.supervisor.apply(device)
        return device

    async def get(self, tenant: Tenant, ref: str) -> Device:
        """A device by id or by name."""
        async with self._uow() as uow:
            device = await uow.plc.get_device(tenant.id, ref) if is_id(ref) else None
            if device is None:
                device = await uow.plc.device_by_name(tenant.id, ref)
        if device is None:
            raise NotFound(f"device {ref!r} not found")
        return device

    async def page(self, tenant: Tenant, cursor: str | None, limit: int) -> Page[Device]:
        async with self._uow() as uow:
            found = await uow.plc.list_devices(tenant.id, decode_cursor(cursor), limit + 1)
        if len(found) > limit:
            return Page(found[:limit], encode_cursor(found[limit - 1].id))
        return Page(found, None)

    async def update(
        self, tenant: Tenant, ref: str, patch: dict[str, Any], ctx: RequestContext
    ) -> Device:
        current = await self.get(tenant, ref)
        device = patch_device(current, patch)
        async with self._uow(write=True) as uow:
            other = await uow.plc.device_by_name(tenant.id, device.name)
            if other is not None and other.id != device.id:
                raise Conflict(f"a device named {device.name!r} exists")
            await uow.plc.update_device(device, self._clock.now())
            event = self._event("device.update", device, changed=sorted(patch))
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        await self.supervisor.apply(device)
        return device

    async def delete(self, tenant: Tenant, ref: str, ctx: RequestContext) -> None:
        device = await self.get(tenant, ref)
        await self.supervisor.remove(device.id)
        async with self._uow(write=True) as uow:
            await uow.plc.delete_device(tenant.id, device.id)
            await self._audit.record(uow, [tenant.id], ctx, self._event("device.delete", device))
            await uow.commit()

    @staticmethod
    def _event(action: str, device: Device, **extra: Any) -> AuditEvent:
        details = {
            "name": device.name,
            "protocol": device.protocol.value,
            "endpoint": device.endpoint,
        }
        return AuditEvent(action, "device", device.id, details={**details, **extra})

    # --- live state ---

    def status(self, device: Device) -> DeviceStatus:
        session = self.supervisor.session(device.id)
        return session.status if session is not None else DeviceStatus()

    async def tag_values(self, device: Device) -> list[TagValue]:
        """Latest scaled value of every tag; never good while the device is unreachable."""
        status = self.status(device)
        connected, errors = status.connected, status.tag_errors
        stored: dict[str, tuple[datetime, Any]] = {}
        slots = [self.telemetry.slot(device.id, t.name) for t in device.tags]
        if any(slot is None or slot.ts is None for slot in slots):
            stored = await self.telemetry.stored_latest(device)
        out = []
        for tag in device.tags:
            slot = self.telemetry.slot(device.id, tag.name)
            if slot is not None and slot.ts is not None:
                value, quality, ts = slot.value, slot.quality, slot.ts
            elif tag.name in stored:  # known from before, not read since: not good
                ts, value = stored[tag.name]
                quality = Quality.BAD
            else:
                value, quality, ts = None, Quality.BAD, None
            if not connected:
                quality = Quality.BAD
            out.append(TagValue(tag.name, value, quality, ts, tag.unit, errors.get(tag.name)))
        return out

    async def read_tag(self, tenant: Tenant, device_ref: str, tag_name: str) -> TagValue:
        """The latest value and quality of one tag (for services and workflow activities)."""
        device = await self._current(tenant, device_ref)
        self._tag(device, tag_name)
        return next(v for v in await self.tag_values(device) if v.name == tag_name)

    async def read_now(
        self, tenant: Tenant, device_ref: str, tag_names: Sequence[str]
    ) -> dict[str, TagValue]:
        """The tags read from the PLC now, in one request of the device's session (not the
        latest poll, which may predate a write the caller just made): what a workflow
        waits on after commanding a machine. The values are samples too (the latest
        value and history show them). NotFound for an unknown device or tag; a PlcError
        (PlcUnavailable when the device is not connected, PlcTimeout...) when it fails."""
        running = self.supervisor.session_named(tenant.id, device_ref)
        if running is None:
            device = await self.get(tenant, device_ref)  # NotFound, else not enabled
            raise PlcUnavailable(f"device {device.name!r} is not enabled")
        device = running.device
        tags = [self._tag(device, name) for name in tag_names]
        batch = await running.live().read(tags)
        feed = self.telemetry.feeds.get(device.id)
        if feed is not None:
            self.telemetry.ingest(feed, batch)
        qualities = batch.qualities or [Quality.GOOD] * len(tags)
        errors = batch.errors or [None] * len(tags)
        return {
            tag.name: TagValue(
                tag.name,
                tag.scaled(raw) if quality is Quality.GOOD else None,
                quality,
                batch.stamps[index] if batch.stamps else batch.ts,
                tag.unit,
                errors[index],
            )
            for index, (tag, raw, quality) in enumerate(
                zip(tags, batch.values, qualities, strict=True)
            )
        }

    async def history(
        self,
        tenant: Tenant,
        device_ref: str,
        tag: str,
        start: datetime | None,
        end: datetime | None,
        bucket: str | None = None,
        agg: str = "avg",
        cursor: str | None = None,
        limit: int = MAX_HISTORY,
    ) -> HistoryPage:
        """A page of the tag's samples or buckets; `truncated` with a `next_cursor` when
        there are more."""
        device = await self.get(tenant, device_ref)
        self._tag(device, tag)
        return await self.telemetry.history(device, tag, start, end, bucket, agg, cursor, limit)

    async def browse(self, tenant: Tenant, device_ref: str, node: str | None) -> list[BrowseEntry]:
        device = await self.get(tenant, device_ref)
        if device.protocol is not Protocol.OPCUA:
            raise Conflict("only OPC-UA devices have an address space to browse")
        session = self.supervisor.session(device.id)
        if session is None:
            raise Conflict(f"device {device.name!r} is not enabled")
        return await session.live().browse(node)

    # --- writing ---

    @staticmethod
    def _tag(device: Device, name: str) -> Tag:
        tag = device.tag(name)
        if tag is None:
            raise NotFound(f"tag {name!r} not found on device {device.name!r}")
        return tag

    async def write_tag(
        self, tenant: Tenant, device_ref: str, tag_name: str, value: Any, ctx: RequestContext
    ) -> WriteResult:
        """Write an engineering value, verify it by reading it back, and audit it.

        Raises NotFound, NotWritable (409), ValidationFailed (422, wrong type or range),
        or a PlcError: PlcUnavailable, PlcTimeout, PlcRefused (a Modbus exception or a bad
        OPC-UA status) or ReadBackMismatch. Refused and failed writes are audited too, once;
        a timed-out one with outcome unknown, since the PLC may still apply it.
        """
        device = await self._current(tenant, device_ref)
        return await self._write(tenant, device, self._tag(device, tag_name), value, ctx)

    async def _current(self, tenant: Tenant, device_ref: str) -> Device:
        """A running device from its session, as it is now (a change restarts the
        session), without a database read; else (an id, a disabled device) the stored one."""
        running = self.supervisor.session_named(tenant.id, device_ref)
        return running.device if running is not None else await self.get(tenant, device_ref)

    async def set_tag(
        self, tenant: Tenant, device_ref: str, tag_name: str, value: Any, ctx: RequestContext
    ) -> WriteResult | None:
        """`write_tag` unless the tag already holds `value` with good quality (None then):
        what an idempotent writer (an interlock) does. A running device is taken from its
        session, as it is now (updates restart the session), without a database read."""
        device = await self._current(tenant, device_ref)
        tag = self._tag(device, tag_name)
        if self._holds(device, tag, value):
            return None
        return await self._write(tenant, device, tag, value, ctx)

    def _holds(self, device: Device, tag: Tag, value: Any) -> bool:
        """The tag's latest value is `value`, read good from a connected device."""
        slot = self.telemetry.slot(device.id, tag.name)
        if slot is None or not self.status(device).connected:
            return False
        current, quality, ts, _ = slot.latest()
        return ts is not None and quality is Quality.GOOD and current == value

    async def write_tags(
        self,
        tenant: Tenant,
        writes: Sequence[tuple[str, str, Any]],
        ctx: RequestContext,
    ) -> list[WriteResult]:
        """`write_tag` for each (device, tag, value) in turn (a configuration: setpoints,
        then what depends on them), their audit entries written in one transaction, in
        the order of the writes: once all are made, or with the first failure (audited
        as `write_tag` audits it), which is then raised."""
        results: list[WriteResult] = []
        events: list[AuditEvent] = []
        try:
            for device_ref, tag_name, value in writes:
                device = await self._current(tenant, device_ref)
                tag = self._tag(device, tag_name)
                result, event = await self._write_audited_later(
                    tenant, device, tag, value, ctx, earlier=events
                )
                results.append(result)
                events.append(event)
        except HubError as exc:
            if events and not getattr(exc, "audited", False):
                await self._record_writes(tenant, events, ctx)  # refused before the PLC
            raise
        await self._record_writes(tenant, events, ctx)
        return results

    async def _write(
        self, tenant: Tenant, device: Device, tag: Tag, value: Any, ctx: RequestContext
    ) -> WriteResult:
        result, event = await self._write_audited_later(tenant, device, tag, value, ctx)
        await self._record_writes(tenant, [event], ctx)
        return result

    async def _record_writes(
        self, tenant: Tenant, events: Sequence[AuditEvent], ctx: RequestContext
    ) -> None:
        async with self._uow(write=True) as uow:
            await self._audit.append_many(uow, tenant.id, [(ctx, event) for event in events])
            await uow.commit()

    async def _write_audited_later(
        self,
        tenant: Tenant,
        device: Device,
        tag: Tag,
        value: Any,
        ctx: RequestContext,
        earlier: Sequence[AuditEvent] = (),
    ) -> tuple[WriteResult, AuditEvent]:
        """The write and its read-back; the audit entry of a write made is returned for
        the caller to record. A write that fails at the PLC is recorded here, after the
        `earlier` entries the caller has not recorded yet."""
        if not tag.writable:
            raise NotWritable(f"tag {tag.name!r} of {device.name!r} is not writable")
        problem = tag.value_problem(value)
        if problem:
            raise ValidationFailed([FieldProblem("value", problem)])
        slot = self.telemetry.slot(device.id, tag.name)
        old = slot.value if slot is not None else None
        raw = tag.raw_of(value)
        details = {
            "device": device.name,
            "tag": tag.name,
            "old_value": _recordable(old),
            "new_value": _recordable(value),
        }
        try:
            session = self.supervisor.session(device.id)
            if session is None:
                raise NotWritable(f"device {device.name!r} is not enabled")
            read_back = await session.live().write(tag, raw)
            if not values_equal(tag, raw, read_back):
                raise ReadBackMismatch(
                    f"wrote {raw!r} to {tag.name!r} but read back {read_back!r}", raw, read_back
                )
        except PlcTimeout as exc:
            # The request may have reached the PLC, which may still apply it: say so, and
            # record the outcome as unknown rather than failed.
            late = PlcTimeout(f"{exc.detail}; {UNKNOWN_WRITE}")
            await self._write_failed(
                tenant, device, tag, details, late, ctx, Outcome.UNKNOWN, earlier
            )
            raise late from None
        except (PlcError, NotWritable) as exc:
            await self._write_failed(
                tenant, device, tag, details, exc, ctx, Outcome.FAILURE, earlier
            )
            raise
        now = self._clock.now()
        feed = self.telemetry.feeds.get(device.id)
        if feed is not None:  # the read-back is a sample: the latest value shows the write
            self.telemetry.ingest(feed, TagBatch([tag], [read_back], now, [Quality.GOOD]))
        written = tag.scaled(read_back)
        event = AuditEvent(
            "tag.write",
            "tag",
            f"{device.id}/{tag.name}",
            details={**details, "read_back": _recordable(written)},
        )
        return WriteResult(device.name, tag.name, old, written), event

    async def _write_failed(
        self,
        tenant: Tenant,
        device: Device,
        tag: Tag,
        details: dict[str, Any],
        exc: PlcError | NotWritable,
        ctx: RequestContext,
        outcome: Outcome,
        earlier: Sequence[AuditEvent] = (),
    ) -> None:
        failed = {**details, "error": exc.detail, "reason": exc.reason}
        event = AuditEvent("tag.write", "tag", f"{device.id}/{tag.name}", outcome, failed)
        if earlier:
            await self._record_writes(tenant, [*earlier, event], ctx)
        else:
            await self._audit.record_now([tenant.id], ctx, event)
        exc.audited = True  # the API's failure hook must not record it a second time


def _recordable(value: Any) -> Any:
    """A value as the audit log can hold it: canonical JSON (RFC 8785) refuses integers
    beyond 2**53 - 1, which an int64 tag or a float tag given an integer may carry."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        return str(value)
    return value
