"""The SQL unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from hub.store.conflicts import duplicates_conflict
from hub.store.inline import (
    InlineConnection,
    StoreConnection,
    inline_read_engine,
    inline_write_engine,
)
from hub.store.repositories.anchors import SqlAnchors
from hub.store.repositories.audit import SqlAudit
from hub.store.repositories.collaboration import SqlCollaboration
from hub.store.repositories.egress import SqlEgress
from hub.store.repositories.enterprise import SqlConnections
from hub.store.repositories.packs import SqlPacks
from hub.store.repositories.plc import SqlPlc
from hub.store.repositories.tenancy import (
    SqlAuthz,
    SqlLoginFailures,
    SqlMemberships,
    SqlRefreshTokens,
    SqlTenants,
    SqlUsers,
)
from hub.store.repositories.workflows import SqlWorkflows

if TYPE_CHECKING:  # the types of the repositories below, as the ports declare them
    from hub.ports import (
        AnchorRepository,
        AuditRepository,
        AuthzRepository,
        CollaborationRepository,
        ConnectionRepository,
        EgressRepository,
        LoginFailureRepository,
        MembershipRepository,
        PackRepository,
        PlcRepository,
        RefreshTokenRepository,
        TenantRepository,
        UserRepository,
        WorkflowRepository,
    )


@dataclass
class InlineEngines:
    """SQLite only: sync engines whose calls run on the event loop (see hub/store/inline.py).

    In-process writers take turns through an asyncio lock and run their transaction on the
    loop: a transaction of a dozen statements then holds SQLite's write lock for about a
    millisecond, instead of for many loop turns while each statement hops to aiosqlite's
    thread, with every other writer asleep in SQLite's busy-retry loop.
    """

    read: Engine
    write: Engine
    locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = field(default_factory=dict)

    def write_lock(self) -> asyncio.Lock:
        return self.locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


class SqlUnitOfWork:
    """Commits only when told to; anything left uncommitted is rolled back on exit."""

    def __init__(
        self, engine: AsyncEngine, *, write: bool = False, inline: InlineEngines | None = None
    ) -> None:
        self._engine = engine
        self._write = write
        self._inline_engines = inline
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._inline: Connection | None = None
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> Self:
        if self._inline_engines is not None:
            if not self._write:
                self._inline = self._inline_engines.read.connect()
                self._inline.begin()
                self._bind(InlineConnection(self._inline))
                return self
            if await self._enter_inline_write(self._inline_engines):
                return self
        conn = await self._engine.connect()
        if self._write:
            await conn.execution_options(hub_write=True)
        self._conn = conn
        self._tx = await conn.begin()
        self._bind(conn)
        return self

    async def _enter_inline_write(self, engines: InlineEngines) -> bool:
        lock = engines.write_lock()
        await lock.acquire()
        try:
            conn = engines.write.connect()
        except OperationalError:
            lock.release()
            return False
        try:
            conn.begin()
        except OperationalError:  # another process holds the write lock: wait in a thread
            conn.close()
            lock.release()
            return False
        self._inline, self._lock = conn, lock
        self._bind(InlineConnection(conn))
        return True

    def _bind(self, conn: StoreConnection) -> None:
        # Typed as the ports' repositories: UnitOfWork's attributes are settable, so the
        # protocol is met only by exactly these types (the Sql* classes implement them).
        self.tenants: TenantRepository = SqlTenants(conn)
        self.users: UserRepository = SqlUsers(conn)
        self.memberships: MembershipRepository = SqlMemberships(conn)
        self.refresh_tokens: RefreshTokenRepository = SqlRefreshTokens(conn)
        self.login_failures: LoginFailureRepository = SqlLoginFailures(conn)
        self.authz: AuthzRepository = SqlAuthz(conn)
        self.audit: AuditRepository = SqlAudit(conn)
        self.workflows: WorkflowRepository = SqlWorkflows(conn)
        self.anchors: AnchorRepository = SqlAnchors(conn)
        self.plc: PlcRepository = SqlPlc(conn)
        self.packs: PackRepository = SqlPacks(conn)
        self.egress: EgressRepository = SqlEgress(conn)  # issue 12, item 3
        self.connections: ConnectionRepository = SqlConnections(conn)  # issue 15, item 1
        self.collaboration: CollaborationRepository = SqlCollaboration(conn)  # issue 18

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._inline is not None:
            try:
                self._inline.close()  # rolls back whatever was not committed
            finally:
                if self._lock is not None:
                    self._lock.release()
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
        with duplicates_conflict("a write broke a uniqueness rule"):
            if self._inline is not None:
                if not self._write:
                    raise RuntimeError(
                        "commit in a read-only unit of work; open it with write=True"
                    )
                self._inline.commit()
                return
            assert self._tx is not None
            await self._tx.commit()

    async def rollback(self) -> None:
        if self._inline is not None:
            self._inline.rollback()
            return
        assert self._tx is not None
        await self._tx.rollback()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, *, synchronous: str = "normal") -> None:
        """`synchronous`: SQLite's durability level, as the async engine was created with."""
        self.engine = engine
        url = engine.url.render_as_string(hide_password=False)
        self.inline = (
            InlineEngines(
                inline_read_engine(url, synchronous), inline_write_engine(url, synchronous)
            )
            if engine.dialect.name == "sqlite"
            else None
        )

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write, inline=self.inline)

    async def dispose(self) -> None:
        if self.inline is not None:
            self.inline.read.dispose()
            self.inline.write.dispose()
        await self.engine.dispose()
