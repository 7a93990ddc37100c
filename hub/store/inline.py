"""Inline SQLite reads: run read-only units of work on the event loop, not in a thread.

aiosqlite runs every DB-API call (cursor, execute, fetch, close, rollback) in a worker
thread and waits for it; a three-statement read costs a dozen thread hand-offs, which is
most of a simple GET's time. In WAL mode a reader never waits for a lock, and our reads
are small and bounded (lists page at 500), so doing them synchronously on the loop is
cheaper than the hand-offs. Writes still go through aiosqlite: they can wait on the
write lock, which must not freeze the loop.
"""

from __future__ import annotations

from typing import Any, TypeVarTuple, overload

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.sql.selectable import TypedReturnsRows

_Ts = TypeVarTuple("_Ts")

READ_MMAP_BYTES = 1 << 30


class InlineConnection:
    """The slice of AsyncConnection the repositories use, over a sync connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    # typed as AsyncConnection's: a typed statement gives typed rows
    @overload
    async def execute(
        self, statement: TypedReturnsRows[*_Ts], parameters: Any = None
    ) -> CursorResult[*_Ts]: ...

    @overload
    async def execute(
        self, statement: Executable, parameters: Any = None
    ) -> CursorResult[*tuple[Any, ...]]: ...

    async def execute(
        self, statement: Executable, parameters: Any = None
    ) -> CursorResult[*tuple[Any, ...]]:
        return self._conn.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> CursorResult[Any]:
        return self._conn.exec_driver_sql(statement, parameters)


# What the repositories run statements on: the async connection, or the inline one.
StoreConnection = AsyncConnection | InlineConnection


def inline_read_engine(async_url: str, synchronous: str = "normal") -> Engine:
    """A sync pysqlite engine on the same file, set up like the async one, for reads."""
    return _inline_engine(async_url, write=False, synchronous=synchronous)


def inline_write_engine(async_url: str, synchronous: str = "normal") -> Engine:
    """One sync connection for writes made on the loop (see SqlUnitOfWork).

    Its busy timeout is short: in-process writers take turns through an asyncio lock, so
    a busy database means another process holds the lock, and the writer falls back to
    aiosqlite, which may wait without freezing the loop.
    """
    return _inline_engine(async_url, write=True, synchronous=synchronous)


def _inline_engine(async_url: str, *, write: bool, synchronous: str) -> Engine:
    url = async_url.replace("sqlite+aiosqlite", "sqlite", 1)
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=1 if write else 8,
        max_overflow=0 if write else 8,
        connect_args={"check_same_thread": False, "timeout": 0.05 if write else 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute(f"PRAGMA busy_timeout={50 if write else 30000}")
        if not write:
            cursor.execute("PRAGMA query_only=ON")
            # Reads of pages in the OS cache become memory loads instead of pread calls:
            # a proof on a log of a million entries touches ~25 B-tree paths.
            cursor.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
