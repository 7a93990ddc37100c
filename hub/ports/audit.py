"""The audit log's storage: entries, complete subtree hashes, signed tree heads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hub.domain.audit import AuditFilter, SignedHead, StoredEntry

NodeKey = tuple[int, int]  # (level, index) of a complete subtree


class AuditRepository(Protocol):
    async def reserve(self, log_id: str, count: int) -> int: ...

    async def size(self, log_id: str) -> int: ...

    async def nodes(self, log_id: str, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]: ...

    async def add(self, rows: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> None: ...

    async def entry(self, log_id: str, seq: int) -> StoredEntry | None: ...

    async def search(
        self, log_id: str, where: AuditFilter, after: int | None, limit: int
    ) -> list[StoredEntry]: ...

    async def scan(self, log_id: str, after: int, limit: int) -> list[StoredEntry]: ...

    async def stored_leaves(
        self, log_id: str, first_seq: int, last_seq: int
    ) -> dict[int, bytes]: ...

    async def add_head(self, log_id: str, head: SignedHead) -> None: ...

    async def latest_head(self, log_id: str) -> SignedHead | None: ...

    async def head_at(self, log_id: str, tree_size: int) -> SignedHead | None: ...

    async def heads(self, log_id: str) -> list[SignedHead]: ...
