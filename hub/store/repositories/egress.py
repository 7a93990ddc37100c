"""Rows of the tenants' egress rules."""

from __future__ import annotations

import json

from sqlalchemy import insert, select, update

from hub.domain.egress import StoredRules
from hub.store.inline import StoreConnection
from hub.store.tables.egress import tenant_egress


class SqlEgress:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def rules(self, tenant_id: str) -> StoredRules | None:
        query = select(tenant_egress).where(tenant_egress.c.tenant_id == tenant_id)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return StoredRules(
            tenant_id=row.tenant_id,
            mode=row.mode,
            allow=tuple(json.loads(row.allow)),
            deny=tuple(json.loads(row.deny)),
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )

    async def save(self, rules: StoredRules, *, new: bool) -> None:
        values = {
            "mode": rules.mode,
            "allow": json.dumps(list(rules.allow)),
            "deny": json.dumps(list(rules.deny)),
            "updated_at": rules.updated_at,
            "updated_by": rules.updated_by,
        }
        if new:
            await self._conn.execute(
                insert(tenant_egress).values(tenant_id=rules.tenant_id, **values)
            )
        else:
            await self._conn.execute(
                update(tenant_egress)
                .where(tenant_egress.c.tenant_id == rules.tenant_id)
                .values(**values)
            )
