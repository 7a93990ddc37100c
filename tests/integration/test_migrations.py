"""Migrations match the table definitions, and go down and up again on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from hub.store import migrate
from hub.store.database import create_engine
from hub.store.tables.core import metadata
from tests.support import services


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _diff_against(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


def test_migrated_schema_matches_the_tables(migrated: str) -> None:
    assert asyncio.run(_diff_against(migrated)) == []


async def _round_trip(admin_url: str) -> list[str | None]:
    name = f"hub_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    seen = []
    try:
        await migrate.upgrade(engine)
        seen.append(await migrate.current_revision(engine))
        await engine.dispose()
        await asyncio.to_thread(_downgrade, url)
        seen.append(await migrate.current_revision(engine))
        await migrate.upgrade(engine)
        seen.append(await migrate.current_revision(engine))
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await admin.dispose()
    return seen


def _downgrade(url: str) -> None:
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "base")


def test_postgres_upgrade_downgrade_upgrade() -> None:
    head = migrate.head_revision()
    with services.scratch_postgres("hub_migrate") as url:
        assert asyncio.run(_round_trip(url)) == [head, None, head]
