"""Rows of the tenants' ERP connections; secrets arrive and leave sealed."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, select, update

from hub.domain.enterprise import Connection, ConnectionAuth
from hub.domain.enterprise_config import StoredConnection, auth_dict
from hub.store.conflicts import duplicates_conflict
from hub.store.inline import StoreConnection
from hub.store.tables.enterprise import enterprise_connections as table


def _values(stored: StoredConnection) -> dict[str, Any]:
    connection = stored.connection
    config = {
        "version": connection.version,
        "auth": auth_dict(connection.auth),
        "timeout_s": connection.timeout_s,
        "headers": dict(connection.headers),
        "profile": connection.profile,
    }
    return {
        "kind": connection.kind,
        "url": connection.url,
        "config": json.dumps(config),
        "secrets": json.dumps({k: dict(v) for k, v in stored.sealed.items()}),
        "revision": connection.revision,
        "updated_at": stored.updated_at,
    }


def _stored(row: Any) -> StoredConnection:
    """The row as it was written (checked then): not parsed again, so a rule tightened
    later does not make a kept connection unreadable."""
    config = json.loads(row.config)
    connection = Connection(
        tenant_id=row.tenant_id,
        name=row.name,
        url=row.url,
        kind=row.kind,
        version=config["version"],
        auth=ConnectionAuth(**config["auth"]),
        timeout_s=config["timeout_s"],
        headers=config["headers"],
        profile=config["profile"],
        revision=row.revision,
    )
    return StoredConnection(connection, json.loads(row.secrets), row.created_at, row.updated_at)


class SqlConnections:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def add(self, stored: StoredConnection) -> None:
        connection = stored.connection
        with duplicates_conflict(f"a connection named {connection.name!r} exists"):
            await self._conn.execute(
                insert(table).values(
                    tenant_id=connection.tenant_id,
                    name=connection.name,
                    created_at=stored.created_at,
                    **_values(stored),
                )
            )

    async def get(self, tenant_id: str, name: str) -> StoredConnection | None:
        query = select(table).where(table.c.tenant_id == tenant_id, table.c.name == name)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _stored(row)

    async def page(self, tenant_id: str, after: str | None, limit: int) -> list[StoredConnection]:
        query = select(table).where(table.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(table.c.name > after)
        rows = await self._conn.execute(query.order_by(table.c.name).limit(limit))
        return [_stored(row) for row in rows]

    async def update(self, stored: StoredConnection) -> None:
        connection = stored.connection
        await self._conn.execute(
            update(table)
            .where(table.c.tenant_id == connection.tenant_id, table.c.name == connection.name)
            .values(**_values(stored))
        )

    async def delete(self, tenant_id: str, name: str) -> bool:
        result = await self._conn.execute(
            delete(table).where(table.c.tenant_id == tenant_id, table.c.name == name)
        )
        return bool(result.rowcount)
