"""Activities for crash and multi-process tests, loaded by the hub via HUB_ACTIVITY_MODULES.

`slow_effect` records each attempt as it starts (`started`), waits, then applies its side
effect keyed by the idempotency key (INSERT OR IGNORE), as a real system deduplicating by
that key would. The
store is a SQLite file named by HUB_TEST_EFFECTS, shared by every process of the test.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from typing import Any

from hub.engine.activities import ActivityContext, ActivityRegistry


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["HUB_TEST_EFFECTS"], timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS attempts (key TEXT, started REAL, ended REAL, pid INTEGER)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS started (key TEXT, pid INTEGER)")
    return conn


async def slow_effect(ctx: ActivityContext, value: Any) -> Any:
    seconds = float((value or {}).get("seconds", 0))
    started = time.time()
    with _db() as conn:  # a test may wait for an attempt to be under way
        conn.execute("INSERT INTO started VALUES (?, ?)", (ctx.idempotency_key, os.getpid()))
    await asyncio.sleep(seconds)
    with _db() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO effects VALUES (?, ?)", (ctx.idempotency_key, str(value))
        )
        conn.execute(
            "INSERT INTO attempts VALUES (?, ?, ?, ?)",
            (ctx.idempotency_key, started, time.time(), os.getpid()),
        )
    return {"applied": ctx.idempotency_key}


def register(registry: ActivityRegistry) -> None:
    registry.register("slow_effect", slow_effect)
