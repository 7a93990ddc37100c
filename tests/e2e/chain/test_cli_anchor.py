"""`hub audit anchor --tenant T` on the embedded chain, and its mistakes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from hub.bootstrap import build
from hub.domain.audit import SYSTEM
from hub.settings import Settings
from tests.conftest import FAST_HASHER


async def _tenant(settings: Settings) -> None:
    hub = build(settings, hasher=FAST_HASHER)
    await hub.start()
    try:
        await hub.tenants.create("acme", "Acme", SYSTEM)
    finally:
        await hub.close()


def _hub(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_DATABASE_URL": settings.database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_audit_anchor_confirms_on_the_embedded_chain(settings: Settings) -> None:
    asyncio.run(_tenant(settings))
    done = _hub(settings, "audit", "anchor", "--tenant", "acme")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("new anchor:") and '"status": "confirmed"' in done.stdout
    assert "lives only as long as this process" in done.stderr
    again = _hub(settings, "audit", "anchor", "--tenant", "acme")
    assert again.returncode == 0 and "did not grow" in again.stdout
    unknown = _hub(settings, "audit", "anchor", "--tenant", "nobody")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
