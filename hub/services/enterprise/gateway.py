"""Calls to a tenant's ERP connections (issue 15): one client per connection, kept while
the connection is unchanged, a circuit breaker per connection, and every name a caller
gives (entity set, property, operation) checked against the service's $metadata before a
request goes out, so a typo is a 404/422 naming it rather than an ERP round trip.

The adapter (an EnterprisePort) comes from the `connect` factory the composition root
hands in: the OData client under the tenant's egress policy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from hub.domain.circuit import CircuitBreaker, State
from hub.domain.enterprise import (
    CircuitOpen,
    Connection,
    EnterpriseError,
    EntityType,
    ErpUnavailable,
    ServiceMetadata,
)
from hub.domain.errors import FieldProblem, NotFound, ValidationFailed
from hub.ports.enterprise import ChangeSetItem, EnterprisePort, EntityPage, EntityQuery, Key

T = TypeVar("T")
LoadConnection = Callable[[str, str], Awaitable[Connection]]  # raises NotFound
Connect = Callable[[Connection], EnterprisePort]
Seconds = Callable[[], float]
CONNECTION_TTL_S = 30.0  # another process may change a connection: look again this often
METADATA_TTL_S = 600.0
ETAG = "@etag"


@dataclass(frozen=True)
class Health:
    ok: bool
    latency_ms: float
    circuit: State
    error: str | None = None


@dataclass
class _Link:
    """One connection's client, breaker and cached metadata."""

    connection: Connection
    client: EnterprisePort
    loaded_at: float
    breaker: CircuitBreaker
    metadata: ServiceMetadata | None = None
    metadata_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class EnterpriseGateway:
    def __init__(
        self,
        load: LoadConnection,
        connect: Connect,
        *,
        seconds: Seconds = time.monotonic,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
    ) -> None:
        self._load = load
        self._connect = connect
        self._seconds = seconds
        self._threshold = failure_threshold
        self._cooldown = cooldown_s
        # (tenant, connection, service): a profile's operation may name a service under the
        # connection's URL (SAP: one OData service per API), each with a client of its own.
        self._links: dict[tuple[str, str, str | None], _Link] = {}
        self._retired: set[asyncio.Task[None]] = set()

    # --- what callers use -------------------------------------------------------------

    async def health(self, tenant_id: str, name: str) -> Health:
        """A real request (not through the breaker: the operator wants the truth now)."""
        link = await self._link(tenant_id, name)
        began = time.perf_counter()
        try:
            await link.client.ping()
        except EnterpriseError as exc:
            error: str | None = exc.detail
        else:
            error = None
        latency = round((time.perf_counter() - began) * 1000, 1)
        return Health(ok=error is None, latency_ms=latency, circuit=link.breaker.state, error=error)

    async def connection(self, tenant_id: str, name: str) -> Connection:
        """The connection as the gateway uses it (NotFound for another tenant's name)."""
        return (await self._link(tenant_id, name)).connection

    async def metadata(self, tenant_id: str, name: str) -> ServiceMetadata:
        return await self._metadata(await self._link(tenant_id, name))

    async def query(
        self, tenant_id: str, name: str, query: EntityQuery, *, service: str | None = None
    ) -> EntityPage:
        link = await self._link(tenant_id, name, service)
        entity = await self._entity(link, query.entity_set)
        _check_properties(entity, query.select, "select")
        _check_properties(entity, [_order_property(o) for o in query.orderby], "orderby")
        _check_navigation(entity, query.expand)
        return await self._guarded(link, lambda c: c.query(query))

    async def read(
        self, tenant_id: str, name: str, entity_set: str, key: Key, *, service: str | None = None
    ) -> dict[str, Any]:
        link = await self._link(tenant_id, name, service)
        _check_key(await self._entity(link, entity_set), key)
        return await self._guarded(link, lambda c: c.read(entity_set, key))

    async def create(
        self,
        tenant_id: str,
        name: str,
        entity_set: str,
        data: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        service: str | None = None,
    ) -> dict[str, Any]:
        link = await self._link(tenant_id, name, service)
        _check_data(await self._entity(link, entity_set), data)
        return await self._guarded(
            link, lambda c: c.create(entity_set, data, idempotency_key=idempotency_key)
        )

    async def update(
        self,
        tenant_id: str,
        name: str,
        entity_set: str,
        key: Key,
        data: Mapping[str, Any],
        *,
        etag: str | None,
        idempotency_key: str | None = None,
        service: str | None = None,
    ) -> dict[str, Any] | None:
        link = await self._link(tenant_id, name, service)
        entity = await self._entity(link, entity_set)
        _check_key(entity, key)
        _check_data(entity, data)
        return await self._guarded(
            link,
            lambda c: c.update(entity_set, key, data, etag=etag, idempotency_key=idempotency_key),
        )

    async def delete(
        self,
        tenant_id: str,
        name: str,
        entity_set: str,
        key: Key,
        *,
        etag: str | None,
        idempotency_key: str | None = None,
    ) -> None:
        link = await self._link(tenant_id, name)
        _check_key(await self._entity(link, entity_set), key)
        await self._guarded(
            link, lambda c: c.delete(entity_set, key, etag=etag, idempotency_key=idempotency_key)
        )

    async def call(
        self,
        tenant_id: str,
        name: str,
        operation: str,
        params: Mapping[str, Any],
        *,
        bound_to: tuple[str, Key] | None = None,
        idempotency_key: str | None = None,
        service: str | None = None,
    ) -> Any:
        link = await self._link(tenant_id, name, service)
        meta = await self._metadata(link)
        op = meta.operations.get(operation)
        if op is None:
            raise NotFound(
                f"connection {name!r}: the service has no action or function {operation!r}"
            )
        unknown = sorted(set(params) - set(op.parameters))
        if unknown:
            raise ValidationFailed(
                [
                    FieldProblem(f"params.{p}", f"{operation} takes no such parameter")
                    for p in unknown
                ]
            )
        if bound_to is not None:
            _check_key(await self._entity(link, bound_to[0]), bound_to[1])
        return await self._guarded(
            link,
            lambda c: c.call(operation, params, bound_to=bound_to, idempotency_key=idempotency_key),
        )

    async def batch(
        self,
        tenant_id: str,
        name: str,
        changes: Sequence[ChangeSetItem],
        *,
        idempotency_key: str | None = None,
    ) -> list[dict[str, Any] | None]:
        link = await self._link(tenant_id, name)
        for index, change in enumerate(changes):
            entity = await self._entity(link, change.entity_set, f"changes[{index}].entity_set")
            if change.key is not None:
                _check_key(entity, change.key, f"changes[{index}].key")
            _check_data(entity, change.body, f"changes[{index}].data")
        return await self._guarded(
            link, lambda c: c.batch(changes, idempotency_key=idempotency_key)
        )

    def forget(self, tenant_id: str, name: str) -> None:
        """The connection changed or went: its next call builds a new client."""
        for key in [k for k in self._links if k[:2] == (tenant_id, name)]:
            self._retire(self._links.pop(key).client)

    async def close(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.client.close()
        if self._retired:
            await asyncio.gather(*self._retired, return_exceptions=True)

    # --- inside -----------------------------------------------------------------------

    async def _link(self, tenant_id: str, name: str, service: str | None = None) -> _Link:
        key = (tenant_id, name, service)
        link = self._links.get(key)
        now = self._seconds()
        if link is not None and now - link.loaded_at < CONNECTION_TTL_S:
            return link
        connection = _in_service(await self._load(tenant_id, name), service)
        link = self._links.get(key)  # another call may have loaded it meanwhile
        if link is not None and link.connection.revision == connection.revision:
            link.loaded_at = now
            return link
        if link is not None:
            self._retire(link.client)
        fresh = _Link(
            connection=connection,
            client=self._connect(connection),
            loaded_at=now,
            breaker=CircuitBreaker(threshold=self._threshold, cooldown=self._cooldown),
        )
        self._links[key] = fresh
        return fresh

    def _retire(self, client: EnterprisePort) -> None:
        task = asyncio.get_running_loop().create_task(client.close())
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def _metadata(self, link: _Link) -> ServiceMetadata:
        now = self._seconds()
        if link.metadata is not None and now - link.metadata_at < METADATA_TTL_S:
            return link.metadata
        async with link.lock:
            if link.metadata is None or now - link.metadata_at >= METADATA_TTL_S:
                link.metadata = await self._guarded(link, lambda c: c.metadata())
                link.metadata_at = self._seconds()
        return link.metadata

    async def _entity(self, link: _Link, entity_set: str, where: str = "entity_set") -> EntityType:
        meta = await self._metadata(link)
        entity = meta.entity_sets.get(entity_set)
        if entity is None:
            raise NotFound(
                f"connection {link.connection.name!r}: the service has no entity set "
                f"{entity_set!r} ({where})"
            )
        return entity

    async def _guarded(self, link: _Link, call: Callable[[EnterprisePort], Awaitable[T]]) -> T:
        breaker = link.breaker
        if not breaker.allow(self._seconds()):
            wait = breaker.retry_in(self._seconds())
            raise CircuitOpen(
                f"connection {link.connection.name!r}: the ERP failed {breaker.failures} "
                f"times in a row; calls are held for {wait:.0f} s",
                retry_after=wait,
            )
        try:
            result = await call(link.client)
        except ErpUnavailable as exc:
            breaker.failed(self._seconds(), exc.retry_after)
            raise
        except EnterpriseError:
            breaker.succeeded()  # the ERP answered: it is up
            raise
        except BaseException:
            breaker.abandoned()
            raise
        breaker.succeeded()
        return result


def _in_service(connection: Connection, service: str | None) -> Connection:
    """The connection to `service` under its URL (the URL is then the services' root)."""
    if service is None:
        return connection
    root = connection.url if connection.url.endswith("/") else connection.url + "/"
    return replace(connection, url=root + service.strip("/"))


# --- name checks (before any request goes out) ---------------------------------------


def _check_properties(entity: EntityType, names: Sequence[str], where: str) -> None:
    known = set(entity.properties) | set(entity.navigation)
    problems = [
        FieldProblem(f"{where}[{i}]", f"{entity.name} has no property {n!r}")
        for i, n in enumerate(names)
        if n.split("/")[0] not in known
    ]
    if problems:
        raise ValidationFailed(problems)


def _order_property(clause: str) -> str:
    return clause.strip().split(" ")[0]


def _check_navigation(entity: EntityType, names: Sequence[str]) -> None:
    problems = [
        FieldProblem(f"expand[{i}]", f"{entity.name} has no navigation property {n!r}")
        for i, n in enumerate(names)
        if n.split("(")[0].split("/")[0] not in entity.navigation
    ]
    if problems:
        raise ValidationFailed(problems)


def _check_key(entity: EntityType, key: Key, where: str = "key") -> None:
    if isinstance(key, Mapping):
        missing = [k for k in entity.keys if k not in key]
        extra = [k for k in key if k not in entity.keys]
        problems = [FieldProblem(f"{where}.{k}", "a key field is missing") for k in missing]
        problems += [
            FieldProblem(f"{where}.{k}", f"not a key field of {entity.name}") for k in extra
        ]
        if problems:
            raise ValidationFailed(problems)
    elif len(entity.keys) > 1:
        raise ValidationFailed(
            [
                FieldProblem(
                    where,
                    f"{entity.name} has a composite key ({', '.join(entity.keys)}): give an object",
                )
            ]
        )
    elif isinstance(key, bool) or not isinstance(key, str | int):
        raise ValidationFailed([FieldProblem(where, "a key is a string, a number or an object")])


def _check_data(entity: EntityType, data: Mapping[str, Any], where: str = "data") -> None:
    if not isinstance(data, Mapping):
        raise ValidationFailed([FieldProblem(where, "must be an object")])
    known = set(entity.properties) | set(entity.navigation) | {ETAG}
    problems = [
        FieldProblem(f"{where}.{k}", f"{entity.name} has no property {k!r}")
        for k in data
        if k not in known
    ]
    if problems:
        raise ValidationFailed(problems)
