"""Alarms: rules, the evaluator on the telemetry path, operator actions, publishing.

The evaluator keeps every alarm in memory and runs the pure state machine
(hub/domain/alarms.py) on each sample of a watched tag. A transition is stored (alarm
row, journal entry, audit entry: one transaction), then published on
`areas/{area}/sensors/{tag}/alarm`. Operator actions (ack, shelve, ...) take the same
lock, after every queued transition is stored, so the journal keeps its order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.domain.alarms import (
    Alarm,
    AlarmState,
    Transition,
    acknowledge,
    build_rule,
    evaluate,
    rule_dict,
    rule_problems,
    set_in_service,
    shelve,
    shelve_expired,
    unshelve,
)
from hub.domain.audit import SYSTEM, AuditEvent, RequestContext
from hub.domain.errors import FieldProblem, NotFound, ValidationFailed
from hub.domain.ids import is_id, new_id
from hub.domain.paging import decode_cursor, encode_cursor
from hub.domain.plc import Device, Quality
from hub.domain.tenancy import Tenant
from hub.ports import Clock, EventBus, Page, UnitOfWork, UnitOfWorkFactory
from hub.services.alarms.views import STATE_FILTERS, alarm_topic, alarm_view, transition_event
from hub.services.audit.log import AuditLog
from hub.services.telemetry.pipeline import DeviceFeed, TagSlot, TelemetryService

log = logging.getLogger("hub.alarms")


class AlarmService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        bus: EventBus,
        telemetry: TelemetryService,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self._bus = bus
        self._telemetry = telemetry
        self._alarms: dict[str, Alarm] = {}
        self._by_tag: dict[tuple[str, str], list[str]] = {}
        self._queue: list[tuple[str, Transition]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stored_at: dict[str, datetime] = {}  # alarm id -> when its last transition was stored

    # --- lifecycle ---

    async def start(self) -> None:
        async with self._uow() as uow:
            found = await uow.plc.all_alarms()
        for alarm in found:
            self._remember(alarm)
        self._telemetry.observe = self._observe
        self._task = asyncio.create_task(self._run(), name="alarm-persister")

    async def stop(self) -> None:
        self._telemetry.observe = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._persist()

    def _remember(self, alarm: Alarm) -> None:
        self._alarms[alarm.id] = alarm
        key = (alarm.rule.device_id, alarm.rule.tag)
        ids = self._by_tag.setdefault(key, [])
        if alarm.id not in ids:
            ids.append(alarm.id)
        self._telemetry.watch(*key, True)

    def _forget(self, alarm_id: str) -> None:
        alarm = self._alarms.pop(alarm_id, None)
        if alarm is None:
            return
        key = (alarm.rule.device_id, alarm.rule.tag)
        ids = self._by_tag.get(key, [])
        if alarm_id in ids:
            ids.remove(alarm_id)
        if not ids:
            self._by_tag.pop(key, None)
            self._telemetry.watch(*key, False)

    # --- evaluation (on the telemetry path: synchronous, no I/O) ---

    def _observe(
        self, feed: DeviceFeed, slot: TagSlot, value: Any, quality: Quality, at: datetime
    ) -> None:
        for alarm_id in self._by_tag.get((feed.device.id, slot.tag.name), ()):
            alarm = self._alarms[alarm_id]
            updated, transition = evaluate(alarm, value, quality, at)
            if updated is not alarm:
                self._alarms[alarm_id] = updated
            if transition is not None:
                self._queue.append((alarm_id, transition))
                self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_expiry = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            self._wake.clear()
            try:
                await self._persist()
                if loop.time() - last_expiry >= 1.0:
                    last_expiry = loop.time()
                    await self._expire_shelves()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("storing alarm transitions failed; retrying")
                await asyncio.sleep(1)

    async def _persist(self) -> None:
        async with self._lock:
            await self._persist_locked()

    async def _persist_locked(self) -> None:
        """Store queued transitions (one transaction), then publish them."""
        queue, self._queue = self._queue, []
        if not queue:
            return
        try:
            async with self._uow(write=True) as uow:
                for alarm_id, transition in queue:
                    alarm = self._alarms.get(alarm_id)
                    if alarm is not None:
                        await self._store(uow, alarm, transition, SYSTEM)
                await uow.commit()
        except Exception:
            self._queue[:0] = queue
            raise
        now = self._clock.now()
        for alarm_id, transition in queue:
            self.stored_at[alarm_id] = now
            alarm = self._alarms.get(alarm_id)
            if alarm is not None:
                await self._publish(alarm, transition)

    async def _store(
        self, uow: UnitOfWork, alarm: Alarm, t: Transition, ctx: RequestContext
    ) -> None:
        rule = alarm.rule
        await uow.plc.save_alarm(alarm, t.at)
        await uow.plc.journal_add(rule.tenant_id, rule.id, t)
        details = {
            "from": t.old.value,
            "to": t.new.value,
            "condition": t.condition,
            "value": t.value,
            "limit": t.limit,
            "tag": rule.tag,
            "device_id": rule.device_id,
            "priority": rule.priority.value,
        }
        if t.comment:
            details["comment"] = t.comment
        await self._audit.record(
            uow,
            [rule.tenant_id],
            ctx,
            AuditEvent(f"alarm.{t.action}", "alarm", rule.id, details=details),
        )

    async def _publish(self, alarm: Alarm, t: Transition) -> None:
        feed = self._telemetry.feeds.get(alarm.rule.device_id)
        slug, device = (feed.tenant_slug, feed.device.name) if feed else (None, None)
        await self._bus.publish(
            alarm_topic(alarm),
            transition_event(alarm, t, slug, device),
            tenant=alarm.rule.tenant_id,
        )

    async def _expire_shelves(self) -> None:
        now = self._clock.now()
        for alarm in [a for a in self._alarms.values() if shelve_expired(a, now)]:
            try:
                await self._act(
                    alarm.rule.tenant_id,
                    alarm.id,
                    SYSTEM,
                    lambda a: unshelve(a, now, "hub", "shelve_expired"),
                )
            except Exception:
                log.exception("unshelving alarm %s failed", alarm.id)

    # --- rules ---

    def prepare_rule(self, tenant: Tenant, raw: dict[str, Any], device: Device) -> Alarm:
        """A new rule's alarm, or ValidationFailed naming every problem."""
        problems = rule_problems(raw)
        name = raw.get("tag")
        tag = device.tag(name) if isinstance(name, str) else None
        if tag is None:
            problems.append(FieldProblem("tag", f"not a tag of device {device.name!r}"))
        elif raw.get("discrete") is None and not tag.numeric and "discrete" not in raw:
            problems.append(
                FieldProblem("discrete", f"{tag.datatype.value} tags need a discrete alarm value")
            )
        if problems:
            raise ValidationFailed(problems)
        rule = build_rule(raw, id=new_id(), tenant_id=tenant.id, device_id=device.id)
        return Alarm(rule, since=self._clock.now())

    async def add_rule_in(
        self, uow: UnitOfWork, tenant: Tenant, alarm: Alarm, ctx: RequestContext
    ) -> None:
        """Store a prepared rule in the caller's transaction; `adopt` it once committed."""
        await uow.plc.add_alarm(alarm, self._clock.now())
        await self._audit.record(
            uow,
            [tenant.id],
            ctx,
            AuditEvent("alarm_rule.create", "alarm", alarm.id, details=rule_dict(alarm.rule)),
        )

    def adopt(self, alarm: Alarm) -> None:
        """Start evaluating a rule committed elsewhere."""
        self._remember(alarm)

    async def create_rule(
        self, tenant: Tenant, raw: dict[str, Any], device: Device, ctx: RequestContext
    ) -> dict[str, Any]:
        alarm = self.prepare_rule(tenant, raw, device)
        async with self._uow(write=True) as uow:
            await self.add_rule_in(uow, tenant, alarm, ctx)
            await uow.commit()
        self._remember(alarm)
        return alarm_view(alarm, device.name)

    async def update_rule(
        self,
        tenant: Tenant,
        alarm_id: str,
        raw: dict[str, Any],
        device: Device | None,
        ctx: RequestContext,
    ) -> dict[str, Any]:
        in_service = raw.pop("in_service", None)
        if in_service is not None and not isinstance(in_service, bool):
            raise ValidationFailed([FieldProblem("in_service", "must be true or false")])
        current = await self.get(tenant, alarm_id)
        base = {k: v for k, v in rule_dict(current.rule).items() if k not in ("id", "device_id")}
        merged = {**base, "device": current.rule.device_id, **raw}
        problems = rule_problems({k: v for k, v in merged.items()})
        if problems:
            raise ValidationFailed(problems)
        target = device.id if device is not None else current.rule.device_id
        rule = build_rule(merged, id=current.id, tenant_id=tenant.id, device_id=target)

        def change(alarm: Alarm) -> tuple[Alarm, Transition | None]:
            alarm = replace(alarm, rule=rule)
            if in_service is None:
                return alarm, None
            moved = set_in_service(alarm, in_service, self._clock.now(), ctx.actor)
            return moved if moved is not None else (alarm, None)

        def record(uow: UnitOfWork, alarm: Alarm) -> Any:
            details = {
                **rule_dict(rule),
                "in_service": alarm.state is not AlarmState.OUT_OF_SERVICE,
            }
            return self._audit.record(
                uow,
                [tenant.id],
                ctx,
                AuditEvent("alarm_rule.update", "alarm", rule.id, details=details),
            )

        alarm = await self._act(tenant.id, alarm_id, ctx, change, extra=record, rekey=True)
        return (await self._views([alarm]))[0]

    async def delete_rule(self, tenant: Tenant, alarm_id: str, ctx: RequestContext) -> None:
        await self.get(tenant, alarm_id)
        async with self._lock:
            await self._persist_locked()
            async with self._uow(write=True) as uow:
                await uow.plc.delete_alarm(tenant.id, alarm_id)
                await self._audit.record(
                    uow, [tenant.id], ctx, AuditEvent("alarm_rule.delete", "alarm", alarm_id)
                )
                await uow.commit()
            self._forget(alarm_id)

    # --- reading ---

    async def get(self, tenant: Tenant, alarm_id: str) -> Alarm:
        alarm = self._alarms.get(alarm_id) if is_id(alarm_id) else None
        if alarm is None or alarm.rule.tenant_id != tenant.id:
            async with self._uow() as uow:
                alarm = await uow.plc.get_alarm(tenant.id, alarm_id) if is_id(alarm_id) else None
        if alarm is None:
            raise NotFound(f"alarm {alarm_id!r} not found")
        return alarm

    async def detail(self, tenant: Tenant, alarm_id: str) -> dict[str, Any]:
        alarm = await self.get(tenant, alarm_id)
        await self._persist()
        async with self._uow() as uow:
            journal = await uow.plc.journal(tenant.id, alarm_id)
        (view,) = await self._views([self._alarms.get(alarm_id, alarm)])
        return {**view, "journal": journal}

    async def page(
        self, tenant: Tenant, state: str, cursor: str | None, limit: int
    ) -> Page[dict[str, Any]]:
        if state not in STATE_FILTERS:
            raise ValidationFailed(
                [
                    FieldProblem(
                        "state", "one of active, unacknowledged, shelved, all (or a state name)"
                    )
                ]
            )
        after = decode_cursor(cursor)
        await self._persist()
        async with self._uow() as uow:
            found = await uow.plc.list_alarms(tenant.id, STATE_FILTERS[state], after, limit + 1)
        items = await self._views([self._alarms.get(a.id, a) for a in found[:limit]])
        more = len(found) > limit
        return Page(items, encode_cursor(found[limit - 1].id) if more else None)

    async def active_in_area(self, tenant: Tenant, area: str) -> list[Alarm]:
        """The area's alarms whose condition is present now, shelved ones excluded."""
        await self._persist()
        async with self._uow() as uow:
            found = await uow.plc.list_alarms(tenant.id, STATE_FILTERS["active"], None, 10_000)
        live = (self._alarms.get(a.id, a) for a in found)
        return [a for a in live if a.rule.area == area and a.state.active]

    async def _views(self, alarms: list[Alarm]) -> list[dict[str, Any]]:
        """Alarms as served, with their devices' names (one read for the lot)."""
        if not alarms:
            return []
        async with self._uow() as uow:
            names = await uow.plc.device_names(
                alarms[0].rule.tenant_id, [a.rule.device_id for a in alarms]
            )
        return [alarm_view(a, names.get(a.rule.device_id)) for a in alarms]

    # --- operator actions ---

    async def ack(
        self, tenant: Tenant, alarm_id: str, comment: str, ctx: RequestContext
    ) -> dict[str, Any]:
        now = self._clock.now()
        change = await self._act(
            tenant.id, alarm_id, ctx, lambda a: acknowledge(a, now, ctx.actor, comment)
        )
        return (await self._views([change]))[0]

    async def shelve(
        self, tenant: Tenant, alarm_id: str, minutes: Any, reason: str, ctx: RequestContext
    ) -> dict[str, Any]:
        now = self._clock.now()
        change = await self._act(
            tenant.id, alarm_id, ctx, lambda a: shelve(a, now, minutes, ctx.actor, reason)
        )
        return (await self._views([change]))[0]

    async def unshelve(self, tenant: Tenant, alarm_id: str, ctx: RequestContext) -> dict[str, Any]:
        now = self._clock.now()
        change = await self._act(tenant.id, alarm_id, ctx, lambda a: unshelve(a, now, ctx.actor))
        return (await self._views([change]))[0]

    async def _act(
        self,
        tenant_id: str,
        alarm_id: str,
        ctx: RequestContext,
        change: Any,
        *,
        extra: Any = None,
        rekey: bool = False,
    ) -> Alarm:
        async with self._lock:
            await self._persist_locked()
            alarm = self._alarms.get(alarm_id)
            if alarm is None or alarm.rule.tenant_id != tenant_id:
                raise NotFound(f"alarm {alarm_id!r} not found")
            updated, transition = change(alarm)
            at = self._clock.now()
            async with self._uow(write=True) as uow:
                if transition is not None:
                    await self._store(uow, updated, transition, ctx)
                else:
                    await uow.plc.save_alarm(updated, at)
                if extra is not None:
                    await extra(uow, updated)
                await uow.commit()
            if rekey:
                self._forget(alarm_id)
                self._remember(updated)
            else:
                self._alarms[alarm_id] = updated
        if transition is not None:
            self.stored_at[alarm_id] = at
            await self._publish(updated, transition)
        return updated
