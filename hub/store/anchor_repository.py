"""Anchors of audit tree heads: one row per (log, tree size) sent to a chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.domain.anchors import ANCHOR_ACTIONS, Anchor, AnchorStatus
from hub.store.tables import audit_anchors, audit_entries

a = audit_anchors.c
ACTIVE = (AnchorStatus.PENDING.value, AnchorStatus.SUBMITTED.value)


def _anchor(row: Any) -> Anchor:
    values = dict(row._mapping)
    values.pop("lease_until", None)
    values["status"] = AnchorStatus(values["status"])
    return Anchor(**values)


class SqlAnchors:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, row: dict[str, Any]) -> None:
        await self._conn.execute(insert(audit_anchors).values(**row))

    async def get(self, log_id: str, anchor_id: str) -> Anchor | None:
        query = select(audit_anchors).where(a.log_id == log_id, a.id == anchor_id)
        row = (await self._conn.execute(query)).first()
        return _anchor(row) if row else None

    async def latest(self, log_id: str) -> Anchor | None:
        query = (
            select(audit_anchors).where(a.log_id == log_id).order_by(a.tree_size.desc()).limit(1)
        )
        row = (await self._conn.execute(query)).first()
        return _anchor(row) if row else None

    async def list(
        self, log_id: str, status: str | None, before_size: int | None, limit: int
    ) -> list[Anchor]:
        """Newest (largest tree) first."""
        query = select(audit_anchors).where(a.log_id == log_id)
        if status is not None:
            query = query.where(a.status == status)
        if before_size is not None:
            query = query.where(a.tree_size < before_size)
        query = query.order_by(a.tree_size.desc()).limit(limit)
        return [_anchor(r) for r in await self._conn.execute(query)]

    async def due(self, now: datetime, limit: int) -> list[Anchor]:
        """Pending or submitted anchors whose next attempt is due and that nobody holds."""
        query = (
            select(audit_anchors)
            .where(
                a.status.in_(ACTIVE),
                a.next_attempt_at <= now,
                or_(a.lease_until.is_(None), a.lease_until < now),
            )
            .order_by(a.next_attempt_at)
            .limit(limit)
        )
        return [_anchor(r) for r in await self._conn.execute(query)]

    async def lease(self, anchor_id: str, now: datetime, until: datetime) -> bool:
        """Hold an anchor while talking to the chain; False when another worker holds it."""
        statement = (
            update(audit_anchors)
            .where(a.id == anchor_id, or_(a.lease_until.is_(None), a.lease_until < now))
            .values(lease_until=until)
        )
        return (await self._conn.execute(statement)).rowcount == 1

    async def update(self, anchor_id: str, **values: Any) -> None:
        """Change an anchor and release its lease."""
        statement = (
            update(audit_anchors).where(a.id == anchor_id).values(lease_until=None, **values)
        )
        await self._conn.execute(statement)

    async def covering(self, log_id: str, seq: int) -> Anchor | None:
        """The first confirmed anchor whose tree includes entry `seq`."""
        query = (
            select(audit_anchors)
            .where(
                a.log_id == log_id,
                a.status == AnchorStatus.CONFIRMED.value,
                a.tree_size >= seq,
            )
            .order_by(a.tree_size)
            .limit(1)
        )
        row = (await self._conn.execute(query)).first()
        return _anchor(row) if row else None

    async def any_covering(self, log_id: str, seq: int) -> bool:
        query = select(a.id).where(
            a.log_id == log_id, a.tree_size >= seq, a.status != AnchorStatus.FAILED.value
        )
        return (await self._conn.execute(query.limit(1))).first() is not None

    async def confirmed(
        self, log_id: str, chain_id: int, contract: str, before_size: int | None, limit: int
    ) -> list[Anchor]:
        """Confirmed anchors on one chain and contract, newest first."""
        query = select(audit_anchors).where(
            a.log_id == log_id,
            a.status == AnchorStatus.CONFIRMED.value,
            a.chain_id == chain_id,
            a.contract == contract,
        )
        if before_size is not None:
            query = query.where(a.tree_size < before_size)
        query = query.order_by(a.tree_size.desc()).limit(limit)
        return [_anchor(r) for r in await self._conn.execute(query)]

    async def grown_since(self, log_id: str, seq: int) -> bool:
        """True when the log has an entry after `seq` that the anchoring service did not write."""
        e = audit_entries.c
        query = select(
            exists().where(and_(e.log_id == log_id, e.seq > seq, e.action.not_in(ANCHOR_ACTIONS)))
        )
        return bool((await self._conn.execute(query)).scalar())
