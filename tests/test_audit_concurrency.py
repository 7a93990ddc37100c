"""Concurrent writers on one log get gapless, distinct seqs, and the log verifies."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hub.bootstrap import build
from hub.domain.audit import AuditEvent, RequestContext
from hub.services.audit import AuditLogRef
from hub.services.audit_export import verify_log
from hub.settings import load_settings
from hub.store.database import create_engine
from tests import services
from tests.conftest import FAST_HASHER

WRITERS, EACH = 16, 15


async def _hammer(url: str, data_dir: Path) -> tuple[list[int], bool]:
    hub = build(
        load_settings({"HUB_DATA_DIR": str(data_dir), "HUB_DATABASE_URL": url}), hasher=FAST_HASHER
    )
    await hub.start()
    log_id = f"conc{uuid.uuid4().hex[:12]}"
    try:

        async def writer(n: int) -> None:
            for i in range(EACH):
                event = AuditEvent("test.write", "item", f"{n}-{i}")
                await hub.audit.record_now([log_id], RequestContext(f"writer{n}"), event)

        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        async with hub.uow() as uow:
            seqs = [seq for seq, _ in await uow.audit.scan(log_id, 0, 10_000)]
        report = await verify_log(hub.uow, hub.audit, AuditLogRef(log_id, log_id))
        return seqs, report.ok
    finally:
        await hub.close()


async def _scratch_database(admin_url: str, name: str, *, drop: bool) -> None:
    engine = create_engine(admin_url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            verb = f'DROP DATABASE IF EXISTS "{name}"' if drop else f'CREATE DATABASE "{name}"'
            await conn.execute(text(verb))
    finally:
        await engine.dispose()


def _check(seqs: list[int], ok: bool) -> None:
    assert sorted(seqs) == list(range(1, WRITERS * EACH + 1))
    assert len(set(seqs)) == len(seqs)
    assert ok


def test_parallel_writers_on_the_suite_database(migrated: str, tmp_path: Path) -> None:
    _check(*asyncio.run(_hammer(migrated, tmp_path)))


def test_parallel_writers_on_postgresql(tmp_path: Path) -> None:
    parsed = make_url(services.POSTGRES_URL)
    services.need("PostgreSQL", parsed.host or "127.0.0.1", parsed.port or 5432)
    name = f"hub_conc_{uuid.uuid4().hex[:8]}"
    asyncio.run(_scratch_database(services.POSTGRES_URL, name, drop=False))
    try:
        url = parsed.set(database=name).render_as_string(hide_password=False)
        _check(*asyncio.run(_hammer(url, tmp_path)))
    finally:
        asyncio.run(_scratch_database(services.POSTGRES_URL, name, drop=True))


@pytest.fixture(autouse=True)
def _settings_cleanup(settings: object) -> None:
    """Depend on `settings` so the suite database is cleaned before the test."""
