"""HUB_SQLITE_SYNCHRONOUS is what every SQLite connection of a built hub runs with (moved
from tests/unit/test_settings.py: it opens the database)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.settings import load_settings


@pytest.mark.parametrize(("value", "level"), [(None, 1), ("normal", 1), ("FULL", 2)])
def test_sqlite_durability_is_what_every_connection_runs_with(
    tmp_path: Path, value: str | None, level: int
) -> None:
    asyncio.run(_check_durability(tmp_path, value, level))


async def _check_durability(tmp_path: Path, value: str | None, level: int) -> None:
    from sqlalchemy import text

    from hub.bootstrap import build

    env = {"HUB_DATA_DIR": str(tmp_path)}
    if value is not None:
        env["HUB_SQLITE_SYNCHRONOUS"] = value
    hub = build(load_settings(env))
    try:
        async with hub.uow.engine.connect() as conn:  # the aiosqlite engine
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == level
        assert hub.uow.inline is not None
        for engine in (hub.uow.inline.read, hub.uow.inline.write):  # the ones on the loop
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        await hub.uow.dispose()
