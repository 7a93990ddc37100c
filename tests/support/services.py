"""Real services the tests talk to, and what to do when one is missing.

Without HUB_REQUIRE_SERVICES a missing service skips the test with the reason; with it
(CI on a machine that has them) the test fails instead, so CI never silently skips.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    return os.environ.get("HUB_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need(name: str, host: str, port: int) -> None:
    """Skip (or, under HUB_REQUIRE_SERVICES, fail) unless host:port accepts connections."""
    if reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if services_required():
        pytest.fail(f"{reason} and HUB_REQUIRE_SERVICES is set")
    pytest.skip(reason)


async def _run_admin(admin_url: str, sql: str) -> None:
    # Imported here: this module is also used by tests that need no database at all.
    from sqlalchemy import text

    from hub.store.database import create_engine

    engine = create_engine(admin_url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextmanager
def scratch_postgres(prefix: str, admin_url: str = POSTGRES_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database on admin_url's server for the block; dropped after.
    Skips (or fails under HUB_REQUIRE_SERVICES) when the server is not reachable."""
    parsed = make_url(admin_url)
    need("PostgreSQL", parsed.host or "127.0.0.1", parsed.port or 5432)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_run_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_run_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
