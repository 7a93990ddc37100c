"""Tenants and their users: create, list, change role, deactivate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from hub.domain.audit import AuditEvent, RequestContext
from hub.domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from hub.domain.ids import is_id, new_id
from hub.domain.paging import decode_cursor, encode_cursor
from hub.domain.tenancy import (
    SLUG_RE,
    Principal,
    Tenant,
    TenantMember,
    TenantRole,
    TenantStatus,
    User,
    UserStatus,
    check,
    name_problems,
    password_problems,
    role_problems,
    slug_problems,
    username_problems,
)
from hub.ports import Clock, Page, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from hub.services.audit.log import AuditLog
from hub.services.tenancy.read_cache import VersionedCache

T = TypeVar("T")


def _as_is(page: Page[TenantMember]) -> Page[TenantMember]:
    return page


@dataclass(frozen=True)
class NewMember:
    username: str
    role: str
    password: str | None = None


@dataclass(frozen=True)
class MemberChange:
    role: str | None = None
    status: str | None = None


def _page(items: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    if len(items) > limit:
        items = items[:limit]
        return Page(items, encode_cursor(key(items[-1])))
    return Page(items, None)


class TenantService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        on_authz_change: Callable[[], None],
        audit: AuditLog,
        cache: VersionedCache,
    ) -> None:
        self._audit = audit
        self._cache = cache
        self._uow = uow_factory
        self._hasher = hasher
        self._clock = clock
        self._on_authz_change = on_authz_change

    async def create(self, slug: str, name: str, ctx: RequestContext) -> Tenant:
        check(slug_problems(slug), name_problems(name))
        tenant = Tenant(new_id(), slug, name, TenantStatus.ACTIVE, self._clock.now())
        async with self._uow(write=True) as uow:
            if await uow.tenants.get(slug) is not None:
                raise Conflict(f"tenant {slug!r} already exists")
            await uow.tenants.add(tenant)
            event = AuditEvent("tenant.create", "tenant", slug, details={"name": name})
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        return tenant

    async def page(self, principal: Principal, cursor: str | None, limit: int) -> Page[Tenant]:
        slugs = None if principal.is_platform_admin else sorted(principal.tenants)
        async with self._uow() as uow:
            items = await uow.tenants.page(
                slugs=slugs, after=decode_cursor(cursor), limit=limit + 1
            )
        return _page(items, limit, lambda t: t.slug)

    async def get(self, slug: str) -> Tenant:
        async def load() -> Tenant:
            async with self._uow() as uow:
                return await _tenant(uow, slug)

        return await self._cache.get_or_load(("tenant", slug), load)

    async def update(
        self, slug: str, name: str | None, status: str | None, ctx: RequestContext
    ) -> Tenant:
        problems = name_problems(name) if name is not None else []
        if status is not None and status not in TenantStatus.__members__.values():
            problems.append(FieldProblem("status", "must be active or suspended"))
        check(problems)
        async with self._uow(write=True) as uow:
            before = await _tenant(uow, slug)
            new_status = TenantStatus(status) if status is not None else None
            await uow.tenants.update(slug, name=name, status=new_status)
            await uow.authz.bump()  # also expires cached reads of the tenant
            tenant = await _tenant(uow, slug)
            changes = _changes(
                {"name": before.name, "status": before.status.value},
                {"name": tenant.name, "status": tenant.status.value},
            )
            event = AuditEvent("tenant.update", "tenant", slug, details=changes)
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        self._on_authz_change()
        return tenant

    async def add_member(
        self, slug: str, new: NewMember, principal: Principal, ctx: RequestContext
    ) -> TenantMember:
        problems = username_problems(new.username) + role_problems(new.role)
        if new.password is not None:
            problems += password_problems(new.password)
        elif not principal.is_platform_admin:
            problems.append(FieldProblem("password", "required"))
        check(problems)
        # Hash before the write transaction: argon2 takes tens of milliseconds.
        password_hash = (
            await asyncio.to_thread(self._hasher.hash, new.password) if new.password else None
        )
        now = self._clock.now()
        async with self._uow(write=True) as uow:
            tenant = await _tenant(uow, slug)
            found = await uow.users.by_username(new.username)
            if password_hash is not None:
                if found is not None:
                    raise Conflict(f"username {new.username!r} is taken")
                user = User(new_id(), new.username, UserStatus.ACTIVE, False, now)
                await uow.users.add(user, password_hash)
            elif found is None:
                raise ValidationFailed(
                    [FieldProblem("password", "required: no user with this username exists yet")]
                )
            else:
                user = found[0]
                if await uow.memberships.get(tenant, user.id) is not None:
                    raise Conflict(f"{new.username!r} is already a member of {slug!r}")
            await uow.memberships.add(tenant, user.id, TenantRole(new.role), now)
            await uow.authz.bump()
            member = await uow.memberships.get(tenant, user.id)
            action = "user.create" if password_hash is not None else "member.add"
            event = AuditEvent(
                action, "user", user.id, details={"username": new.username, "role": new.role}
            )
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        self._on_authz_change()
        assert member is not None
        return member

    async def list_members(
        self,
        slug: str,
        cursor: str | None,
        limit: int,
        present: Callable[[Page[TenantMember]], Any] = _as_is,
    ) -> Any:
        """A page of the tenant's members, as `present` shapes it (cached that way, so a
        driving adapter does not rebuild the same response for every request)."""
        after = decode_cursor(cursor)

        async def load() -> Any:
            async with self._uow() as uow:
                tenant = await _tenant(uow, slug)
                items = await uow.memberships.page(tenant, after=after, limit=limit + 1)
            return present(_page(items, limit, lambda m: m.user.id))

        return await self._cache.get_or_load(("members", slug, after, limit, present), load)

    async def get_member(self, slug: str, user_id: str) -> TenantMember:
        async with self._uow() as uow:
            return await _member(uow, await _tenant(uow, slug), user_id)

    async def change_member(
        self,
        slug: str,
        user_id: str,
        change: MemberChange,
        ctx: RequestContext,
        action: str = "member.update",
    ) -> TenantMember:
        problems = role_problems(change.role) if change.role is not None else []
        if change.status is not None and change.status not in UserStatus.__members__.values():
            problems.append(FieldProblem("status", "must be active or deactivated"))
        check(problems)
        role = TenantRole(change.role) if change.role is not None else None
        status = UserStatus(change.status) if change.status is not None else None
        async with self._uow(write=True) as uow:
            tenant = await _tenant(uow, slug)
            member = await _member(uow, tenant, user_id)
            await _keep_an_admin(uow, tenant, member, role, status)
            await uow.memberships.update(tenant, user_id, role=role, status=status)
            await uow.authz.bump()
            before = member
            member = await _member(uow, tenant, user_id)
            details = {
                "username": member.user.username,
                **_changes(
                    {"role": before.role.value, "status": before.user.status.value},
                    {"role": member.role.value, "status": member.user.status.value},
                ),
            }
            event = AuditEvent(action, "user", user_id, details=details)
            await self._audit.record(uow, [tenant.id], ctx, event)
            await uow.commit()
        self._on_authz_change()
        return member

    async def deactivate_member(self, slug: str, user_id: str, ctx: RequestContext) -> TenantMember:
        change = MemberChange(status="deactivated")
        return await self.change_member(slug, user_id, change, ctx, "member.deactivate")

    # --- metrics labels (issue 12, item 11) ---

    async def slugs(self, tenant_ids: Iterable[str]) -> dict[str, str]:
        """The slug of each known tenant id (slugs never change, so callers may cache)."""
        found: dict[str, str] = {}
        async with self._uow() as uow:
            for tenant_id in tenant_ids:
                tenant = await uow.tenants.by_id(tenant_id) if is_id(tenant_id) else None
                if tenant is not None:
                    found[tenant_id] = tenant.slug
        return found


def _changes(before: dict[str, str], after: dict[str, str]) -> dict[str, dict[str, str]]:
    return {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}


async def _tenant(uow: UnitOfWork, slug: str) -> Tenant:
    # A string that cannot be a slug cannot name a tenant: answer without asking the store.
    tenant = await uow.tenants.get(slug) if SLUG_RE.match(slug) else None
    if tenant is None:
        raise NotFound(f"tenant {slug!r} not found")
    return tenant


async def _member(uow: UnitOfWork, tenant: Tenant, user_id: str) -> TenantMember:
    member = await uow.memberships.get(tenant, user_id) if is_id(user_id) else None
    if member is None:
        raise NotFound(f"user {user_id!r} not found in tenant {tenant.slug!r}")
    return member


async def _keep_an_admin(
    uow: UnitOfWork,
    tenant: Tenant,
    member: TenantMember,
    role: TenantRole | None,
    status: UserStatus | None,
) -> None:
    """Refuse the change that would leave a tenant with no active tenant admin."""
    was_admin = member.role is TenantRole.TENANT_ADMIN and member.user.status is UserStatus.ACTIVE
    stays_admin = (role or member.role) is TenantRole.TENANT_ADMIN and (
        status or member.user.status
    ) is UserStatus.ACTIVE
    if was_admin and not stays_admin:
        admins = await uow.memberships.count_active(tenant, TenantRole.TENANT_ADMIN)
        if admins <= 1:
            raise Conflict(
                f"{member.user.username!r} is the last active tenant admin of "
                f"{tenant.slug!r}; make another user tenant_admin first"
            )
