"""The SQL unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from hub.store.repositories import (
    SqlAuthz,
    SqlLoginFailures,
    SqlMemberships,
    SqlRefreshTokens,
    SqlTenants,
    SqlUsers,
)


class SqlUnitOfWork:
    """Commits only when told to; anything left uncommitted is rolled back on exit."""

    def __init__(self, engine: AsyncEngine, *, write: bool = False) -> None:
        self._engine = engine
        self._write = write
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    async def __aenter__(self) -> Self:
        conn = await self._engine.connect()
        if self._write:
            await conn.execution_options(hub_write=True)
        self._conn = conn
        self._tx = await conn.begin()
        self.tenants = SqlTenants(conn)
        self.users = SqlUsers(conn)
        self.memberships = SqlMemberships(conn)
        self.refresh_tokens = SqlRefreshTokens(conn)
        self.login_failures = SqlLoginFailures(conn)
        self.authz = SqlAuthz(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._tx is not None and self._tx.is_active:
                await self._tx.rollback()
        finally:
            await self._conn.close()

    @property
    def connection(self) -> AsyncConnection:
        assert self._conn is not None, "unit of work used outside 'async with'"
        return self._conn

    async def commit(self) -> None:
        assert self._tx is not None
        await self._tx.commit()

    async def rollback(self) -> None:
        assert self._tx is not None
        await self._tx.rollback()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)
