"""Incidents: what a safety run recorded, with its timeline, review and receipt link.

An incident is written by the pack's `record_incident` activity (one per run: a retry
finds the first). Its timeline is assembled when read, from the run history, the alarm
journal and the telemetry of the alarmed tag around the event, so it shows what those
records hold rather than a copy that could drift from them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from hub.domain.audit import AuditEvent, RequestContext
from hub.domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from hub.domain.ids import is_id, new_id
from hub.domain.packs import Incident
from hub.domain.paging import decode_cursor, encode_cursor
from hub.domain.tenancy import Tenant
from hub.ports import Clock, Page, UnitOfWorkFactory
from hub.services.audit.log import AuditLog
from hub.services.plc.devices import DeviceService

STATUSES = ("open", "reviewed")
OUTCOMES = ("confirmed", "false_alarm", "needs_action")
SNAPSHOT_BEFORE = timedelta(seconds=60)
SNAPSHOT_AFTER = timedelta(seconds=60)


def incident_view(item: Incident, tenant_slug: str) -> dict[str, Any]:
    view = asdict(item)
    view.pop("tenant_id")
    view["receipt"] = f"/api/v1/tenants/{tenant_slug}/runs/{item.run_id}/receipt"
    view["run"] = f"/api/v1/tenants/{tenant_slug}/runs/{item.run_id}"
    return view


class IncidentService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        devices: DeviceService,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self._devices = devices

    async def record(
        self,
        tenant_id: str,
        run_id: str,
        pack: str,
        fields: dict[str, Any],
        ctx: RequestContext,
    ) -> Incident:
        """Open the run's incident (once: a retried activity gets the first one back)."""
        now = self._clock.now()
        opened = fields.get("opened_at")
        item = Incident(
            id=new_id(),
            tenant_id=tenant_id,
            run_id=run_id,
            pack=pack,
            area=str(fields.get("area", ""))[:64],
            status="open",
            severity=str(fields.get("severity", "low"))[:16],
            summary=str(fields.get("summary", ""))[:2000],
            details=fields.get("details", {}),
            opened_at=opened if isinstance(opened, datetime) else now,
            recorded_at=now,
        )
        async with self._uow(write=True) as uow:
            if not await uow.packs.add_incident(item):
                found = await uow.packs.incident_of_run(tenant_id, run_id)
                assert found is not None
                return found
            details = {"run_id": run_id, "severity": item.severity, "area": item.area}
            await self._audit.record(
                uow,
                [tenant_id],
                ctx,
                AuditEvent("incident.open", "incident", item.id, details=details),
            )
            await uow.commit()
        return item

    async def get(self, tenant: Tenant, incident_id: str) -> Incident:
        async with self._uow() as uow:
            found = await uow.packs.incident(tenant.id, incident_id) if is_id(incident_id) else None
        if found is None:
            raise NotFound(f"incident {incident_id!r} not found")
        return found

    async def page(
        self, tenant: Tenant, status: str | None, cursor: str | None, limit: int
    ) -> Page[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise ValidationFailed([FieldProblem("status", f"one of {', '.join(STATUSES)}")])
        async with self._uow() as uow:
            found = await uow.packs.incidents(tenant.id, status, decode_cursor(cursor), limit + 1)
        items = [incident_view(i, tenant.slug) for i in found[:limit]]
        more = len(found) > limit
        return Page(items, encode_cursor(found[limit - 1].id) if more else None)

    async def detail(self, tenant: Tenant, incident_id: str) -> dict[str, Any]:
        item = await self.get(tenant, incident_id)
        return {**incident_view(item, tenant.slug), "timeline": await self.timeline(tenant, item)}

    async def timeline(self, tenant: Tenant, item: Incident) -> dict[str, Any]:
        event = item.details.get("event") or {}
        async with self._uow() as uow:
            history = await uow.workflows.events(item.run_id)
            alarm_id = event.get("alarm_id")
            journal = (
                await uow.plc.journal(tenant.id, alarm_id)
                if isinstance(alarm_id, str) and is_id(alarm_id)
                else []
            )
        run = [{"ts": e.ts, "type": e.type.value, "step": e.step} for e in history]
        return {
            "run": run,
            "alarm_journal": journal,
            "telemetry": await self._snapshot(tenant, item, event),
        }

    async def _snapshot(
        self, tenant: Tenant, item: Incident, event: dict[str, Any]
    ) -> dict[str, Any] | None:
        device, tag = event.get("device_id") or event.get("device"), event.get("tag")
        if not isinstance(device, str) or not isinstance(tag, str):
            return None
        start, end = item.opened_at - SNAPSHOT_BEFORE, item.opened_at + SNAPSHOT_AFTER
        try:
            page = await self._devices.history(tenant, device, tag, start, end)
        except NotFound:  # the device or tag was removed since
            return None
        return {
            "device": event.get("device"),
            "tag": tag,
            "from": start,
            "to": end,
            "samples": page.items,
            "truncated": page.truncated,  # more than a page in two minutes: the first page
        }

    async def review(
        self, tenant: Tenant, incident_id: str, body: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        problems = []
        outcome, comment = body.get("outcome"), body.get("comment", "")
        if outcome not in OUTCOMES:
            problems.append(FieldProblem("outcome", f"one of {', '.join(OUTCOMES)}"))
        if not isinstance(comment, str) or len(comment) > 4000:
            problems.append(FieldProblem("comment", "a string of at most 4000 characters"))
        problems += [
            FieldProblem(k, "unknown field") for k in body if k not in ("outcome", "comment")
        ]
        if problems:
            raise ValidationFailed(problems)
        item = await self.get(tenant, incident_id)
        now = self._clock.now()
        review = {"outcome": outcome, "comment": comment, "by": ctx.actor, "at": now.isoformat()}
        async with self._uow(write=True) as uow:
            if not await uow.packs.review_incident(tenant.id, item.id, review, now):
                raise Conflict(f"incident {incident_id} is already reviewed")
            event = AuditEvent("incident.review", "incident", item.id, details=review)
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        return incident_view(await self.get(tenant, incident_id), tenant.slug)
