"""Egress (issue 12, item 3): each tenant's rules (read, set, audited) and the check every
outbound call a tenant can aim makes before it connects.

`destination(tenant, host, port)` resolves the name once (through the Resolver port),
asks the policy (hub/domain/egress.py) and returns the one address the caller must
connect to; connectors/outbound/pinned.py connects there and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hub.domain.audit import AuditEvent, RequestContext
from hub.domain.egress import (
    EgressEntry,
    EgressPolicy,
    EgressRefused,
    StoredRules,
    TenantEgress,
    normal_host,
    tenant_rules,
)
from hub.domain.tenancy import Tenant
from hub.ports import Clock, Resolver, UnitOfWorkFactory

if TYPE_CHECKING:  # the audit service pulls in the store's error types
    from hub.services.audit.log import AuditLog

INSTALL_LOOKUP_SECONDS = 5.0


@dataclass(frozen=True)
class EgressView:
    mode: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    platform_allow: tuple[str, ...]
    updated_at: datetime | None = None
    updated_by: str | None = None


async def pick(policy: EgressPolicy, resolver: Resolver, host: str, port: int) -> str:
    """The address to connect to for (host, port), or EgressRefused; OSError when the
    name does not resolve."""
    early = policy.refuse_name(host, port)
    if early is not None:
        raise EgressRefused(early)
    addresses = await resolver.resolve(normal_host(host), port)
    return policy.choose(host, port, addresses)


class StaticEgress:
    """One policy for every caller, without tenant rules: for tools and tests."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    async def destination(self, tenant_id: str | None, host: str, port: int) -> str:
        return await pick(self._policy, self._resolver, host, port)


class EgressService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        platform: Sequence[EgressEntry],
        resolver: Resolver,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self.platform = tuple(platform)
        self._resolver = resolver

    # --- the tenant's rules ---

    async def get(self, tenant: Tenant) -> EgressView:
        async with self._uow() as uow:
            stored = await uow.egress.rules(tenant.id)
        return self._view(stored)

    async def update(
        self,
        tenant: Tenant,
        mode: str,
        allow: Sequence[str],
        deny: Sequence[str],
        ctx: RequestContext,
    ) -> EgressView:
        parsed = tenant_rules(self.platform, mode, allow, deny)  # 422 naming each entry
        rules = StoredRules(
            tenant.id,
            parsed.mode,
            tuple(str(e) for e in parsed.allow),
            tuple(str(e) for e in parsed.deny),
            self._clock.now(),
            ctx.actor,
        )
        async with self._uow(write=True) as uow:
            before = await uow.egress.rules(tenant.id)
            await uow.egress.save(rules, new=before is None)
            details = {
                **_rules_details(rules),
                "before": _rules_details(before) if before is not None else None,
            }
            event = AuditEvent("egress.update", "tenant", tenant.slug, details=details)
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        return self._view(rules)

    def _view(self, stored: StoredRules | None) -> EgressView:
        platform = tuple(str(e) for e in self.platform)
        if stored is None:
            return EgressView("inherit", (), (), platform)
        return EgressView(
            stored.mode, stored.allow, stored.deny, platform, stored.updated_at, stored.updated_by
        )

    # --- the check before a connection ---

    async def policy(self, tenant_id: str | None) -> EgressPolicy:
        if tenant_id is None:
            return EgressPolicy(self.platform)
        async with self._uow() as uow:
            stored = await uow.egress.rules(tenant_id)
        tenant = stored.parsed() if stored is not None else TenantEgress()
        return EgressPolicy(self.platform, tenant)

    async def destination(self, tenant_id: str | None, host: str, port: int) -> str:
        """The address to connect to; EgressRefused, or OSError when the name does not
        resolve."""
        return await pick(await self.policy(tenant_id), self._resolver, host, port)

    async def refusal(self, tenant_id: str, host: str, port: int) -> str | None:
        """For checks ahead of use (pack parameters): why the destination is refused, or
        None. A name that does not resolve now passes; it is checked again at each use."""
        try:
            async with asyncio.timeout(INSTALL_LOOKUP_SECONDS):
                await self.destination(tenant_id, host, port)
        except EgressRefused as exc:
            return str(exc)
        except (OSError, TimeoutError):
            return None
        return None


def _rules_details(rules: StoredRules) -> dict[str, object]:
    return {"mode": rules.mode, "allow": list(rules.allow), "deny": list(rules.deny)}
