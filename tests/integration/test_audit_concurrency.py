"""Concurrent writers on one log get gapless, distinct seqs, and the log verifies."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from hub.bootstrap import build
from hub.domain.audit import AuditEvent, RequestContext
from hub.services.audit.export import verify_log
from hub.services.audit.log import AuditLogRef
from hub.settings import load_settings
from tests.conftest import FAST_HASHER
from tests.support import services

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
            seqs = [row.seq for row in await uow.audit.scan(log_id, 0, 10_000)]
        report = await verify_log(hub.uow, hub.audit, AuditLogRef(log_id, log_id))
        return seqs, report.ok
    finally:
        await hub.close()


def _check(seqs: list[int], ok: bool) -> None:
    assert sorted(seqs) == list(range(1, WRITERS * EACH + 1))
    assert len(set(seqs)) == len(seqs)
    assert ok


def test_parallel_writers_on_the_suite_database(migrated: str, tmp_path: Path) -> None:
    _check(*asyncio.run(_hammer(migrated, tmp_path)))


def test_parallel_writers_on_postgresql(tmp_path: Path) -> None:
    with services.scratch_postgres("hub_conc") as url:
        _check(*asyncio.run(_hammer(url, tmp_path)))


@pytest.fixture(autouse=True)
def _settings_cleanup(settings: object) -> None:
    """Depend on `settings` so the suite database is cleaned before the test."""
