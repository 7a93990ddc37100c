"""Login, refresh rotation, reuse detection, logout, throttling and forged tokens."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from litestar.testing import TestClient

from tests.conftest import ADMIN, PASSWORD, World, bearer, login


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_login_returns_tokens_with_the_required_claims(world: World) -> None:
    tokens = login(world.client, "acme-operator")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    claims = _claims(tokens["access_token"])
    assert set(claims) >= {"sub", "iat", "exp", "jti", "iss", "aud"}
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"] == world.user_ids["acme-operator"]
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"


@pytest.mark.parametrize(
    ("username", "password"),
    [("acme-operator", "wrong-password-123"), ("nobody-here", PASSWORD)],
)
def test_bad_credentials_are_401_and_say_the_same(
    world: World, username: str, password: str
) -> None:
    response = world.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "invalid username or password"


def test_five_failures_lock_the_username_with_retry_after(world: World) -> None:
    bad = {"username": "acme-viewer", "password": "not-the-password"}
    for _ in range(5):
        assert world.client.post("/api/v1/auth/login", json=bad).status_code == 401
    good = {"username": "acme-viewer", "password": PASSWORD}
    locked = world.client.post("/api/v1/auth/login", json=good)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 900
    # Other usernames are not affected.
    assert (
        world.client.post(
            "/api/v1/auth/login", json={"username": "acme-auditor", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_a_success_resets_the_failure_count(world: World) -> None:
    bad = {"username": "acme-viewer", "password": "not-the-password"}
    for _ in range(4):
        world.client.post("/api/v1/auth/login", json=bad)
    login(world.client, "acme-viewer")
    for _ in range(4):
        assert world.client.post("/api/v1/auth/login", json=bad).status_code == 401
    login(world.client, "acme-viewer")


def test_refresh_rotates_and_reuse_revokes_the_family(world: World) -> None:
    client = world.client
    first = login(client, "acme-engineer")
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/me", headers=bearer(rotated["access_token"])).status_code == 200

    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    # The thief's reuse also ended the legitimate holder's newer token.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401


def test_logout_revokes_the_refresh_token(world: World) -> None:
    client = world.client
    tokens = login(client, "acme-auditor")
    headers = bearer(tokens["access_token"])
    body = {"refresh_token": tokens["refresh_token"]}
    assert client.post("/api/v1/auth/logout", json=body, headers=headers).status_code == 204
    assert client.post("/api/v1/auth/refresh", json=body).status_code == 401


def test_logout_leaves_another_users_token_alone(world: World) -> None:
    client = world.client
    victim = login(client, "acme-auditor")
    attacker = bearer(login(client, "acme-viewer")["access_token"])
    body = {"refresh_token": victim["refresh_token"]}
    assert client.post("/api/v1/auth/logout", json=body, headers=attacker).status_code == 204
    assert client.post("/api/v1/auth/refresh", json=body).status_code == 200


def test_unknown_refresh_token_is_401(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"})
    assert response.status_code == 401


def test_me_lists_tenant_roles(world: World, client: TestClient[Any]) -> None:
    admin = world.as_("platform_admin")
    # The same user holds another role in a second tenant.
    added = client.post(
        "/api/v1/tenants/globex/users",
        json={"username": "acme-operator", "role": "auditor"},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    me = client.get("/api/v1/me", headers=world.as_("acme-operator")).json()
    assert me["username"] == "acme-operator"
    assert me["platform_admin"] is False
    assert me["tenants"] == [
        {"tenant": "acme", "role": "operator"},
        {"tenant": "globex", "role": "auditor"},
    ]
    assert client.get("/api/v1/me", headers=admin).json()["platform_admin"] is True


def _forge(claims: dict[str, Any], key: str, algorithm: str) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _valid_claims(world: World) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": world.user_ids["acme-tenant_admin"],
        "iat": now,
        "exp": now + 600,
        "jti": "x1",
        "iss": "industrial-hub",
        "aud": "hub-api",
    }


FORGERIES = {
    "alg none": lambda c, s: _unsigned(c),
    "another algorithm (HS512)": lambda c, s: _forge(c, s, "HS512"),
    "bad signature": lambda c, s: _forge(c, "a-different-secret-of-enough-length-000", "HS256"),
    "wrong audience": lambda c, s: _forge({**c, "aud": "someone-else"}, s, "HS256"),
    "wrong issuer": lambda c, s: _forge({**c, "iss": "evil"}, s, "HS256"),
    "expired": lambda c, s: _forge(
        {**c, "iat": c["iat"] - 4000, "exp": c["iat"] - 3000}, s, "HS256"
    ),
    "missing jti": lambda c, s: _forge({k: v for k, v in c.items() if k != "jti"}, s, "HS256"),
    "not a jwt": lambda c, s: "not.a.jwt",
}


def test_a_correctly_signed_token_is_accepted(world: World, hub: Any) -> None:
    token = _forge(_valid_claims(world), hub.settings.jwt_secret, "HS256")
    assert world.client.get("/api/v1/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_forged_tokens_are_401(world: World, hub: Any, case: str) -> None:
    token = FORGERIES[case](_valid_claims(world), hub.settings.jwt_secret)
    response = world.client.get("/api/v1/tenants/acme/users", headers=bearer(token))
    assert response.status_code == 401, case
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer", "Bearer    "])
def test_missing_or_malformed_authorization_is_401(client: TestClient[Any], header: str) -> None:
    headers = {"Authorization": header} if header else {}
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_short_password_is_refused_with_422(world: World) -> None:
    response = world.client.post(
        "/api/v1/tenants/acme/users",
        json={"username": "shorty", "password": "elevenchars", "role": "viewer"},
        headers=world.as_("acme-tenant_admin"),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["password"]


def test_deactivated_member_loses_the_tenant_at_once(world: World) -> None:
    client = world.client
    uid = world.user_ids["acme-engineer"]
    engineer = world.as_("acme-engineer")
    assert client.get("/api/v1/tenants/acme", headers=engineer).status_code == 200
    gone = client.delete(
        f"/api/v1/tenants/acme/users/{uid}", headers=world.as_("acme-tenant_admin")
    )
    assert gone.status_code == 200 and gone.json()["status"] == "deactivated"
    assert client.get("/api/v1/tenants/acme", headers=engineer).status_code == 404
    assert client.get("/api/v1/me", headers=engineer).json()["tenants"] == []


def test_admin_of_platform_logs_in(client: TestClient[Any], world: World) -> None:
    assert login(client, ADMIN)["access_token"]
