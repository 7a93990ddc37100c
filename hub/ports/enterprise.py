"""The enterprise port: an ERP's entity sets, read and written (the OData adapter comes in
connectors/enterprise/, issue 15). Declared here first so the services that will use it
(production packs, confirmations) have their boundary before their adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.domain.enterprise import ServiceMetadata
from hub.domain.enterprise_config import StoredConnection

Key = str | int | Mapping[str, str | int]  # a single key value, or a composite key by name


@dataclass(frozen=True)
class EntityQuery:
    entity_set: str
    filter: str | None = None
    select: Sequence[str] = ()
    expand: Sequence[str] = ()
    orderby: Sequence[str] = ()
    top: int | None = None  # None: follow server-driven paging to the end
    skip: int | None = None
    count: bool = False  # ask the server for the total ($count / $inlinecount)


@dataclass(frozen=True)
class EntityPage:
    items: list[dict[str, Any]]  # plain JSON objects, each with "@etag" when sent
    count: int | None = None


@dataclass(frozen=True)
class ChangeSetItem:
    method: str  # "POST" | "PATCH" | "DELETE"
    entity_set: str
    key: Key | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    etag: str | None = None


class EnterprisePort(Protocol):
    """One ERP connection. Raises the typed errors of hub/domain/enterprise.py (not found,
    precondition failed, invalid request: not retryable; unavailable: retryable) rather
    than transport exceptions. Items are plain JSON objects, each with its ETag in
    "@etag" when the service sends one. `idempotency_key` reaches the ERP as an
    Idempotency-Key header, so a retried write can be recognised there."""

    async def query(self, query: EntityQuery) -> EntityPage: ...

    async def read(self, entity_set: str, key: Key) -> dict[str, Any]: ...

    async def create(
        self, entity_set: str, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]: ...

    async def update(
        self,
        entity_set: str,
        key: Key,
        body: Mapping[str, Any],
        *,
        etag: str | None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any] | None:
        """The entity as it is now (with its new "@etag") when the service says."""
        ...

    async def delete(
        self, entity_set: str, key: Key, *, etag: str | None, idempotency_key: str | None = None
    ) -> None: ...

    async def call(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        bound_to: tuple[str, Key] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """An action or function import, unbound or bound to one entity."""
        ...

    async def batch(
        self, change_set: Sequence[ChangeSetItem], *, idempotency_key: str | None = None
    ) -> list[dict[str, Any] | None]:
        """Every change or none."""
        ...

    async def metadata(self) -> ServiceMetadata: ...

    async def ping(self) -> None:
        """One cheap request that proves the service answers (and the credentials work)."""
        ...

    async def close(self) -> None: ...


# --- connections (issue 15, item 1) ---


class ConnectionRepository(Protocol):
    """Each tenant's ERP connections, unique by (tenant, name); secrets only sealed."""

    async def add(self, stored: StoredConnection) -> None:
        """hub.domain.errors.DuplicateKey when the tenant has a connection of that name."""
        ...

    async def get(self, tenant_id: str, name: str) -> StoredConnection | None: ...

    async def page(self, tenant_id: str, after: str | None, limit: int) -> list[StoredConnection]:
        """Up to `limit` connections by name, those after `after`."""
        ...

    async def update(self, stored: StoredConnection) -> None: ...

    async def delete(self, tenant_id: str, name: str) -> bool:
        """True when there was one to delete."""
        ...
