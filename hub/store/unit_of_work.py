"""The SQL unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from hub.store.audit_repository import SqlAudit
from hub.store.inline import InlineConnection, inline_read_engine
from hub.store.repositories import (
    SqlAuthz,
    SqlLoginFailures,
    SqlMemberships,
    SqlRefreshTokens,
    SqlTenants,
    SqlUsers,
)
from hub.store.workflow_repository import SqlWorkflows


class SqlUnitOfWork:
    """Commits only when told to; anything left uncommitted is rolled back on exit."""

    def __init__(
        self, engine: AsyncEngine, *, write: bool = False, read_engine: Engine | None = None
    ) -> None:
        self._engine = engine
        self._write = write
        self._read_engine = None if write else read_engine
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._inline: Connection | None = None

    async def __aenter__(self) -> Self:
        if self._read_engine is not None:
            self._inline = self._read_engine.connect()
            self._inline.begin()
            self._bind(InlineConnection(self._inline))  # type: ignore[arg-type]
            return self
        conn = await self._engine.connect()
        if self._write:
            await conn.execution_options(hub_write=True)
        self._conn = conn
        self._tx = await conn.begin()
        self._bind(conn)
        return self

    def _bind(self, conn: AsyncConnection) -> None:
        self.tenants = SqlTenants(conn)
        self.users = SqlUsers(conn)
        self.memberships = SqlMemberships(conn)
        self.refresh_tokens = SqlRefreshTokens(conn)
        self.login_failures = SqlLoginFailures(conn)
        self.authz = SqlAuthz(conn)
        self.audit = SqlAudit(conn)
        self.workflows = SqlWorkflows(conn)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._inline is not None:
            self._inline.close()  # rolls back: reads never commit
            return
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
        if self._inline is not None:
            raise RuntimeError("commit in a read-only unit of work; open it with write=True")
        assert self._tx is not None
        await self._tx.commit()

    async def rollback(self) -> None:
        if self._inline is not None:
            self._inline.rollback()
            return
        assert self._tx is not None
        await self._tx.rollback()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        url = engine.url.render_as_string(hide_password=False)
        self.read_engine = inline_read_engine(url) if engine.dialect.name == "sqlite" else None

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write, read_engine=self.read_engine)

    async def dispose(self) -> None:
        if self.read_engine is not None:
            self.read_engine.dispose()
        await self.engine.dispose()
