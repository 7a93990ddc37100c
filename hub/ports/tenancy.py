"""Tenancy and sign-in: tenants, users, memberships, refresh tokens, authorization, password
hashing and access tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hub.domain.tenancy import (
    Membership,
    Tenant,
    TenantMember,
    TenantRole,
    TenantStatus,
    User,
    UserStatus,
)


class AccessTokenIssuer(Protocol):
    """Signs short-lived access tokens (hub/security/tokens.py: JWT)."""

    ttl: int  # seconds

    def issue(self, user_id: str, now: datetime) -> str: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, password_hash: str | None) -> bool: ...


@dataclass(frozen=True)
class StoredRefreshToken:
    id: str
    family_id: str
    user_id: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class TenantRepository(Protocol):
    async def add(self, tenant: Tenant) -> None: ...

    async def get(self, slug: str) -> Tenant | None: ...

    async def by_id(self, tenant_id: str) -> Tenant | None: ...

    async def update(self, slug: str, *, name: str | None, status: TenantStatus | None) -> None: ...

    async def page(
        self, *, slugs: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Tenant]: ...


class UserRepository(Protocol):
    async def add(self, user: User, password_hash: str) -> None: ...

    async def get(self, user_id: str) -> User | None: ...

    async def by_username(self, username: str) -> tuple[User, str] | None:
        """The user and its password hash."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...


class MembershipRepository(Protocol):
    async def add(self, tenant: Tenant, user_id: str, role: TenantRole, at: datetime) -> None: ...

    async def get(self, tenant: Tenant, user_id: str) -> TenantMember | None: ...

    async def update(
        self, tenant: Tenant, user_id: str, *, role: TenantRole | None, status: UserStatus | None
    ) -> None: ...

    async def page(
        self, tenant: Tenant, *, after: str | None, limit: int
    ) -> list[TenantMember]: ...

    async def for_user(self, user_id: str) -> list[Membership]: ...

    async def count_active(self, tenant: Tenant, role: TenantRole) -> int: ...

    async def tenant_ids_for_user(self, user_id: str) -> list[str]:
        """Every tenant the user belongs or belonged to: where its sign-ins are recorded."""
        ...


class RefreshTokenRepository(Protocol):
    async def add(
        self,
        token_id: str,
        token_hash: str,
        family_id: str,
        user_id: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def by_hash(self, token_hash: str) -> StoredRefreshToken | None: ...

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        """Mark a live token used; False when another request used it first."""
        ...

    async def revoke_family(self, family_id: str, at: datetime) -> None: ...


class LoginFailureRepository(Protocol):
    async def add(self, username: str, at: datetime) -> None: ...

    async def since(self, username: str, since: datetime) -> list[datetime]: ...

    async def clear(self, username: str) -> None: ...


@dataclass(frozen=True)
class AuthzSnapshot:
    """Everything authorization needs, read in one go from the store."""

    version: int
    active_users: frozenset[str]
    usernames: dict[str, str]
    platform_admins: frozenset[str]
    memberships: tuple[Membership, ...]
    # Policy lines industry packs added: (role, tenant slug, resource, action).
    policies: tuple[tuple[str, str, str, str], ...] = ()


class AuthzRepository(Protocol):
    async def bump(self) -> None:
        """Record that role assignments or statuses changed."""
        ...

    async def version(self) -> int: ...

    async def snapshot(self) -> AuthzSnapshot: ...


class Authorizer(Protocol):
    def allowed(self, user_id: str, domain: str, resource: str, action: str) -> bool: ...

    def is_member(self, user_id: str, domain: str) -> bool: ...

    def is_active(self, user_id: str) -> bool: ...

    async def refresh_if_stale(self) -> None: ...

    def invalidate(self) -> None: ...
