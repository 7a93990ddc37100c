"""casbin RBAC with domains: role permissions from policies/, role assignments from the store.

The enforcer is rebuilt from a store snapshot whenever the store's authz version moves,
checked at most every `refresh_interval` seconds (other processes) and at once after a
change made by this process (`invalidate`). Decisions are cached because a casbin
evaluation walks every policy line. A decision depends only on the caller's role in the
domain (and whether they are a platform admin), the domain, the resource and the action,
so that is its key: users of one role share decisions, and a change of someone's role
keeps the cache (only a change of the policy lines themselves clears it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import casbin

from hub.domain.tenancy import PLATFORM_ADMIN
from hub.ports import AuthzSnapshot, UnitOfWorkFactory
from policies import BASE_POLICY_PATH, MODEL_PATH

GLOBAL_DOMAIN = "*"
MEMBER_ROLE = "member"
log = logging.getLogger(__name__)
# casbin logs the whole policy at INFO on every enforcer build.
logging.getLogger("casbin").setLevel(logging.WARNING)


def build_enforcer(snapshot: AuthzSnapshot) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(MODEL_PATH), str(BASE_POLICY_PATH))
    rules = [[m.user_id, m.role.value, m.tenant_slug] for m in snapshot.memberships]
    rules += [[user_id, PLATFORM_ADMIN, GLOBAL_DOMAIN] for user_id in snapshot.platform_admins]
    if rules:
        enforcer.add_grouping_policies(rules)
    # A pack's additions hold in its tenant's domain only (p.dom == r.dom in the matcher).
    extra = [list(line) for line in snapshot.policies]
    if extra:
        enforcer.add_policies(extra)
    return enforcer


@dataclass
class _State:
    snapshot: AuthzSnapshot
    enforcer: casbin.Enforcer
    domains: dict[str, frozenset[str]]
    roles: dict[tuple[str, str], str]  # (user, tenant slug) -> role


class CasbinAuthorizer:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        refresh_interval: float = 2.0,
        cache_size: int = 65536,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow_factory = uow_factory
        self._refresh_interval = refresh_interval
        self._cache_size = cache_size
        self._monotonic = monotonic
        self._state: _State | None = None
        self._checked_at = float("-inf")
        self._stale = True
        self._lock = asyncio.Lock()
        self._cache: OrderedDict[tuple[str, bool, str, str, str], bool] = OrderedDict()

    async def load(self) -> None:
        async with self._uow_factory() as uow:
            snapshot = await uow.authz.snapshot()
        domains: dict[str, set[str]] = {}
        roles: dict[tuple[str, str], str] = {}
        for membership in snapshot.memberships:
            domains.setdefault(membership.user_id, set()).add(membership.tenant_slug)
            roles[(membership.user_id, membership.tenant_slug)] = membership.role.value
        previous = self._state
        self._state = _State(
            snapshot,
            build_enforcer(snapshot),
            {u: frozenset(d) for u, d in domains.items()},
            roles,
        )
        if previous is None or previous.snapshot.policies != snapshot.policies:
            self._cache.clear()  # decisions keyed by role hold while the policy lines do
        self._stale = False
        self._checked_at = self._monotonic()
        log.debug("authorization snapshot %s loaded", snapshot.version)

    def invalidate(self) -> None:
        self._stale = True

    def version(self) -> int | None:
        """The snapshot's version, or None while it is stale or not loaded."""
        if self._state is None or self._stale:
            return None
        return self._state.snapshot.version

    async def refresh_if_stale(self) -> None:
        if not self._stale and self._monotonic() - self._checked_at < self._refresh_interval:
            return
        async with self._lock:
            if self._stale or self._state is None:
                await self.load()
                return
            if self._monotonic() - self._checked_at < self._refresh_interval:
                return
            async with self._uow_factory() as uow:
                version = await uow.authz.version()
            if version != self._state.snapshot.version:
                await self.load()
            else:
                self._checked_at = self._monotonic()

    @property
    def _current(self) -> _State:
        if self._state is None:
            raise RuntimeError("authorizer used before load()")
        return self._state

    def is_active(self, user_id: str) -> bool:
        return user_id in self._current.snapshot.active_users

    def role_in(self, user_id: str, domain: str) -> str | None:
        return self._current.roles.get((user_id, domain))

    def username_of(self, user_id: str) -> str:
        return self._current.snapshot.usernames.get(user_id, user_id)

    def is_platform_admin(self, user_id: str) -> bool:
        return user_id in self._current.snapshot.platform_admins

    def is_member(self, user_id: str, domain: str) -> bool:
        return domain in self._current.domains.get(user_id, frozenset())

    def tenants_of(self, user_id: str) -> frozenset[str]:
        return self._current.domains.get(user_id, frozenset())

    def allowed(self, user_id: str, domain: str, resource: str, action: str) -> bool:
        state = self._current
        if user_id not in state.snapshot.active_users:
            return False
        admin = user_id in state.snapshot.platform_admins
        key = (state.roles.get((user_id, domain), ""), admin, domain, resource, action)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        decision = bool(
            state.enforcer.enforce(user_id, domain, resource, action)
            or state.enforcer.enforce(MEMBER_ROLE, domain, resource, action)
        )
        self._cache[key] = decision
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return decision
