"""Each tenant's ERP connections (issue 15, item 1): create, read, change and remove them,
audited; and `load`, the connection with its secrets opened, for the side that calls the
ERP.

Secrets are sealed (the Sealer port) under a context naming the tenant, the connection and
the field, so a sealed value copied to another row does not open there; they are never
returned, audited or logged. Every target (the service root, an OAuth token endpoint)
must pass the tenant's egress policy when it is set, through the `destination` callable
(EgressService.destination): the check before each call still applies, this one refuses
a connection that could never be used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from hub.domain.audit import AuditEvent, RequestContext
from hub.domain.egress import EgressRefused
from hub.domain.enterprise import Connection, ConnectionSecrets
from hub.domain.enterprise_config import (
    StoredConnection,
    given_secrets,
    parse_connection,
    patch_connection,
    sealing_context,
    target,
    wanted_secrets,
    without_secrets,
)
from hub.domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from hub.domain.packs import SealBroken
from hub.domain.paging import decode_cursor, encode_cursor
from hub.domain.tenancy import Tenant
from hub.ports import Clock, Page, Sealer, UnitOfWorkFactory
from hub.services.audit.log import AuditLog

# (tenant id, host, port) -> the address the policy lets a call connect to; raises
# EgressRefused, or OSError when the name does not resolve.
Destination = Callable[[str, str, int], Awaitable[str]]
# (tenant id, connection name): called after a change or removal is committed, so cached
# clients of the old connection are dropped. It must not raise.
OnChange = Callable[[str, str], None]
LOOKUP_SECONDS = 5.0


class ConnectionChanges:
    """Word that a connection changed or went, for whoever keeps something built from it
    (a cache of ERP clients). The composition root builds it first and hands `changed` to
    the service and the object to the listeners, so neither depends on the other."""

    def __init__(self) -> None:
        self._listeners: list[OnChange] = []

    def listen(self, listener: OnChange) -> Callable[[], None]:
        """Call `listener(tenant_id, name)` after every change; returns the way to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def changed(self, tenant_id: str, name: str) -> None:
        for listener in list(self._listeners):
            listener(tenant_id, name)


class ConnectionService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        sealer: Sealer,
        destination: Destination,
        on_change: OnChange | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self._sealer = sealer
        self._destination = destination
        self._on_change = on_change

    # --- the registry ---

    async def create(
        self, tenant: Tenant, raw: dict[str, Any], ctx: RequestContext
    ) -> StoredConnection:
        """422 naming each bad field (egress refusals name `url` or `auth.token_url`), 409
        when the tenant has a connection of that name."""
        connection = parse_connection(raw, tenant_id=tenant.id)
        await self._check_targets(connection, None)
        now = self._clock.now()
        stored = StoredConnection(
            without_secrets(connection), self._sealed(connection, {}), now, now
        )
        async with self._uow(write=True) as uow:
            await uow.connections.add(stored)  # DuplicateKey (409) on a taken name
            await self._audit.record(uow, [tenant.id], ctx, _event("connection.create", stored))
            await uow.commit()
        return stored

    async def get(self, tenant: Tenant, name: str) -> StoredConnection:
        async with self._uow() as uow:
            found = await uow.connections.get(tenant.id, name)
        if found is None:
            raise NotFound(f"connection {name!r} not found")
        return found

    async def page(self, tenant: Tenant, cursor: str | None, limit: int) -> Page[StoredConnection]:
        async with self._uow() as uow:
            found = await uow.connections.page(tenant.id, decode_cursor(cursor), limit + 1)
        if len(found) > limit:
            return Page(found[:limit], encode_cursor(found[limit - 1].connection.name))
        return Page(found, None)

    async def update(
        self, tenant: Tenant, name: str, patch: dict[str, Any], ctx: RequestContext
    ) -> StoredConnection:
        """`patch` applied (name and kind fixed); a secret left out is kept while the
        auth type stays, and must come with a new type."""
        current = await self.get(tenant, name)
        connection = patch_connection(current.connection, set(current.sealed), patch)
        await self._check_targets(connection, current.connection)
        stored = StoredConnection(
            without_secrets(connection),
            self._sealed(connection, current.sealed),
            current.created_at,
            self._clock.now(),
        )
        async with self._uow(write=True) as uow:
            if await uow.connections.get(tenant.id, name) is None:
                raise NotFound(f"connection {name!r} not found")  # removed meanwhile
            await uow.connections.update(stored)
            event = _event("connection.update", stored, changed=sorted(patch))
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        self._changed(tenant.id, name)
        return stored

    async def delete(self, tenant: Tenant, name: str, ctx: RequestContext) -> None:
        current = await self.get(tenant, name)
        async with self._uow(write=True) as uow:
            if not await uow.connections.delete(tenant.id, name):
                raise NotFound(f"connection {name!r} not found")
            event = _event("connection.delete", current)
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        self._changed(tenant.id, name)

    # --- for the side that calls the ERP ---

    async def load(self, tenant_id: str, name: str) -> Connection:
        """The connection with its secrets opened (never to be shown or logged). NotFound;
        Conflict when a secret cannot be opened (another HUB_SECRET_KEY): set it again."""
        async with self._uow() as uow:
            found = await uow.connections.get(tenant_id, name)
        if found is None:
            raise NotFound(f"connection {name!r} not found")
        opened: dict[str, str] = {}
        for key, sealed in found.sealed.items():
            try:
                opened[key] = self._sealer.unseal(sealed, sealing_context(tenant_id, name, key))
            except SealBroken:
                raise Conflict(
                    f"connection {name!r}: its {key} cannot be decrypted with this hub's "
                    "HUB_SECRET_KEY; set it again"
                ) from None
        secrets = ConnectionSecrets(**opened)
        return replace(found.connection, secrets=secrets)

    # --- helpers ---

    def _sealed(
        self, connection: Connection, kept: Mapping[str, Mapping[str, str]]
    ) -> dict[str, dict[str, str]]:
        """The sealed secrets of `connection`'s auth type: those the body gave, sealed
        afresh, and the kept ones it left out (bound to the same context, so reusable)."""
        given = given_secrets(connection)
        out: dict[str, dict[str, str]] = {}
        for key in wanted_secrets(connection.auth):
            if key in given:
                context = sealing_context(connection.tenant_id, connection.name, key)
                out[key] = self._sealer.seal(given[key], context)
            elif key in kept:
                out[key] = dict(kept[key])
        return out

    async def _check_targets(self, connection: Connection, before: Connection | None) -> None:
        """The egress policy on every target that is new or changed."""
        targets = [("url", connection.url, before.url if before else None)]
        if connection.auth.token_url is not None:
            old = before.auth.token_url if before else None
            targets.append(("auth.token_url", connection.auth.token_url, old))
        problems = []
        for where, url, old_url in targets:
            if url != old_url:
                problem = await self._refusal(connection.tenant_id, where, url)
                if problem is not None:
                    problems.append(problem)
        if problems:
            raise ValidationFailed(problems)

    async def _refusal(self, tenant_id: str, where: str, url: str) -> FieldProblem | None:
        host, port = target(url)
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                await self._destination(tenant_id, host, port)
        except EgressRefused as exc:
            return FieldProblem(where, f"refused by the egress policy: {exc.reason}")
        except (OSError, TimeoutError):
            return FieldProblem(where, f"the host {host!r} does not resolve")
        return None

    def _changed(self, tenant_id: str, name: str) -> None:
        if self._on_change is not None:
            self._on_change(tenant_id, name)


def _event(action: str, stored: StoredConnection, **extra: Any) -> AuditEvent:
    """What the audit log keeps of a connection: never a secret, nor header values."""
    connection = stored.connection
    details = {
        "name": connection.name,
        "kind": connection.kind,
        "url": connection.url,
        "version": connection.version,
        "auth_type": connection.auth.type,
        **extra,
    }
    return AuditEvent(action, "connection", connection.name, details=details)
