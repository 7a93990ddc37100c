"""A user with no active membership has nothing to sign in to (issue 12, item 13c):
login says what it says for bad credentials, refresh is refused and its session revoked,
both audited. A platform admin needs no membership."""

from __future__ import annotations

from typing import Any

from tests.conftest import PASSWORD, World, bearer, login

LOGIN, REFRESH = "/api/v1/auth/login", "/api/v1/auth/refresh"


def _set_member(world: World, tenant: str, name: str, status: str) -> None:
    uid = world.user_ids[name]
    changed = world.client.patch(
        f"/api/v1/tenants/{tenant}/users/{uid}",
        json={"status": status},
        headers=world.as_("platform_admin"),
    )
    assert changed.status_code == 200, changed.text


def _attempt(world: World, name: str, password: str = PASSWORD) -> Any:
    return world.client.post(LOGIN, json={"username": name, "password": password})


def _entries(world: World, action: str) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/acme/audit?action={action}&limit=100"
    found = world.client.get(url, headers=world.as_("acme-auditor"))
    assert found.status_code == 200, found.text
    return list(found.json()["items"])


def test_login_without_an_active_membership_is_refused_like_bad_credentials(
    world: World,
) -> None:
    _set_member(world, "acme", "acme-extra", "deactivated")
    refused = _attempt(world, "acme-extra")
    wrong = _attempt(world, "acme-viewer", "not-the-password")
    assert refused.status_code == wrong.status_code == 401
    assert refused.json()["detail"] == wrong.json()["detail"] == "invalid username or password"
    reasons = [
        e["details"].get("reason")
        for e in _entries(world, "auth.login")
        if e["actor"] == "acme-extra" and e["outcome"] == "failure"
    ]
    assert reasons == ["no active membership"]
    _set_member(world, "acme", "acme-extra", "active")
    assert login(world.client, "acme-extra")["access_token"]


def test_refresh_without_an_active_membership_is_refused_and_the_session_revoked(
    world: World,
) -> None:
    tokens = login(world.client, "acme-extra")
    _set_member(world, "acme", "acme-extra", "deactivated")
    refused = world.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401, refused.text
    _set_member(world, "acme", "acme-extra", "active")
    # revoked: the token stays dead when the membership comes back
    again = world.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401, again.text
    denied = [e for e in _entries(world, "auth.refresh") if e["outcome"] == "denied"]
    assert [e["details"]["reason"] for e in denied] == ["no active membership"]


def test_a_user_whose_only_tenant_is_suspended_cannot_log_in(world: World) -> None:
    suspended = world.client.patch(
        "/api/v1/tenants/globex", json={"status": "suspended"}, headers=world.as_("platform_admin")
    )
    assert suspended.status_code == 200, suspended.text
    assert _attempt(world, "globex-operator").status_code == 401
    assert login(world.client, "acme-operator")["access_token"]


def test_one_active_membership_is_enough(world: World) -> None:
    # acme-extra also belongs to globex; deactivated in acme, still active there
    added = world.client.post(
        "/api/v1/tenants/globex/users",
        json={"username": "acme-extra", "role": "viewer"},
        headers=world.as_("platform_admin"),
    )
    assert added.status_code == 201, added.text
    _set_member(world, "acme", "acme-extra", "deactivated")
    tokens = login(world.client, "acme-extra")
    me = world.client.get("/api/v1/me", headers=bearer(tokens["access_token"])).json()
    assert [t["tenant"] for t in me["tenants"]] == ["globex"]


def test_a_platform_admin_without_memberships_logs_in_and_refreshes(world: World) -> None:
    tokens = login(world.client, "root")
    again = world.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200, again.text
