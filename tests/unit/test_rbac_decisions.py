"""Authorization decisions are keyed by role, not by user: they are shared by users of a
role and survive other people's role changes, yet a changed role takes effect at once."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from hub.domain.tenancy import Membership, TenantRole
from hub.ports import AuthzSnapshot
from hub.security.rbac import CasbinAuthorizer

DEVICES = "/api/v1/tenants/acme/devices"


class FakeAuthz:
    def __init__(self) -> None:
        self.members = {"ann": TenantRole.ENGINEER, "bob": TenantRole.ENGINEER}
        self.version_no = 1
        self.policies: tuple[tuple[str, str, str, str], ...] = ()

    async def version(self) -> int:
        return self.version_no

    async def snapshot(self) -> AuthzSnapshot:
        users = frozenset({"ann", "bob", "cat"})
        found = tuple(Membership(u, "acme", r) for u, r in self.members.items())
        return AuthzSnapshot(
            self.version_no, users, {u: u for u in users}, frozenset(), found, self.policies
        )


class FakeUow:
    def __init__(self, authz: FakeAuthz) -> None:
        self.authz = authz

    async def __aenter__(self) -> FakeUow:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def _authorizer(authz: FakeAuthz) -> CasbinAuthorizer:
    return CasbinAuthorizer(lambda **_: FakeUow(authz), refresh_interval=0)  # type: ignore[arg-type]


def _evaluations(authorizer: CasbinAuthorizer) -> list[Any]:
    calls: list[Any] = []
    enforcer = authorizer._current.enforcer
    original = enforcer.enforce

    def counted(*args: Any) -> bool:
        calls.append(args)
        return bool(original(*args))

    enforcer.enforce = counted  # type: ignore[method-assign]
    return calls


def test_users_of_one_role_share_a_decision() -> None:
    authz = FakeAuthz()
    authorizer = _authorizer(authz)
    asyncio.run(authorizer.load())
    calls = _evaluations(authorizer)
    assert authorizer.allowed("ann", "acme", DEVICES, "POST")
    evaluated = len(calls)
    assert authorizer.allowed("bob", "acme", DEVICES, "POST")
    assert len(calls) == evaluated  # bob's answer came from ann's decision


def test_a_role_change_takes_effect_at_once_and_keeps_the_others_decisions() -> None:
    authz = FakeAuthz()
    authorizer = _authorizer(authz)
    asyncio.run(authorizer.load())
    assert authorizer.allowed("ann", "acme", DEVICES, "POST")
    assert not authorizer.allowed("cat", "acme", DEVICES, "POST")  # no role in acme

    authz.members["bob"] = TenantRole.VIEWER  # bob is demoted
    authz.version_no += 1
    authorizer.invalidate()
    asyncio.run(authorizer.refresh_if_stale())
    calls = _evaluations(authorizer)
    assert not authorizer.allowed("bob", "acme", DEVICES, "POST")
    assert authorizer.allowed("ann", "acme", DEVICES, "POST")
    assert [c[0] for c in calls] == ["bob", "member"]  # only the viewer's was new


def test_new_policy_lines_clear_the_decisions() -> None:
    authz = FakeAuthz()
    authorizer = _authorizer(authz)
    asyncio.run(authorizer.load())
    assert not authorizer.allowed("ann", "acme", "/api/v1/tenants/acme/pack-thing", "GET")
    authz.policies = (("engineer", "acme", "/api/v1/tenants/acme/pack-thing", "GET"),)
    authz.version_no += 1
    authorizer.invalidate()
    asyncio.run(authorizer.refresh_if_stale())
    assert authorizer.allowed("ann", "acme", "/api/v1/tenants/acme/pack-thing", "GET")
