"""Request and response bodies at the API edge (msgspec Structs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from hub.domain.tenancy import Membership, Tenant, TenantMember, User

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Role = Annotated[str, msgspec.Meta(max_length=32)]
Status = Annotated[str, msgspec.Meta(max_length=32)]
RefreshToken = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: RefreshToken


class TokenOut(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class TenantIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: Name


class TenantPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    status: Status | None = None


class TenantOut(msgspec.Struct):
    id: str
    slug: str
    name: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(tenant.id, tenant.slug, tenant.name, tenant.status.value, tenant.created_at)


class TenantList(msgspec.Struct):
    items: list[TenantOut]
    next_cursor: str | None


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    role: Role
    password: Password | None = None


class MemberPatch(msgspec.Struct, forbid_unknown_fields=True):
    role: Role | None = None
    status: Status | None = None


class MemberOut(msgspec.Struct):
    id: str
    username: str
    role: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, member: TenantMember) -> MemberOut:
        user = member.user
        return cls(user.id, user.username, member.role.value, user.status.value, member.since)


class MemberList(msgspec.Struct):
    items: list[MemberOut]
    next_cursor: str | None


class TenantRoleOut(msgspec.Struct):
    tenant: str
    role: str


class MeOut(msgspec.Struct):
    id: str
    username: str
    status: str
    platform_admin: bool
    tenants: list[TenantRoleOut]

    @classmethod
    def of(cls, user: User, memberships: list[Membership]) -> MeOut:
        roles = [TenantRoleOut(m.tenant_slug, m.role.value) for m in memberships]
        return cls(user.id, user.username, user.status.value, user.is_platform_admin, roles)


class HealthOut(msgspec.Struct):
    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)
