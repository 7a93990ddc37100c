"""Composition root: reads Settings and wires adapters to the services."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.clock import SystemClock
from hub.domain.errors import Conflict
from hub.domain.ids import new_id
from hub.domain.tenancy import User, UserStatus, check, password_problems, username_problems
from hub.ports import Clock, PasswordHasher
from hub.security.passwords import Argon2Hasher
from hub.security.rbac import CasbinAuthorizer
from hub.security.tokens import AccessTokens
from hub.services.auth import AuthService
from hub.services.tenants import TenantService
from hub.settings import Settings
from hub.store import migrate
from hub.store.database import create_engine
from hub.store.unit_of_work import SqlUnitOfWorkFactory


@dataclass
class Hub:
    """Everything a driving adapter (API, CLI) needs, built once per process."""

    settings: Settings
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    tokens: AccessTokens
    authorizer: CasbinAuthorizer
    auth: AuthService
    tenants: TenantService

    async def start(self, *, migrate_schema: bool = True) -> None:
        if migrate_schema:
            await migrate.upgrade(self.engine)
        await self.authorizer.load()

    async def close(self) -> None:
        await self.engine.dispose()


def build(settings: Settings, *, hasher: PasswordHasher | None = None) -> Hub:
    engine = create_engine(settings.database_url)
    uow = SqlUnitOfWorkFactory(engine)
    clock = SystemClock()
    hasher = hasher or Argon2Hasher()
    tokens = AccessTokens(settings)
    authorizer = CasbinAuthorizer(uow, refresh_interval=settings.authz_refresh_interval)
    return Hub(
        settings=settings,
        engine=engine,
        uow=uow,
        clock=clock,
        hasher=hasher,
        tokens=tokens,
        authorizer=authorizer,
        auth=AuthService(uow, hasher, tokens, clock, settings),
        tenants=TenantService(uow, hasher, clock, authorizer.invalidate),
    )


async def ensure_platform_admin(hub: Hub, username: str, password: str) -> bool:
    """Create the platform admin; True when created, False when it already existed."""
    check(username_problems(username), password_problems(password))
    password_hash = hub.hasher.hash(password)
    async with hub.uow(write=True) as uow:
        found = await uow.users.by_username(username)
        if found is not None:
            if not found[0].is_platform_admin:
                raise Conflict(f"user {username!r} exists and is not a platform admin")
            return False
        user = User(new_id(), username, UserStatus.ACTIVE, True, hub.clock.now())
        await uow.users.add(user, password_hash)
        await uow.authz.bump()
        await uow.commit()
    hub.authorizer.invalidate()
    return True
