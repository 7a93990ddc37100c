"""The permission helper asks the API's casbin policy about the API's paths."""

from __future__ import annotations

from collections.abc import Iterator

import casbin
import pytest

from hub.api.console.permissions import Decision, api_path, decide, domain_of, refusal
from policies import BASE_POLICY_PATH, MODEL_PATH

ACK = "/api/v1/tenants/{tenant}/alarms/{alarm_id}/ack"


class Policy:
    """The base policy through casbin with a few role assignments, as the hub's
    authorizer holds them (g(user, role, tenant)); every user is also a `member` of *."""

    def __init__(self, roles: dict[tuple[str, str], str], admins: frozenset[str] = frozenset()):
        self._enforcer = casbin.Enforcer(str(MODEL_PATH), str(BASE_POLICY_PATH))
        for (user, tenant), role in roles.items():
            self._enforcer.add_grouping_policy(user, role, tenant)
        for admin in admins:
            self._enforcer.add_grouping_policy(admin, "platform_admin", "*")
        self._members = {(u, t) for (u, t) in roles}
        self._admins = admins

    def allowed(self, user_id: str, domain: str, resource: str, action: str) -> bool:
        return bool(
            self._enforcer.enforce(user_id, domain, resource, action)
            or self._enforcer.enforce("member", domain, resource, action)
        )

    def is_member(self, user_id: str, domain: str) -> bool:
        return (user_id, domain) in self._members

    def is_platform_admin(self, user_id: str) -> bool:
        return user_id in self._admins


@pytest.fixture(scope="module")
def policy() -> Iterator[Policy]:
    yield Policy(
        {("op", "acme"): "operator", ("view", "acme"): "viewer", ("view", "globex"): "operator"},
        admins=frozenset({"root"}),
    )


def test_api_path_fills_and_quotes_each_segment() -> None:
    assert (
        api_path(ACK, {"tenant": "acme", "alarm_id": "a1"}) == "/api/v1/tenants/acme/alarms/a1/ack"
    )
    # a value cannot add segments (and so match a wider policy line)
    assert api_path(ACK, {"tenant": "acme", "alarm_id": "a/../b"}).endswith("/a%2F..%2Fb/ack")
    with pytest.raises(KeyError, match="alarm_id"):
        api_path(ACK, {"tenant": "acme"})


def test_the_domain_is_the_tenant_or_global() -> None:
    assert domain_of(ACK, {"tenant": "acme"}) == "acme"
    assert domain_of("/api/v1/me", {"tenant": "acme"}) == "*"


def test_decisions_follow_the_roles(policy: Policy) -> None:
    params = {"tenant": "acme", "alarm_id": "a1"}
    assert decide(policy, "op", "POST", ACK, params) is Decision.ALLOWED
    assert decide(policy, "op", "post", ACK, params) is Decision.ALLOWED  # method case
    assert decide(policy, "view", "POST", ACK, params) is Decision.FORBIDDEN
    assert decide(policy, "view", "GET", "/api/v1/tenants/{tenant}/alarms", params) is (
        Decision.ALLOWED
    )
    # a tenant the user holds no role in: not found, as the API answers
    assert decide(policy, "op", "GET", "/api/v1/tenants/{tenant}", {"tenant": "globex"}) is (
        Decision.NOT_FOUND
    )
    # the same user may hold another role elsewhere
    assert decide(policy, "view", "POST", ACK, {**params, "tenant": "globex"}) is Decision.ALLOWED
    # the platform admin everywhere, without a membership
    assert decide(policy, "root", "POST", ACK, params) is Decision.ALLOWED
    # global routes: every user is a member of *
    assert decide(policy, "op", "GET", "/api/v1/me", {}) is Decision.ALLOWED
    assert decide(policy, "op", "POST", "/api/v1/tenants", {}) is Decision.FORBIDDEN


def test_refusals_are_marked_for_the_audit_hook() -> None:
    forbidden = refusal(Decision.FORBIDDEN, "POST /x")
    assert forbidden.status == 403 and forbidden.denied and not forbidden.outsider
    hidden = refusal(Decision.NOT_FOUND, "POST /x")
    assert hidden.status == 404 and hidden.denied and hidden.outsider
    assert "globex" not in hidden.detail
