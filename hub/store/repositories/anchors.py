"""Anchors of audit tree heads: one row per (log, tree size) sent to a chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.domain.anchors import ANCHOR_ACTIONS, Anchor, AnchorStatus, ChainRef
from hub.store.conflicts import duplicates_conflict
from hub.store.inline import StoreConnection
from hub.store.tables.core import anchor_chain, audit_anchors, audit_entries

a = audit_anchors.c
ACTIVE = (AnchorStatus.PENDING.value, AnchorStatus.SUBMITTED.value)
SENT = (AnchorStatus.SUBMITTED.value, AnchorStatus.CONFIRMED.value)


def _on(chain: ChainRef) -> Any:
    """An anchor sent to `chain` (addresses compared without their checksum case)."""
    return and_(a.chain_id == chain.chain_id, func.lower(a.contract) == chain.contract.lower())


def _anchor(row: Any) -> Anchor:
    values = dict(row._mapping)
    values.pop("lease_until", None)
    values["status"] = AnchorStatus(values["status"])
    return Anchor(**values)


class SqlAnchors:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def add(self, row: dict[str, Any]) -> None:
        with duplicates_conflict("an anchor of this tree size exists"):
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

    async def page(
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

    async def covering(self, log_id: str, seq: int, chain: ChainRef | None) -> Anchor | None:
        """The first confirmed anchor whose tree includes entry `seq`, on `chain` when known."""
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
        if chain is not None:
            query = query.where(_on(chain))
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

    # --- moving to another chain ---

    async def any_sent(self) -> bool:
        """True when some anchor was ever sent, so a chain change can matter."""
        query = select(exists().where(a.chain_id.is_not(None)))
        return bool((await self._conn.execute(query)).scalar())

    async def sent_elsewhere(
        self, log_id: str, chain: ChainRef, status: AnchorStatus
    ) -> list[Anchor]:
        """Anchors of the log in `status` sent to another chain or contract, oldest first."""
        query = (
            select(audit_anchors)
            .where(
                a.log_id == log_id,
                a.status == status.value,
                a.chain_id.is_not(None),
                not_(_on(chain)),
            )
            .order_by(a.tree_size)
        )
        return [_anchor(r) for r in await self._conn.execute(query)]

    async def reach_on(self, log_id: str, chain: ChainRef) -> int:
        """The largest tree that is, or will be, anchored on `chain`: sent or confirmed there,
        or pending (a pending anchor is sent to the configured chain). 0 when none."""
        query = select(func.max(a.tree_size)).where(
            a.log_id == log_id,
            or_(a.status == AnchorStatus.PENDING.value, and_(a.status.in_(SENT), _on(chain))),
        )
        return int((await self._conn.execute(query)).scalar() or 0)

    async def reach_elsewhere(self, log_id: str, chain: ChainRef) -> int:
        """The largest tree confirmed on another chain or contract than `chain`; 0 when none."""
        query = select(func.max(a.tree_size)).where(
            a.log_id == log_id,
            a.status == AnchorStatus.CONFIRMED.value,
            a.chain_id.is_not(None),
            not_(_on(chain)),
        )
        return int((await self._conn.execute(query)).scalar() or 0)

    async def chain(self) -> ChainRef | None:
        """The chain the hub anchors on, as last seen; None before it was ever reached."""
        c = anchor_chain.c
        row = (await self._conn.execute(select(c.chain_id, c.contract).where(c.id == 1))).first()
        return ChainRef(int(row.chain_id), row.contract) if row else None

    async def set_chain(self, chain: ChainRef, now: datetime) -> bool:
        """Record `chain`; False when it was already recorded. One statement that compares
        and sets, so of two processes seeing the same move only one records it."""
        module = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        c = anchor_chain.c
        values = {"chain_id": chain.chain_id, "contract": chain.contract, "since": now}
        statement = module.insert(anchor_chain).values(id=1, **values)
        differs = or_(
            c.chain_id != statement.excluded.chain_id,
            func.lower(c.contract) != func.lower(statement.excluded.contract),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[c.id], set_=values, where=differs
        ).returning(c.id)
        return (await self._conn.execute(statement)).first() is not None
