"""Triggers: event topics start runs as events arrive; cron schedules start runs on time.

A cron slot is started with an Idempotency-Key naming the workflow, trigger and slot, so
a restart, or a second hub process on the same database, never starts a slot twice; the
last slot seen is kept in `workflow_cron_marks` so slots that passed while the hub was
down are not fired late in a burst (only the newest missed slot fires).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Collection
from datetime import datetime
from hashlib import sha256
from typing import Any

from croniter import croniter

from hub.domain.audit import SYSTEM
from hub.domain.errors import HubError
from hub.domain.tenancy import Tenant
from hub.engine.expressions import Expression, ExpressionError
from hub.engine.model import CronTrigger, EventTrigger
from hub.engine.topics import match_topic, payload_matches
from hub.ports import ALL_TENANTS, Clock, EngineMetrics, EventBus, UnitOfWorkFactory
from hub.services.offload import evaluate_bounded
from hub.services.workflows.changes import DefinitionChanges
from hub.services.workflows.service import StartRun, WorkflowService

log = logging.getLogger("hub.triggers")
_NAMED_LEVEL = re.compile(r"\{[^/]+\}")


class TriggerService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        bus: EventBus,
        workflows: WorkflowService,
        changes: DefinitionChanges,
        metrics: EngineMetrics,
        tick_seconds: float = 1.0,
    ) -> None:
        self._metrics = metrics
        self._changes = changes
        self._stop_listening: Callable[[], None] | None = None
        self._uow = uow_factory
        self._clock = clock
        self._bus = bus
        self._workflows = workflows
        self._tick = tick_seconds
        self._unsubscribe: list[Any] = []
        self._crons: list[tuple[str, str, str, int, CronTrigger]] = []
        # Per cron trigger, the slot last claimed (or found claimed) and the next one: until
        # then a tick has nothing to do (no parsing, no transaction every second).
        self._slots: dict[tuple[str, str, int, str], tuple[datetime, datetime]] = {}
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe_waits: Callable[[], None] | None = None
        self._tenants: dict[str, Tenant] = {}

    async def start(self) -> None:
        await self.refresh()
        self._stop_listening = self._changes.listen(self.refresh)
        # Waits of every tenant: the dispatcher looks only at the event's own tenant's.
        self._unsubscribe_waits = self._bus.subscribe(
            "#", self._deliver_to_waits, tenant=ALL_TENANTS, batch=self._deliver_many
        )
        self._task = asyncio.create_task(self._cron_loop(), name="workflow-cron")

    async def stop(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for undo in self._unsubscribe:
            undo()
        self._unsubscribe.clear()
        if self._unsubscribe_waits is not None:
            self._unsubscribe_waits()
            self._unsubscribe_waits = None

    async def refresh(self) -> None:
        """Re-read the newest version of every workflow and (re)subscribe its triggers."""
        for undo in self._unsubscribe:
            undo()
        self._unsubscribe.clear()
        self._crons.clear()
        self._slots.clear()
        async with self._uow() as uow:
            latest = await uow.workflows.all_latest()
            off = await uow.packs.inactive_workflows()  # of uninstalled industry packs
        for tenant_id, body in latest:
            if (tenant_id, body["name"]) in off:
                continue
            definition = await self._workflows.definitions.get(
                tenant_id, body["name"], str(body["version"])
            )
            for index, trigger in enumerate(definition.triggers):
                if isinstance(trigger, EventTrigger):
                    self._subscribe(tenant_id, definition.name, definition.version, trigger)
                elif isinstance(trigger, CronTrigger):
                    self._crons.append(
                        (tenant_id, definition.name, definition.version, index, trigger)
                    )

    def _subscribe(
        self, tenant_id: str, workflow: str, version: str, trigger: EventTrigger
    ) -> None:
        pattern = _NAMED_LEVEL.sub("+", trigger.topic)

        async def on_event(_tenant: str, topic: str, payload: Any) -> None:
            params = match_topic(trigger.topic, topic) or {}
            context = {"trigger": {"topic": topic, "payload": payload, "params": params}}
            # tenants' expressions, bounded on the loop that PLCs and alarms share
            run_input = await evaluate_bounded(
                self._metrics, _triggered_input, trigger, context, workflow
            )
            if run_input is _NO_RUN:
                return
            key = await self._run_key(trigger, context, workflow)
            if key is _NO_RUN:
                return
            await self._start(tenant_id, workflow, version, run_input, key)

        # Only this tenant's events: the bus filters on the publisher's tenant.
        self._unsubscribe.append(self._bus.subscribe(pattern, on_event, tenant=tenant_id))

    async def _run_key(self, trigger: EventTrigger, context: dict[str, Any], workflow: str) -> Any:
        """`event:<workflow>:<key>` from the trigger's `key`, None without one; _NO_RUN
        when the key cannot be rendered (an event without the field starts nothing rather
        than a run no key guards)."""
        if trigger.key is None:
            return None
        key = await evaluate_bounded(self._metrics, _rendered_key, trigger, context, workflow)
        if key is None:
            return _NO_RUN
        run_key = f"event:{workflow}:{key}"
        # Run keys are at most 128 characters (workflow_runs.idempotency_key): a longer one
        # is kept as its digest, as unique as the key itself.
        return run_key if len(run_key) <= 128 else f"event:{sha256(run_key.encode()).hexdigest()}"

    async def _start(
        self, tenant_id: str, workflow: str, version: str, run_input: Any, key: str | None
    ) -> None:
        """A run of the version whose triggers fired (the newest: `refresh` follows every
        publication), so no look-up of the newest version stands before the run starts."""
        tenant = await self._tenant(tenant_id)
        if tenant is None:
            return
        try:
            await self._workflows.start_run(
                tenant, StartRun(workflow, run_input, version, idempotency_key=key), SYSTEM
            )
        except HubError as exc:
            log.warning("trigger of %s could not start a run: %s", workflow, exc.detail)

    async def _tenant(self, tenant_id: str) -> Tenant | None:
        """A tenant, read once: tenants are never deleted, and starting or signalling a run
        uses the tenant's id, which never changes (not its name or status)."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            async with self._uow() as uow:
                tenant = await uow.tenants.by_id(tenant_id)
            if tenant is not None:
                self._tenants[tenant_id] = tenant
        return tenant

    async def _deliver_to_waits(self, tenant_id: str, topic: str, payload: Any) -> None:
        await self._deliver_many(tenant_id, [(topic, payload)], lambda raw: raw, (topic,))

    async def _deliver_many(
        self, tenant_id: str, events: Any, render: Any, topics: Collection[str]
    ) -> None:
        """An event wakes the runs of its own tenant waiting at a `wait: {event: ...}` step
        for its topic. Only waits that may match the events' topics are read (by key, so
        other waits cost nothing); a burst (telemetry) reads them once for all its
        topics, and its events are gone through and rendered only when some were found."""
        async with self._uow() as uow:
            waits = await uow.workflows.event_waits(tenant_id, topics)
        if waits:
            for topic, raw in events:
                if any(match_topic(w.topic, topic) is not None for w in waits):
                    await self._wake(waits, topic, render(raw))

    async def _wake(self, waits: list[Any], topic: str, payload: Any) -> None:
        for wait in waits:
            if match_topic(wait.topic, topic) is None:
                continue
            if wait.match is not None and not payload_matches(payload, json.loads(wait.match)):
                continue
            tenant = await self._tenant(wait.tenant_id)
            if tenant is None:
                continue
            try:
                await self._workflows.signal(
                    tenant,
                    wait.run_id,
                    f"event:{wait.topic}",
                    {"topic": topic, "payload": payload},
                    SYSTEM,
                )
            except HubError as exc:
                log.info("event %s for run %s not delivered: %s", topic, wait.run_id, exc.detail)

    # --- cron ---

    async def _cron_loop(self) -> None:
        while True:
            try:
                await self.fire_due(self._clock.now())
            except Exception:
                log.exception("cron trigger pass failed")
            await asyncio.sleep(self._tick)

    async def fire_due(self, now: datetime) -> int:
        fired = 0
        for tenant_id, workflow, version, index, trigger in list(self._crons):
            seen = (tenant_id, workflow, index, trigger.cron)
            known = self._slots.get(seen)
            if known is not None and known[0] <= now < known[1]:
                continue  # this slot was claimed here, or found claimed, already
            slot = croniter(trigger.cron, now).get_prev(datetime)
            following = croniter(trigger.cron, now).get_next(datetime)
            claimed = await self._claim_slot(tenant_id, workflow, index, slot)
            self._slots[seen] = (slot, following)
            if claimed:
                context = {"trigger": {"fired_at": slot.isoformat()}}
                run_input = (
                    await evaluate_bounded(self._metrics, trigger.input.render, context)
                    if trigger.input is not None
                    else {}
                )
                key = f"cron:{workflow}:{index}:{slot.isoformat()}"
                await self._start(tenant_id, workflow, version, run_input, key)
                fired += 1
        return fired

    async def _claim_slot(self, tenant_id: str, workflow: str, index: int, slot: datetime) -> bool:
        """True when `slot` is newer than the last one seen (first sight only records it)."""
        async with self._uow(write=True) as uow:
            last = await uow.workflows.cron_mark(tenant_id, workflow, index)
            if last is not None and last >= slot:
                return False
            await uow.workflows.set_cron_mark(tenant_id, workflow, index, slot, last)
            await uow.commit()
        return last is not None


_NO_RUN = object()


def _triggered_input(trigger: EventTrigger, context: dict[str, Any], workflow: str) -> Any:
    """The run input for this event, or _NO_RUN when the trigger's `when` is not true."""
    if trigger.when is not None and not _holds(trigger.when, context, workflow):
        return _NO_RUN
    if trigger.input is not None:
        return trigger.input.render(context)
    payload = context["trigger"]["payload"]
    return payload if isinstance(payload, dict) else {"event": payload}


def _rendered_key(trigger: EventTrigger, context: dict[str, Any], workflow: str) -> str | None:
    assert trigger.key is not None
    try:
        value = trigger.key.render(context)
    except ExpressionError as exc:
        log.warning("trigger key of %s not rendered: %s", workflow, exc)
        return None
    if value is None or isinstance(value, dict | list) or value == "":
        log.warning("trigger key of %s gave %r: no run started", workflow, value)
        return None
    return str(value)


def _holds(condition: Expression, context: dict[str, Any], workflow: str) -> bool:
    """A trigger's `when`; one that cannot be evaluated on this event starts nothing."""
    try:
        result = condition.evaluate(context)
    except ExpressionError as exc:
        log.warning("trigger condition of %s not evaluated: %s", workflow, exc)
        return False
    if not isinstance(result, bool):
        log.warning("trigger condition of %s gave %r, not true or false", workflow, result)
    return result is True
