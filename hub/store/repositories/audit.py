"""The audit log's rows: entries, complete subtree hashes, signed heads, per-log size."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, bindparam, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from hub.domain.audit import AuditFilter, SignedHead, StoredEntry
from hub.store.conflicts import duplicates_conflict
from hub.store.inline import StoreConnection
from hub.store.tables.core import audit_entries, audit_heads, audit_logs, audit_nodes

NodeKey = tuple[int, int]
c = audit_entries.c
# The filter columns come with the body, so the service can compare them with it.
ENTRY_COLUMNS = (c.seq, c.ts, c.actor, c.action, c.resource_type, c.resource_id, c.outcome, c.body)


NODE_BATCH = 256  # keys per statement, under SQLite's expression depth limit


@lru_cache(maxsize=NODE_BATCH)
def _nodes_statement(count: int) -> Any:
    # Each OR term names the whole primary key, so SQLite (and PostgreSQL) answer every
    # term with an index lookup; a row-value IN list made SQLite scan the log's nodes.
    terms = " OR ".join(f"(log_id = :log AND level = :l{i} AND idx = :i{i})" for i in range(count))
    return text(f"SELECT level, idx, hash FROM audit_nodes WHERE {terms}")


@lru_cache(maxsize=2)
def _upsert_size(dialect: str) -> Any:
    """Built once per dialect (every append runs it): parameters `log` and `count`."""
    module = postgresql if dialect == "postgresql" else sqlite
    count = bindparam("count", type_=Integer)
    statement = module.insert(audit_logs).values(log_id=bindparam("log"), size=count)
    return statement.on_conflict_do_update(
        index_elements=[audit_logs.c.log_id],
        set_={"size": audit_logs.c.size + count},
    ).returning(audit_logs.c.size)


class SqlAudit:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def reserve(self, log_id: str, count: int) -> int:
        """Claim `count` sequence numbers; returns the first. Holds the log's row lock
        until the transaction ends, so concurrent writers get gapless, distinct numbers."""
        statement = _upsert_size(self._conn.dialect.name)
        size: int = (
            await self._conn.execute(statement, {"log": log_id, "count": count})
        ).scalar_one()
        return int(size) - count + 1

    async def size(self, log_id: str) -> int:
        query = select(audit_logs.c.size).where(audit_logs.c.log_id == log_id)
        return int((await self._conn.execute(query)).scalar() or 0)

    async def nodes(self, log_id: str, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes of `keys`: one primary-key lookup each, O(log n) per proof."""
        unique = sorted(set(keys))
        found: dict[NodeKey, bytes] = {}
        for start in range(0, len(unique), NODE_BATCH):
            chunk = unique[start : start + NODE_BATCH]
            params: dict[str, Any] = {"log": log_id}
            for i, (level, idx) in enumerate(chunk):
                params[f"l{i}"], params[f"i{i}"] = level, idx
            rows = await self._conn.execute(_nodes_statement(len(chunk)), params)
            found.update({(r.level, r.idx): bytes(r.hash) for r in rows})
        return found

    async def add(self, rows: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> None:
        await self._conn.execute(insert(audit_entries), rows)
        await self._conn.execute(insert(audit_nodes), nodes)

    async def entry(self, log_id: str, seq: int) -> StoredEntry | None:
        query = select(*ENTRY_COLUMNS).where(c.log_id == log_id, c.seq == seq)
        row = (await self._conn.execute(query)).first()
        return _entry(row) if row else None

    async def search(
        self, log_id: str, where: AuditFilter, after: int | None, limit: int
    ) -> list[StoredEntry]:
        query = select(*ENTRY_COLUMNS).where(c.log_id == log_id).order_by(c.seq).limit(limit)
        for column, value in (
            (c.actor, where.actor),
            (c.action, where.action),
            (c.resource_type, where.resource_type),
            (c.resource_id, where.resource_id),
            (c.outcome, where.outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(c.ts >= where.since)
        if where.until is not None:
            query = query.where(c.ts < where.until)
        if after is not None:
            query = query.where(c.seq > after)
        return [_entry(r) for r in await self._conn.execute(query)]

    async def scan(self, log_id: str, after: int, limit: int) -> list[StoredEntry]:
        """Entries in seq order for verification and export."""
        query = (
            select(*ENTRY_COLUMNS)
            .where(c.log_id == log_id, c.seq > after)
            .order_by(c.seq)
            .limit(limit)
        )
        return [_entry(r) for r in await self._conn.execute(query)]

    async def stored_leaves(self, log_id: str, first_seq: int, last_seq: int) -> dict[int, bytes]:
        """Level-0 node hashes of seq first_seq..last_seq, keyed by seq (leaf index + 1)."""
        n = audit_nodes.c
        query = select(n.idx, n.hash).where(
            n.log_id == log_id, n.level == 0, n.idx >= first_seq - 1, n.idx <= last_seq - 1
        )
        return {int(r.idx) + 1: bytes(r.hash) for r in await self._conn.execute(query)}

    async def add_head(self, log_id: str, head: SignedHead) -> None:
        with duplicates_conflict(f"a head of size {head.tree_size} is signed"):
            await self._conn.execute(insert(audit_heads).values(log_id=log_id, **head.as_dict()))

    async def latest_head(self, log_id: str) -> SignedHead | None:
        h = audit_heads.c
        query = select(audit_heads).where(h.log_id == log_id).order_by(h.tree_size.desc()).limit(1)
        row = (await self._conn.execute(query)).first()
        return _head(row) if row else None

    async def head_at(self, log_id: str, tree_size: int) -> SignedHead | None:
        h = audit_heads.c
        query = select(audit_heads).where(h.log_id == log_id, h.tree_size == tree_size)
        row = (await self._conn.execute(query)).first()
        return _head(row) if row else None

    async def heads(self, log_id: str) -> list[SignedHead]:
        h = audit_heads.c
        query = select(audit_heads).where(h.log_id == log_id).order_by(h.tree_size)
        return [_head(r) for r in await self._conn.execute(query)]


def _entry(row: Any) -> StoredEntry:
    return StoredEntry(
        int(row.seq),
        row.ts,
        row.actor,
        row.action,
        row.resource_type,
        row.resource_id,
        row.outcome,
        row.body,
    )


def _head(row: Any) -> SignedHead:
    return SignedHead(int(row.tree_size), row.root_hash, row.timestamp, row.signature, row.key_id)
