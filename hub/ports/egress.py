"""Egress: each tenant's stored rules and the name resolver outbound calls use."""

from __future__ import annotations

from typing import Protocol

from hub.domain.egress import StoredRules


class EgressRepository(Protocol):
    async def rules(self, tenant_id: str) -> StoredRules | None: ...

    async def save(self, rules: StoredRules, *, new: bool) -> None: ...


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to, in the order to try; OSError when none."""
