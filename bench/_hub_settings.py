"""The hub's durability settings, read back from its own database connections.

`database_settings(hub)` asks the connections the hub's writes really go through. On
SQLite that is, first, the one pysqlite connection that in-process writers share on the
event loop (hub/store/inline.py, `SqlUnitOfWorkFactory.inline.write`), and, as the
fallback when another process holds the lock, the aiosqlite engine's pooled connection:
`journal_mode` and `synchronous` of each (bench/_method.py `sqlite_settings`); they are
reported once when they agree, and the fallback's apart when not. `synchronous` is per
connection, so a fresh connection would not show what the hub set. On PostgreSQL:
`synchronous_commit` and `fsync`.

What they mean for a caller (`commit_facts`, which the benches put beside the settings):
- SQLite WAL + synchronous=NORMAL (the hub's default, HUB_SQLITE_SYNCHRONOUS=normal): a
  commit has returned once it is in the WAL file, which is fsynced only at checkpoints.
  A crash of the hub process loses nothing committed; a power loss or OS crash can roll
  back the transactions committed since the last checkpoint. HUB_SQLITE_SYNCHRONOUS=full
  fsyncs each commit. `hub_env` passes the bench's HUB_SQLITE_SYNCHRONOUS to its hubs.
- PostgreSQL with synchronous_commit=on and fsync=on: a commit has returned once its WAL
  record is flushed to disk.
"""

from __future__ import annotations

import os
from typing import Any

from _method import sqlite_settings
from sqlalchemy import Connection

from hub.bootstrap import Hub

POSTGRES_SETTINGS = ("synchronous_commit", "fsync")
SQLITE_LEVELS = ("normal", "full")  # HUB_SQLITE_SYNCHRONOUS (hub/settings.py)


def sqlite_synchronous() -> str:
    """The level the user asked the bench's hubs to run at (HUB_SQLITE_SYNCHRONOUS)."""
    return os.environ.get("HUB_SQLITE_SYNCHRONOUS", "").strip().lower() or "normal"


def hub_env(data_dir: str, synchronous: str | None = None, **extra: str) -> dict[str, str]:
    """The environment a bench builds its hub from: HUB_SQLITE_SYNCHRONOUS passed on."""
    return {
        "HUB_DATA_DIR": data_dir,
        "HUB_SQLITE_SYNCHRONOUS": synchronous or sqlite_synchronous(),
        **extra,
    }


class _Pragmas:
    """The `execute(sql).fetchone()` that `sqlite_settings` uses, on a SQLAlchemy connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def execute(self, sql: str) -> Any:
        return self._connection.exec_driver_sql(sql)


def _read(connection: Connection) -> dict[str, Any]:
    if connection.dialect.name == "sqlite":
        return {"database": "sqlite", **sqlite_settings(_Pragmas(connection))}
    shown = {
        name: connection.exec_driver_sql(f"SHOW {name}").scalar() for name in POSTGRES_SETTINGS
    }
    return {"database": connection.dialect.name, **shown}


async def database_settings(hub: Hub) -> dict[str, Any]:
    """The settings of the connections the hub writes through (see the module's docstring)."""
    async with hub.engine.connect() as connection:
        pooled = await connection.run_sync(_read)
    inline = hub.uow.inline
    if inline is None:
        return pooled
    # Taken like a writer takes it, so no transaction of the hub's is open on it meanwhile.
    async with inline.write_lock():
        with inline.write.connect() as connection:
            written = _read(connection)
    return written if written == pooled else {**written, "fallback_connection": pooled}


def commit_facts(settings: dict[str, Any]) -> dict[str, Any]:
    """Whether a returned commit is on disk under these settings, and what it survives."""
    if settings.get("database") == "sqlite":
        level = settings.get("synchronous")
        if level in ("full", "extra"):
            return {"fsynced_on_commit": True, "commit_survives": "process crash, power loss"}
        if settings.get("journal_mode") == "wal" and level == "normal":
            return {
                "fsynced_on_commit": False,
                "commit_survives": "process crash; not a power loss or OS crash (the WAL is "
                "fsynced at checkpoints, so commits since the last one can roll back)",
            }
        return {"fsynced_on_commit": False, "commit_survives": "not guaranteed"}
    if settings.get("synchronous_commit") == "on" and settings.get("fsync") == "on":
        return {"fsynced_on_commit": True, "commit_survives": "process crash, power loss"}
    return {
        "fsynced_on_commit": False,
        "commit_survives": "process crash; a power loss can lose the latest commits",
    }
