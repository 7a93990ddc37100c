"""What an industry pack's activities may use: the hub's own services, nothing more.

A pack's activity module has `register(registry, services)`; `services` is a
`PackRuntime`. PLC writes go through the device service (read back and audited), alarms
through the alarm service's topics, notifications through the Notifier port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hub.domain.audit import ActorType, AuditEvent, RequestContext
from hub.domain.errors import NotFound
from hub.domain.packs import is_sealed, redact
from hub.domain.tenancy import Tenant
from hub.engine.activities import ActivityContext
from hub.engine.history import RunStatus
from hub.ports import Clock, Notifier, UnitOfWorkFactory
from hub.services.alarms.service import AlarmService
from hub.services.audit.log import AuditLog
from hub.services.packs.incidents import IncidentService
from hub.services.packs.service import PackService
from hub.services.plc.devices import DeviceService


@dataclass
class PackRuntime:
    uow: UnitOfWorkFactory
    clock: Clock
    audit: AuditLog
    devices: DeviceService
    alarms: AlarmService
    notifier: Notifier
    incidents: IncidentService
    packs: PackService
    # The registered `erp.operation` activity (hub/services/enterprise): a pack's activity
    # calls a business operation through the connection's profile with
    # `await services.erp(ctx, {"connection", "operation", "params"})`; its writes are
    # audited and its failures are ActivityErrors typed as the ERP's (error_type
    # "PreconditionFailed", "Conflict", "Unavailable"...). None when the hub has none.
    erp: Callable[[ActivityContext, Any], Awaitable[Any]] | None = None
    _tenants: dict[str, Tenant] = field(default_factory=dict, repr=False)

    async def tenant(self, tenant_id: str) -> Tenant:
        """The run's tenant, read once: tenants are never deleted, and the services an
        activity calls use its id and slug, which never change (not its name or status)."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            async with self.uow() as uow:
                tenant = await uow.tenants.by_id(tenant_id)
            if tenant is None:
                raise NotFound(f"tenant {tenant_id!r} not found")
            self._tenants[tenant_id] = tenant
        return tenant

    async def parameters(self, tenant_id: str, pack: str) -> dict[str, Any]:
        """The installed parameters: write-only ones as "***" (`secret` reads one), hashed
        ones as their digests."""
        found = await self.packs.installation(tenant_id, pack)
        if found is None:
            return {}
        known = self.packs.catalog.get(pack)
        sealed = known.sealed_parameters if known is not None else frozenset()
        hidden = sealed | {k for k, v in found.parameters.items() if is_sealed(v)}
        return redact(found.parameters, frozenset(hidden))

    async def secret(self, tenant_id: str, pack: str, parameter: str) -> Any:
        """One write-only parameter in clear, for the call that needs it (a notifier's
        webhook secret or SMTP password): keep it out of outputs, logs and errors."""
        return await self.packs.reveal(tenant_id, pack, parameter)

    @staticmethod
    def actor(ctx: ActivityContext) -> RequestContext:
        return RequestContext(f"workflow:{ctx.run_id}", ActorType.SYSTEM)

    async def record(
        self, ctx: ActivityContext, action: str, resource: str, **details: Any
    ) -> None:
        event = AuditEvent(
            action, "workflow_run", ctx.run_id, details={"resource": resource, **details}
        )
        await self.audit.record_now([ctx.tenant], self.actor(ctx), event)

    async def history(self, run_id: str) -> list[Any]:
        async with self.uow() as uow:
            return list(await uow.workflows.events(run_id))

    async def open_runs(self, tenant_id: str, workflow: str) -> list[dict[str, Any]]:
        """The workflow's runs that have not finished (running, waiting or suspended)."""
        open_states = [s for s in RunStatus if not s.finished]
        async with self.uow() as uow:
            found = [
                await uow.workflows.runs(tenant_id, state.value, workflow, None, 1000)
                for state in open_states
            ]
        return [run for runs in found for run in runs]
