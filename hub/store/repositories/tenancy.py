"""Repositories over one SQLAlchemy connection; each returns domain types."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, update

from hub.domain.tenancy import (
    Membership,
    Tenant,
    TenantMember,
    TenantRole,
    TenantStatus,
    User,
    UserStatus,
)
from hub.ports import AuthzSnapshot, StoredRefreshToken
from hub.store.inline import StoreConnection
from hub.store.repositories.packs import SqlPacks
from hub.store.tables.core import (
    authz_state,
    login_failures,
    memberships,
    refresh_tokens,
    tenants,
    users,
)


def _tenant(row: Row[*tuple[Any, ...]]) -> Tenant:
    return Tenant(row.id, row.slug, row.name, TenantStatus(row.status), row.created_at)


def _user(row: Row[*tuple[Any, ...]]) -> User:
    return User(row.id, row.username, UserStatus(row.status), row.is_platform_admin, row.created_at)


class SqlTenants:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def add(self, tenant: Tenant) -> None:
        await self._conn.execute(
            insert(tenants).values(
                id=tenant.id,
                slug=tenant.slug,
                name=tenant.name,
                status=tenant.status.value,
                created_at=tenant.created_at,
            )
        )

    async def get(self, slug: str) -> Tenant | None:
        row = (await self._conn.execute(select(tenants).where(tenants.c.slug == slug))).first()
        return _tenant(row) if row else None

    async def by_id(self, tenant_id: str) -> Tenant | None:
        query = select(tenants).where(tenants.c.id == tenant_id)
        row = (await self._conn.execute(query)).first()
        return _tenant(row) if row else None

    async def update(self, slug: str, *, name: str | None, status: TenantStatus | None) -> None:
        values: dict[str, str] = {}
        if name is not None:
            values["name"] = name
        if status is not None:
            values["status"] = status.value
        if values:
            await self._conn.execute(update(tenants).where(tenants.c.slug == slug).values(values))

    async def page(
        self, *, slugs: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Tenant]:
        query = select(tenants).order_by(tenants.c.slug).limit(limit)
        if slugs is not None:
            query = query.where(tenants.c.slug.in_(list(slugs)))
        if after is not None:
            query = query.where(tenants.c.slug > after)
        return [_tenant(r) for r in await self._conn.execute(query)]


class SqlUsers:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def add(self, user: User, password_hash: str) -> None:
        await self._conn.execute(
            insert(users).values(
                id=user.id,
                username=user.username,
                password_hash=password_hash,
                status=user.status.value,
                is_platform_admin=user.is_platform_admin,
                created_at=user.created_at,
            )
        )

    async def get(self, user_id: str) -> User | None:
        row = (await self._conn.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row) if row else None

    async def by_username(self, username: str) -> tuple[User, str] | None:
        query = select(users).where(users.c.username == username)
        row = (await self._conn.execute(query)).first()
        return (_user(row), row.password_hash) if row else None

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._conn.execute(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )

    async def set_platform_admin(self, user_id: str) -> None:
        await self._conn.execute(
            update(users).where(users.c.id == user_id).values(is_platform_admin=True)
        )


_member_columns = (
    users.c.id,
    users.c.username,
    users.c.is_platform_admin,
    users.c.created_at,
    memberships.c.role,
    memberships.c.status,
    memberships.c.created_at.label("since"),
)


def _member(row: Row[*tuple[Any, ...]]) -> TenantMember:
    # Inside a tenant, a user's status is its membership's status.
    user = User(row.id, row.username, UserStatus(row.status), row.is_platform_admin, row.created_at)
    return TenantMember(user, TenantRole(row.role), row.since)


class SqlMemberships:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def add(self, tenant: Tenant, user_id: str, role: TenantRole, at: datetime) -> None:
        await self._conn.execute(
            insert(memberships).values(
                tenant_id=tenant.id,
                user_id=user_id,
                role=role.value,
                status=UserStatus.ACTIVE.value,
                created_at=at,
            )
        )

    async def get(self, tenant: Tenant, user_id: str) -> TenantMember | None:
        query = (
            select(*_member_columns)
            .join_from(memberships, users, memberships.c.user_id == users.c.id)
            .where(memberships.c.tenant_id == tenant.id, memberships.c.user_id == user_id)
        )
        row = (await self._conn.execute(query)).first()
        return _member(row) if row else None

    async def update(
        self, tenant: Tenant, user_id: str, *, role: TenantRole | None, status: UserStatus | None
    ) -> None:
        values: dict[str, str] = {}
        if role is not None:
            values["role"] = role.value
        if status is not None:
            values["status"] = status.value
        if values:
            await self._conn.execute(
                update(memberships)
                .where(
                    memberships.c.tenant_id == tenant.id,
                    memberships.c.user_id == user_id,
                )
                .values(values)
            )

    async def page(self, tenant: Tenant, *, after: str | None, limit: int) -> list[TenantMember]:
        query = (
            select(*_member_columns)
            .join_from(memberships, users, memberships.c.user_id == users.c.id)
            .where(memberships.c.tenant_id == tenant.id)
            .order_by(memberships.c.user_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(memberships.c.user_id > after)
        return [_member(r) for r in await self._conn.execute(query)]

    async def for_user(self, user_id: str) -> list[Membership]:
        query = (
            select(tenants.c.slug, memberships.c.role)
            .join_from(memberships, tenants, memberships.c.tenant_id == tenants.c.id)
            .where(
                memberships.c.user_id == user_id,
                memberships.c.status == UserStatus.ACTIVE.value,
                tenants.c.status == TenantStatus.ACTIVE.value,
            )
            .order_by(tenants.c.slug)
        )
        return [
            Membership(user_id, r.slug, TenantRole(r.role)) for r in await self._conn.execute(query)
        ]

    async def tenant_ids_for_user(self, user_id: str) -> list[str]:
        query = select(memberships.c.tenant_id).where(memberships.c.user_id == user_id)
        return sorted(r.tenant_id for r in await self._conn.execute(query))

    async def count_active(self, tenant: Tenant, role: TenantRole) -> int:
        query = (
            select(func.count())
            .select_from(memberships)
            .where(
                memberships.c.tenant_id == tenant.id,
                memberships.c.role == role.value,
                memberships.c.status == UserStatus.ACTIVE.value,
            )
        )
        return int((await self._conn.execute(query)).scalar_one())


class SqlRefreshTokens:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def add(
        self,
        token_id: str,
        token_hash: str,
        family_id: str,
        user_id: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None:
        await self._conn.execute(
            insert(refresh_tokens).values(
                id=token_id,
                token_hash=token_hash,
                family_id=family_id,
                user_id=user_id,
                issued_at=issued_at,
                expires_at=expires_at,
            )
        )

    async def by_hash(self, token_hash: str) -> StoredRefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return StoredRefreshToken(
            row.id, row.family_id, row.user_id, row.expires_at, row.used_at, row.revoked_at
        )

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        result = await self._conn.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.id == token_id,
                refresh_tokens.c.used_at.is_(None),
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(used_at=at)
        )
        return result.rowcount == 1

    async def revoke_family(self, family_id: str, at: datetime) -> None:
        await self._conn.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.family_id == family_id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )


class SqlLoginFailures:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def add(self, username: str, at: datetime) -> None:
        await self._conn.execute(insert(login_failures).values(username=username, at=at))

    async def since(self, username: str, since: datetime) -> list[datetime]:
        query = (
            select(login_failures.c.at)
            .where(and_(login_failures.c.username == username, login_failures.c.at > since))
            .order_by(login_failures.c.at)
        )
        return [r.at for r in await self._conn.execute(query)]

    async def clear(self, username: str) -> None:
        await self._conn.execute(
            delete(login_failures).where(login_failures.c.username == username)
        )


class SqlAuthz:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    async def bump(self) -> None:
        result = await self._conn.execute(
            update(authz_state)
            .where(authz_state.c.id == 1)
            .values(version=authz_state.c.version + 1)
        )
        if result.rowcount == 0:
            await self._conn.execute(insert(authz_state).values(id=1, version=1))

    async def version(self) -> int:
        query = select(func.coalesce(func.max(authz_state.c.version), 0))
        return int((await self._conn.execute(query)).scalar_one())

    async def snapshot(self) -> AuthzSnapshot:
        version = await self.version()
        user_rows = await self._conn.execute(
            select(users.c.id, users.c.username, users.c.is_platform_admin).where(
                users.c.status == UserStatus.ACTIVE.value
            )
        )
        active, admins, names = set(), set(), {}
        for row in user_rows:
            active.add(row.id)
            names[row.id] = row.username
            if row.is_platform_admin:
                admins.add(row.id)
        member_rows = await self._conn.execute(
            select(memberships.c.user_id, tenants.c.slug, memberships.c.role)
            .join_from(memberships, tenants, memberships.c.tenant_id == tenants.c.id)
            .where(
                memberships.c.status == UserStatus.ACTIVE.value,
                tenants.c.status == TenantStatus.ACTIVE.value,
            )
        )
        found = tuple(
            Membership(r.user_id, r.slug, TenantRole(r.role))
            for r in member_rows
            if r.user_id in active
        )
        # Policy lines of packs: grants in their tenant's domain.
        policies = tuple(await SqlPacks(self._conn).all_policies())
        return AuthzSnapshot(version, frozenset(active), names, frozenset(admins), found, policies)
