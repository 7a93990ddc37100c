"""Engine creation: the same code on SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from hub.security.private_files import ensure_private_file


def create_engine(url: str, *, echo: bool = False, synchronous: str = "normal") -> AsyncEngine:
    """`synchronous` is SQLite's durability level (see Settings.sqlite_synchronous)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo, synchronous)
    # No pre-ping: it costs a round trip per checkout; recycling covers server restarts
    # and a dead connection fails one request, not the pool.
    return create_async_engine(url, echo=echo, pool_size=20, max_overflow=10, pool_recycle=1800)


def _sqlite_engine(url: str, echo: bool, synchronous: str) -> AsyncEngine:
    _private_database_file(url)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the lock up front: a deferred transaction that later upgrades
        # to a write fails with SQLITE_BUSY instead of waiting its turn.
        write = conn.get_execution_options().get("hub_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _private_database_file(url: str) -> None:
    """Create the database file 0600 before SQLite does (SQLite would make it 0644 under
    the usual umask); its -wal and -shm files take the database file's mode."""
    database = make_url(url).database
    if not database or database.startswith("file:"):
        return
    try:
        ensure_private_file(Path(database))
    except OSError:
        return  # a missing folder or a read-only file: let SQLite say so in its own words
