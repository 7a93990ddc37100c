"""The enterprise port: an ERP's entity sets, read and written (the OData adapter comes in
connectors/enterprise/, issue 15). Declared here first so the services that will use it
(production packs, confirmations) have their boundary before their adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    """One ERP connection. Raises typed errors (not found, precondition failed, invalid
    request: not retryable; unavailable: retryable) rather than transport exceptions."""

    async def query(self, query: EntityQuery) -> EntityPage: ...

    async def read(self, entity_set: str, key: Key) -> dict[str, Any]: ...

    async def create(self, entity_set: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def update(
        self, entity_set: str, key: Key, body: Mapping[str, Any], *, etag: str | None
    ) -> dict[str, Any] | None: ...

    async def delete(self, entity_set: str, key: Key, *, etag: str | None) -> None: ...

    async def call(
        self, name: str, params: Mapping[str, Any], *, bound_to: tuple[str, Key] | None = None
    ) -> Any:
        """An action or function import, unbound or bound to one entity."""
        ...

    async def batch(self, change_set: Sequence[ChangeSetItem]) -> list[dict[str, Any] | None]:
        """Every change or none."""
        ...

    async def metadata(self) -> dict[str, Any]: ...
