"""Rows of industry packs: installations, per-tenant policy lines and incidents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from hub.domain.ids import new_id
from hub.domain.packs import Incident, Installation, PolicyLine
from hub.store.inline import StoreConnection
from hub.store.tables.core import tenants
from hub.store.tables.packs import incidents, pack_installations, tenant_policies


def _installation(row: Any) -> Installation:
    return Installation(
        tenant_id=row.tenant_id,
        pack=row.pack,
        version=row.version,
        status=row.status,
        parameters=json.loads(row.parameters),
        resources=json.loads(row.resources),
        installed_at=row.installed_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _incident(row: Any) -> Incident:
    return Incident(
        id=row.id,
        tenant_id=row.tenant_id,
        run_id=row.run_id,
        pack=row.pack,
        area=row.area,
        status=row.status,
        severity=row.severity,
        summary=row.summary,
        details=json.loads(row.details),
        opened_at=row.opened_at,
        recorded_at=row.recorded_at,
        review=json.loads(row.review) if row.review else None,
    )


class SqlPacks:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    # --- installations ---

    async def installation(self, tenant_id: str, pack: str) -> Installation | None:
        row = (
            await self._conn.execute(
                select(pack_installations).where(
                    pack_installations.c.tenant_id == tenant_id, pack_installations.c.pack == pack
                )
            )
        ).first()
        return _installation(row) if row else None

    async def installations(self, tenant_id: str | None = None) -> list[Installation]:
        query = select(pack_installations).order_by(
            pack_installations.c.tenant_id, pack_installations.c.pack
        )
        if tenant_id is not None:
            query = query.where(pack_installations.c.tenant_id == tenant_id)
        return [_installation(r) for r in await self._conn.execute(query)]

    async def save_installation(self, item: Installation, *, new: bool) -> None:
        values = {
            "version": item.version,
            "status": item.status,
            "parameters": json.dumps(item.parameters),
            "resources": json.dumps(item.resources),
            "installed_at": item.installed_at,
            "updated_at": item.updated_at,
            "updated_by": item.updated_by,
        }
        if new:
            await self._conn.execute(
                insert(pack_installations).values(
                    tenant_id=item.tenant_id, pack=item.pack, **values
                )
            )
            return
        await self._conn.execute(
            update(pack_installations)
            .where(
                pack_installations.c.tenant_id == item.tenant_id,
                pack_installations.c.pack == item.pack,
            )
            .values(**values)
        )

    async def inactive_workflows(self) -> set[tuple[str, str]]:
        """(tenant id, workflow) of every uninstalled pack: their triggers are off."""
        rows = await self._conn.execute(
            select(pack_installations.c.tenant_id, pack_installations.c.resources).where(
                pack_installations.c.status == "uninstalled"
            )
        )
        return {
            (r.tenant_id, name)
            for r in rows
            for name in json.loads(r.resources).get("workflows", {})
        }

    # --- policy lines ---

    async def add_policies(self, tenant_id: str, pack: str, lines: Sequence[PolicyLine]) -> None:
        if lines:
            await self._conn.execute(
                insert(tenant_policies),
                [
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "pack": pack,
                        "role": line.role,
                        "resource": line.resource,
                        "action": line.action,
                    }
                    for line in lines
                ],
            )

    async def delete_policies(self, tenant_id: str, pack: str) -> None:
        await self._conn.execute(
            delete(tenant_policies).where(
                tenant_policies.c.tenant_id == tenant_id, tenant_policies.c.pack == pack
            )
        )

    async def all_policies(self) -> list[tuple[str, str, str, str]]:
        """(role, tenant slug, resource, action) of every tenant's policy lines."""
        rows = await self._conn.execute(
            select(
                tenant_policies.c.role,
                tenants.c.slug,
                tenant_policies.c.resource,
                tenant_policies.c.action,
            ).join_from(tenant_policies, tenants, tenant_policies.c.tenant_id == tenants.c.id)
        )
        return [(r.role, r.slug, r.resource, r.action) for r in rows]

    # --- incidents ---

    async def add_incident(self, item: Incident) -> bool:
        """False when the run already recorded its incident (an activity's retry)."""
        found = await self.incident_of_run(item.tenant_id, item.run_id)
        if found is not None:
            return False
        await self._conn.execute(
            insert(incidents).values(
                id=item.id,
                tenant_id=item.tenant_id,
                run_id=item.run_id,
                pack=item.pack,
                area=item.area,
                status=item.status,
                severity=item.severity,
                summary=item.summary,
                details=json.dumps(item.details),
                opened_at=item.opened_at,
                recorded_at=item.recorded_at,
                review=None,
            )
        )
        return True

    async def incident(self, tenant_id: str, incident_id: str) -> Incident | None:
        row = (
            await self._conn.execute(
                select(incidents).where(
                    incidents.c.tenant_id == tenant_id, incidents.c.id == incident_id
                )
            )
        ).first()
        return _incident(row) if row else None

    async def incident_of_run(self, tenant_id: str, run_id: str) -> Incident | None:
        row = (
            await self._conn.execute(
                select(incidents).where(
                    incidents.c.tenant_id == tenant_id, incidents.c.run_id == run_id
                )
            )
        ).first()
        return _incident(row) if row else None

    async def incidents(
        self, tenant_id: str, status: str | None, after: str | None, limit: int
    ) -> list[Incident]:
        query = select(incidents).where(incidents.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(incidents.c.status == status)
        if after is not None:
            query = query.where(incidents.c.id < after)
        query = query.order_by(incidents.c.id.desc()).limit(limit)
        return [_incident(r) for r in await self._conn.execute(query)]

    async def review_incident(
        self, tenant_id: str, incident_id: str, review: dict[str, Any], at: datetime
    ) -> bool:
        result = await self._conn.execute(
            update(incidents)
            .where(
                incidents.c.tenant_id == tenant_id,
                incidents.c.id == incident_id,
                incidents.c.status == "open",
            )
            .values(status="reviewed", review=json.dumps(review, default=str))
        )
        return bool(result.rowcount)
