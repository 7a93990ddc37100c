"""Published definitions, parsed once and cached: a published version never changes."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.domain.errors import NotFound
from hub.engine.activities import ActivityRegistry
from hub.engine.definition import match_version_range, parse_definition
from hub.ports import UnitOfWorkFactory
from hub.services.workflows.rows import safe_content_hash


class DefinitionCache:
    def __init__(self, uow_factory: UnitOfWorkFactory, registry: ActivityRegistry) -> None:
        self._uow = uow_factory
        self._registry = registry
        self._parsed: dict[tuple[str, str, str], Any] = {}
        self._hashes: dict[tuple[str, str, str], str | None] = {}

    async def get(self, tenant_id: str, name: str, version: str) -> Any:
        key = (tenant_id, name, version)
        found = self._parsed.get(key)
        if found is None:
            async with self._uow() as uow:
                body = await uow.workflows.definition(tenant_id, name, version)
            if body is None:
                raise NotFound(f"workflow {name!r} version {version} not found")
            # Published definitions were validated then; activities may be registered later.
            # Parsed off the loop: compiling a large definition's CEL takes a while.
            found = await asyncio.to_thread(parse_definition, body)
            self._parsed[key] = found
        return found

    async def content_hash(self, tenant_id: str, name: str, version: str) -> str | None:
        """SHA-256 of the RFC 8785 form of the definition as published (what receipts
        prove); None when it has none or the version is gone."""
        key = (tenant_id, name, version)
        if key not in self._hashes:
            async with self._uow() as uow:
                body = await uow.workflows.definition(tenant_id, name, version)
            self._hashes[key] = safe_content_hash(body)
        return self._hashes[key]

    async def resolve(self, tenant_id: str, reference: str) -> tuple[str, str]:
        """`name`, `name@1.2.3` or `name@^1` to (name, newest matching version)."""
        name, _, wanted = reference.partition("@")
        if (tenant_id, name, wanted) in self._parsed:
            return name, wanted  # an exact version already read: versions never change
        async with self._uow() as uow:
            versions = await uow.workflows.definition_versions(tenant_id, name)
        if not versions:
            raise NotFound(f"workflow {name!r} not found")
        if not wanted:
            return name, versions[-1]
        chosen = match_version_range(wanted, versions)
        if chosen is None:
            raise NotFound(f"workflow {name!r} has no version matching {wanted!r}")
        return name, chosen
