"""Rows of cross-organisation collaboration (issue 18): organisation keys, partners,
collaborations, exchanged data, and the federation outbox and inbox."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from hub.domain.collaboration import (
    Collaboration,
    Partner,
    PartnerStatus,
    from_document,
    to_document,
)
from hub.domain.errors import Conflict
from hub.ports.collaboration import OutboxMessage, StoredOrganisation
from hub.store.inline import StoreConnection
from hub.store.tables.collaboration import (
    collaboration_data,
    collaborations,
    federation_inbox,
    federation_outbox,
    organisation_keys,
    partners,
)

SCAN = 2000  # undelivered messages looked at per pass of the outbox


def _partner(row: Any) -> Partner:
    return Partner(
        tenant_id=row.tenant_id,
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        domain=row.domain,
        endpoint_url=row.endpoint_url,
        keys=json.loads(row.keys),
        capabilities=tuple(json.loads(row.capabilities)),
        status=PartnerStatus(row.status),
        suspended_by=row.suspended_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _outbox(row: Any) -> OutboxMessage:
    return OutboxMessage(
        n=row.n,
        tenant_id=row.tenant_id,
        event_id=row.event_id,
        target_org=row.target_org,
        stream=row.stream,
        type=row.type,
        body=bytes(row.body),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
    )


class SqlCollaboration:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    # --- organisation keys ---

    async def organisation(self, tenant_id: str) -> StoredOrganisation | None:
        query = select(organisation_keys).where(organisation_keys.c.tenant_id == tenant_id)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return StoredOrganisation(
            row.tenant_id, row.org_id, json.loads(row.public), json.loads(row.sealed)
        )

    async def add_organisation(self, org: StoredOrganisation, now: datetime) -> None:
        await self._conn.execute(
            insert(organisation_keys).values(
                tenant_id=org.tenant_id,
                org_id=org.org_id,
                public=json.dumps(org.public),
                sealed=json.dumps(org.sealed),
                created_at=now,
            )
        )

    async def tenant_of_org(self, org_id: str) -> str | None:
        query = select(organisation_keys.c.tenant_id).where(organisation_keys.c.org_id == org_id)
        return (await self._conn.execute(query)).scalar()

    # --- partners ---

    async def partners(self, tenant_id: str) -> list[Partner]:
        query = (
            select(partners)
            .where(partners.c.tenant_id == tenant_id)
            .order_by(partners.c.created_at, partners.c.id)
        )
        return [_partner(r) for r in (await self._conn.execute(query)).all()]

    async def partner(self, tenant_id: str, partner_id: str) -> Partner | None:
        query = select(partners).where(
            partners.c.tenant_id == tenant_id, partners.c.id == partner_id
        )
        row = (await self._conn.execute(query)).first()
        return _partner(row) if row is not None else None

    async def partner_by_org(self, tenant_id: str, org_id: str) -> Partner | None:
        query = select(partners).where(
            partners.c.tenant_id == tenant_id, partners.c.org_id == org_id
        )
        row = (await self._conn.execute(query)).first()
        return _partner(row) if row is not None else None

    async def count_invitations(self, tenant_id: str) -> int:
        query = select(func.count()).where(
            partners.c.tenant_id == tenant_id, partners.c.status == PartnerStatus.INVITED.value
        )
        return int((await self._conn.execute(query)).scalar() or 0)

    async def save_partner(self, partner: Partner, *, new: bool) -> None:
        values = {
            "org_id": partner.org_id,
            "name": partner.name,
            "domain": partner.domain,
            "endpoint_url": partner.endpoint_url,
            "keys": json.dumps(partner.keys),
            "capabilities": json.dumps(list(partner.capabilities)),
            "status": partner.status.value,
            "suspended_by": partner.suspended_by,
            "updated_at": partner.updated_at,
        }
        if new:
            await self._conn.execute(
                insert(partners).values(
                    tenant_id=partner.tenant_id,
                    id=partner.id,
                    created_at=partner.created_at,
                    **values,
                )
            )
        else:
            await self._conn.execute(
                update(partners)
                .where(partners.c.tenant_id == partner.tenant_id, partners.c.id == partner.id)
                .values(**values)
            )

    # --- collaborations ---

    async def collaboration(self, tenant_id: str, collab_id: str) -> Collaboration | None:
        query = select(collaborations.c.doc).where(
            collaborations.c.tenant_id == tenant_id, collaborations.c.id == collab_id
        )
        doc = (await self._conn.execute(query)).scalar()
        return from_document(json.loads(doc)) if doc is not None else None

    async def collaborations(self, tenant_id: str, limit: int = 500) -> list[Collaboration]:
        query = (
            select(collaborations.c.doc)
            .where(collaborations.c.tenant_id == tenant_id)
            .order_by(collaborations.c.created_at.desc(), collaborations.c.id)
            .limit(limit)
        )
        docs: list[str] = list((await self._conn.execute(query)).scalars())
        return [from_document(json.loads(d)) for d in docs]

    async def in_progress(self) -> list[tuple[str, Collaboration]]:
        """Every tenant's collaborations under way (the task timeouts look at them)."""
        query = select(collaborations.c.tenant_id, collaborations.c.doc).where(
            collaborations.c.status == "in_progress"
        )
        rows = (await self._conn.execute(query)).all()
        return [(r.tenant_id, from_document(json.loads(r.doc))) for r in rows]

    async def save_collaboration(
        self,
        tenant_id: str,
        collab: Collaboration,
        now: datetime,
        *,
        new: bool,
        expected_version: int | None = None,
    ) -> None:
        """Insert, or update the copy still at `expected_version` (Conflict when another
        transaction changed it meanwhile: two partners' messages applied at once)."""
        values = {
            "initiator": collab.initiator,
            "status": collab.status.value,
            "version": collab.version,
            "doc": json.dumps(to_document(collab)),
            "updated_at": now,
        }
        if new:
            await self._conn.execute(
                insert(collaborations).values(
                    tenant_id=tenant_id, id=collab.id, created_at=now, **values
                )
            )
        else:
            statement = update(collaborations).where(
                collaborations.c.tenant_id == tenant_id, collaborations.c.id == collab.id
            )
            if expected_version is not None:
                statement = statement.where(collaborations.c.version == expected_version)
            result = await self._conn.execute(statement.values(**values))
            if expected_version is not None and result.rowcount != 1:
                raise Conflict(f"collaboration {collab.id} changed meanwhile")

    async def add_data(
        self,
        tenant_id: str,
        collab_id: str,
        task_id: str,
        source_org: str,
        event_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None:
        await self._conn.execute(
            insert(collaboration_data).values(
                tenant_id=tenant_id,
                collaboration_id=collab_id,
                task_id=task_id,
                source_org=source_org,
                event_id=event_id,
                payload=json.dumps(payload),
                received_at=now,
            )
        )

    async def data(self, tenant_id: str, collab_id: str) -> list[dict[str, Any]]:
        query = (
            select(collaboration_data)
            .where(
                collaboration_data.c.tenant_id == tenant_id,
                collaboration_data.c.collaboration_id == collab_id,
            )
            .order_by(collaboration_data.c.received_at)
        )
        return [
            {
                "task_id": r.task_id,
                "source_org": r.source_org,
                "event_id": r.event_id,
                "payload": json.loads(r.payload),
                "received_at": r.received_at,
            }
            for r in (await self._conn.execute(query)).all()
        ]

    # --- outbox ---

    async def enqueue(self, messages: list[dict[str, Any]]) -> None:
        if messages:
            await self._conn.execute(insert(federation_outbox), messages)

    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Messages to send now: of each (tenant, target, stream) only the oldest one not
        delivered (a collaboration's messages arrive in order), when its time has come."""
        query = (
            select(federation_outbox)
            .where(federation_outbox.c.delivered_at.is_(None), federation_outbox.c.failed.is_(None))
            .order_by(federation_outbox.c.n)
            .limit(SCAN)
        )
        heads: dict[tuple[str, str, str], bool] = {}
        due: list[OutboxMessage] = []
        for row in (await self._conn.execute(query)).all():
            key = (row.tenant_id, row.target_org, row.stream)
            if row.stream and key in heads:
                continue
            heads[key] = True
            if row.next_attempt_at <= now:
                due.append(_outbox(row))
                if len(due) >= limit:
                    break
        return due

    async def next_due_at(self) -> datetime | None:
        query = select(func.min(federation_outbox.c.next_attempt_at)).where(
            federation_outbox.c.delivered_at.is_(None), federation_outbox.c.failed.is_(None)
        )
        return (await self._conn.execute(query)).scalar()

    async def delivered(self, ns: list[int], now: datetime) -> None:
        if ns:
            await self._conn.execute(
                update(federation_outbox)
                .where(federation_outbox.c.n.in_(ns))
                .values(delivered_at=now, last_error=None)
            )

    async def retry_later(self, n: int, attempts: int, at: datetime, error: str) -> None:
        await self._conn.execute(
            update(federation_outbox)
            .where(federation_outbox.c.n == n)
            .values(attempts=attempts, next_attempt_at=at, last_error=error[:500])
        )

    async def give_up(self, n: int, attempts: int, reason: str) -> None:
        await self._conn.execute(
            update(federation_outbox)
            .where(federation_outbox.c.n == n)
            .values(attempts=attempts, failed=reason[:500])
        )

    async def outbox_counts(self, tenant_id: str) -> dict[str, int]:
        query = select(
            func.count().filter(federation_outbox.c.delivered_at.is_not(None)),
            func.count().filter(
                federation_outbox.c.delivered_at.is_(None), federation_outbox.c.failed.is_(None)
            ),
            func.count().filter(federation_outbox.c.failed.is_not(None)),
        ).where(federation_outbox.c.tenant_id == tenant_id)
        delivered, pending, failed = (await self._conn.execute(query)).one()
        return {"delivered": delivered, "pending": pending, "failed": failed}

    # --- inbox ---

    async def inbox_nonces(
        self, tenant_id: str, source_org: str, event_id: str
    ) -> list[str] | None:
        query = select(federation_inbox.c.nonces).where(
            federation_inbox.c.tenant_id == tenant_id,
            federation_inbox.c.source_org == source_org,
            federation_inbox.c.event_id == event_id,
        )
        found = (await self._conn.execute(query)).scalar()
        return json.loads(found) if found is not None else None

    async def inbox_add(
        self, tenant_id: str, source_org: str, event_id: str, nonces: list[str], now: datetime
    ) -> None:
        await self._conn.execute(
            insert(federation_inbox).values(
                tenant_id=tenant_id,
                source_org=source_org,
                event_id=event_id,
                nonces=json.dumps(nonces),
                received_at=now,
            )
        )

    async def inbox_nonce(
        self, tenant_id: str, source_org: str, event_id: str, nonces: list[str]
    ) -> None:
        await self._conn.execute(
            update(federation_inbox)
            .where(
                federation_inbox.c.tenant_id == tenant_id,
                federation_inbox.c.source_org == source_org,
                federation_inbox.c.event_id == event_id,
            )
            .values(nonces=json.dumps(nonces[-50:]))
        )
