"""The tamper-evident audit log: append, query, prove, sign tree heads.

One RFC 6962 Merkle log per tenant (keyed by tenant id) plus the platform's log. Entries
are appended in the caller's transaction, so an entry exists exactly when its change does.
Every complete subtree hash is stored, so roots and proofs need O(log n) reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle
from audit.canonical import canonical
from audit.signing import public_key_document, sign_tree_head
from hub.domain.audit import (
    AuditEvent,
    AuditFilter,
    RequestContext,
    SignedHead,
    StoredEntry,
    entry_object,
    rfc3339,
)
from hub.domain.errors import DuplicateKey, FieldProblem, HubError, NotFound, ValidationFailed
from hub.ports import Clock, Page, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
GROUP_COMMIT_MAX = 1000  # entries per group-committed transaction


class IntegrityFailure(HubError):
    """Stored audit data no longer matches its hashes: the database was altered.

    409: the request is fine, the stored log is not, and serving it would pass altered
    content as good (an auditor runs `hub audit verify` for the full report)."""

    status = 409
    title = "Audit log integrity failure"


@dataclass(frozen=True)
class AuditLogRef:
    """A log and the name its signed heads are bound to (the tenant slug)."""

    log_id: str
    name: str


def _problems(row: StoredEntry, entry: dict[str, Any], leaf: bytes | None) -> list[str]:
    """What makes a stored entry unfit to serve: a filter column that disagrees with the
    body, or a body that no longer hashes to its stored leaf (a row moved to another log
    or seq finds another leaf, or none)."""
    found = [name for name, _, _ in row.mismatches(entry)]
    if leaf is None or merkle.leaf_hash(row.body.encode()) != leaf:
        found.append("body")
    return found


def _tampered(bad: list[tuple[int, list[str]]]) -> IntegrityFailure:
    named = [f"{seq} ({', '.join(columns)})" for seq, columns in bad[:20]]
    if len(bad) == 1:
        seq, columns = bad[0]
        what = f"audit entry {seq} does not match its signed body ({', '.join(columns)})"
    else:
        what = f"audit entries {', '.join(named)} do not match their signed bodies"
    log.error("%s", what)
    return IntegrityFailure(f"{what}; run `hub audit verify`")


def _served(
    rows: Sequence[StoredEntry], leaves: dict[merkle.NodeKey, bytes]
) -> list[dict[str, Any]]:
    """The entries as served, each with its leaf hash; IntegrityFailure naming every
    tampered seq and column instead of serving any of them as good."""
    served: list[dict[str, Any]] = []
    bad: list[tuple[int, list[str]]] = []
    for row in rows:
        entry: dict[str, Any] = json.loads(row.body)
        leaf = leaves.get((0, row.seq - 1))
        problems = _problems(row, entry, leaf)
        if problems or leaf is None:
            bad.append((row.seq, problems))
        else:
            entry["leaf_hash"] = leaf.hex()
            served.append(entry)
    if bad:
        raise _tampered(bad)
    return served


def _stored_keys(index0: int, count: int) -> set[merkle.NodeKey]:
    """Nodes an append batch needs that were completed before the batch began."""
    keys: set[merkle.NodeKey] = set()
    for index in range(index0, index0 + count):
        for level, idx in merkle.append_keys(index):
            if (idx + 1) << level <= index0:
                keys.add((level, idx))
    return keys


class AuditLog:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, key: Ed25519PrivateKey):
        self._uow = uow_factory
        self._clock = clock
        self._key = key
        self._queue: list[tuple[Sequence[str], RequestContext, AuditEvent, Any]] = []
        self._flushers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    def public_key(self) -> dict[str, Any]:
        return public_key_document(self._key.public_key())

    # --- writing ---

    async def record(
        self, uow: UnitOfWork, log_ids: Sequence[str], ctx: RequestContext, event: AuditEvent
    ) -> None:
        """Append `event` to each log inside the caller's transaction."""
        for log_id in dict.fromkeys(log_ids):
            await self.append_many(uow, log_id, [(ctx, event)])

    async def record_now(
        self, log_ids: Sequence[str], ctx: RequestContext, event: AuditEvent
    ) -> None:
        """Append outside any change (denials, failures); returns once committed.

        Concurrent callers are group-committed: one transaction takes everything queued
        while the previous one was being written, so appends do not queue one transaction
        each behind the log's lock.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append((log_ids, ctx, event, done))
        flusher = self._flushers.get(loop)
        if flusher is None or flusher.done():
            self._flushers[loop] = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:GROUP_COMMIT_MAX], self._queue[GROUP_COMMIT_MAX:]
            by_log: dict[str, list[tuple[RequestContext, AuditEvent]]] = {}
            for log_ids, ctx, event, _ in batch:
                for log_id in dict.fromkeys(log_ids):
                    by_log.setdefault(log_id, []).append((ctx, event))
            try:
                async with self._uow(write=True) as uow:
                    for log_id in sorted(by_log):  # one lock order: no deadlocks on PostgreSQL
                        await self.append_many(uow, log_id, by_log[log_id])
                    await uow.commit()
            except Exception as exc:
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for *_, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def append_many(
        self, uow: UnitOfWork, log_id: str, items: Sequence[tuple[RequestContext, AuditEvent]]
    ) -> int:
        """Append a batch to one log; returns the first seq."""
        first = await uow.audit.reserve(log_id, len(items))
        index0 = first - 1
        nodes = await uow.audit.nodes(log_id, sorted(_stored_keys(index0, len(items))))
        now = self._clock.now()
        rows, node_rows = [], []
        for offset, (ctx, event) in enumerate(items):
            seq = first + offset
            body = canonical(entry_object(seq, now, ctx, event))
            leaf = merkle.leaf_hash(body)
            for (level, idx), digest in merkle.append_nodes(index0 + offset, leaf, nodes):
                nodes[(level, idx)] = digest
                node_rows.append({"log_id": log_id, "level": level, "idx": idx, "hash": digest})
            rows.append(
                {
                    "log_id": log_id,
                    "seq": seq,
                    "ts": now,
                    "actor": ctx.actor,
                    "action": event.action,
                    "resource_type": event.resource_type,
                    "resource_id": event.resource_id,
                    "outcome": event.outcome.value,
                    "body": body.decode(),
                }
            )
        await uow.audit.add(rows, node_rows)
        return first

    # --- reading ---

    async def search(
        self, ref: AuditLogRef, where: AuditFilter, after: int | None, limit: int
    ) -> Page[dict[str, Any]]:
        async with self._uow() as uow:
            rows = await uow.audit.search(ref.log_id, where, after, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            leaves = await uow.audit.nodes(ref.log_id, [(0, r.seq - 1) for r in rows])
        cursor = str(rows[-1].seq) if more and rows else None
        return Page(_served(rows, leaves), cursor)

    async def entry(self, ref: AuditLogRef, seq: int) -> dict[str, Any]:
        async with self._uow() as uow:
            row = await self._row(uow, ref, seq)
            leaves = await uow.audit.nodes(ref.log_id, [(0, seq - 1)])
        return _served([row], leaves)[0]

    async def head(self, ref: AuditLogRef) -> SignedHead:
        """The signed head of the current tree, signed now if the log grew since the last."""
        async with self._uow() as uow:
            size = await uow.audit.size(ref.log_id)
            latest = await uow.audit.latest_head(ref.log_id)
        if latest is not None and latest.tree_size == size:
            return latest
        async with self._uow(write=True) as uow:
            root = await self._root(uow, ref.log_id, size)
            signed = sign_tree_head(
                self._key, ref.name, size, root.hex(), rfc3339(self._clock.now())
            )
            head = SignedHead(**signed)
            try:
                await uow.audit.add_head(ref.log_id, head)
                await uow.commit()
            except DuplicateKey:
                # Another request signed this size first; every signed head is kept once.
                await uow.rollback()
                existing = await self._head_at(ref, size)
                assert existing is not None
                return existing
        return head

    async def proof(self, ref: AuditLogRef, seq: int, tree_size: int | None) -> dict[str, Any]:
        head = await self.head(ref)
        size = head.tree_size if tree_size is None else tree_size
        if size > head.tree_size or size < 1:
            raise ValidationFailed(
                [
                    FieldProblem(
                        "tree_size", f"must be between 1 and the current head's {head.tree_size}"
                    )
                ]
            )
        async with self._uow() as uow:
            row = await self._row(uow, ref, seq)
            if seq > size:
                raise ValidationFailed(
                    [FieldProblem("tree_size", f"entry {seq} is not in a tree of size {size}")]
                )
            # The leaf, its path and the root's nodes in one read.
            keys = [(0, seq - 1), *merkle.inclusion_keys(seq - 1, size), *merkle.root_keys(size)]
            nodes = await uow.audit.nodes(ref.log_id, keys)
            signed = head if size == head.tree_size else await uow.audit.head_at(ref.log_id, size)
        leaf = _stored_leaf(nodes, seq)
        path = merkle.inclusion_proof(seq - 1, size, nodes)
        root = bytes.fromhex(signed.root_hash) if signed else merkle.root_from_nodes(size, nodes)
        # The body is stored in RFC 8785 form, so hashing its bytes is hashing the entry
        # as served; a body edited in any way no longer matches the stored leaf.
        content_leaf = merkle.leaf_hash(row.body.encode())
        if (
            content_leaf != leaf
            or row.mismatches(json.loads(row.body))
            or not merkle.verify_inclusion(leaf, seq - 1, size, path, root)
        ):
            log.error("audit log %s: entry %s fails its inclusion check", ref.name, seq)
            raise IntegrityFailure(
                f"audit entry {seq} does not match the signed log; "
                "run `hub audit verify` for this tenant"
            )
        return {
            "leaf_index": seq - 1,
            "tree_size": size,
            "leaf_hash": leaf.hex(),
            "audit_path": [p.hex() for p in path],
            "root_hash": root.hex(),
        }

    async def consistency(self, ref: AuditLogRef, first: int, second: int) -> dict[str, Any]:
        head = await self.head(ref)
        if not 1 <= first <= second <= head.tree_size:
            raise ValidationFailed(
                [
                    FieldProblem(
                        "first", f"need 1 <= first <= second <= {head.tree_size} (the current head)"
                    )
                ]
            )
        keys = (
            merkle.consistency_keys(first, second)
            + merkle.root_keys(first)
            + merkle.root_keys(second)
        )
        async with self._uow() as uow:
            nodes = await uow.audit.nodes(ref.log_id, keys)
        return {
            "first": first,
            "second": second,
            "first_root": merkle.root_from_nodes(first, nodes).hex(),
            "second_root": merkle.root_from_nodes(second, nodes).hex(),
            "proof": [p.hex() for p in merkle.consistency_proof(first, second, nodes)],
        }

    async def _row(self, uow: UnitOfWork, ref: AuditLogRef, seq: int) -> StoredEntry:
        row = await uow.audit.entry(ref.log_id, seq) if seq >= 1 else None
        if row is None:
            raise NotFound(f"audit entry {seq} not found")
        return row

    async def _root(self, uow: UnitOfWork, log_id: str, size: int) -> bytes:
        nodes = await uow.audit.nodes(log_id, merkle.root_keys(size))
        return merkle.root_from_nodes(size, nodes)

    async def _head_at(self, ref: AuditLogRef, size: int) -> SignedHead | None:
        async with self._uow() as uow:
            return await uow.audit.head_at(ref.log_id, size)


def _stored_leaf(nodes: dict[tuple[int, int], bytes], seq: int) -> bytes:
    leaf = nodes.get((0, seq - 1))
    if leaf is None:
        raise IntegrityFailure(f"audit entry {seq} has no stored leaf hash")
    return leaf
