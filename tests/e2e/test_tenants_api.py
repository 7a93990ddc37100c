"""Tenant and user management through the API, and bad input on every write route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD, World, login

BODY_ROUTES = [
    ("POST", "/api/v1/auth/login", "platform_admin", {"username": "root", "password": PASSWORD}),
    ("POST", "/api/v1/auth/refresh", "platform_admin", {"refresh_token": "x"}),
    ("POST", "/api/v1/auth/logout", "platform_admin", {"refresh_token": "x"}),
    ("POST", "/api/v1/tenants", "platform_admin", {"slug": "fresh", "name": "Fresh"}),
    ("PATCH", "/api/v1/tenants/acme", "platform_admin", {"name": "Acme 2"}),
    (
        "POST",
        "/api/v1/tenants/acme/users",
        "acme-tenant_admin",
        {"username": "newbie", "password": PASSWORD, "role": "viewer"},
    ),
    ("PATCH", "/api/v1/tenants/acme/users/{extra}", "acme-tenant_admin", {"role": "operator"}),
]


def _url(world: World, path: str) -> str:
    return path.format(extra=world.user_ids["acme-extra"])


def _send(world: World, method: str, path: str, who: str, **kwargs: Any) -> Any:
    headers = {**world.as_(who), **kwargs.pop("headers", {})}
    return world.client.request(method, _url(world, path), headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("method", "path", "who", "good"), BODY_ROUTES, ids=[f"{m} {p}" for m, p, _, _ in BODY_ROUTES]
)
def test_bad_bodies_get_clear_4xx_and_change_nothing(
    world: World, method: str, path: str, who: str, good: dict[str, Any]
) -> None:
    json_header = {"content-type": "application/json"}
    cases: list[tuple[int, dict[str, Any]]] = [
        (400, {"content": b'{"unterminated": ', "headers": json_header}),
        (400, {"content": b"\xff\xfe not json", "headers": json_header}),
        (413, {"content": b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}', "headers": json_header}),
        (422, {"json": [good]}),
        (422, {"json": {**good, "unexpected_field": 1}}),
        (422, {"json": dict.fromkeys(good, 12345)}),
    ]
    for status, kwargs in cases:
        response = _send(world, method, path, who, **kwargs)
        assert response.status_code == status, (kwargs.get("json"), response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["status"] == status and problem["title"] and problem["detail"]
        if status == 422 and isinstance(kwargs.get("json"), dict):
            assert problem["errors"], problem
    # The rejected calls left the data as it was.
    tenant = world.client.get("/api/v1/tenants/acme", headers=world.as_("platform_admin")).json()
    assert tenant["name"] == "Acme"
    extra = _send(world, "GET", "/api/v1/tenants/acme/users/{extra}", "platform_admin").json()
    assert extra["role"] == "viewer"


def test_field_problems_name_every_field(world: World) -> None:
    response = _send(
        world,
        "POST",
        "/api/v1/tenants/acme/users",
        "acme-tenant_admin",
        json={"username": "bad name!", "password": "short", "role": "king"},
    )
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["password", "role", "username"]


def test_missing_required_field_is_422(world: World) -> None:
    response = _send(world, "POST", "/api/v1/tenants", "platform_admin", json={"slug": "x1"})
    assert response.status_code == 422
    assert "name" in response.json()["detail"]


def test_create_tenant_then_duplicate_is_409(world: World) -> None:
    created = _send(
        world,
        "POST",
        "/api/v1/tenants",
        "platform_admin",
        json={"slug": "initech", "name": "Initech"},
    )
    assert created.status_code == 201
    assert created.json()["status"] == "active"
    again = _send(
        world,
        "POST",
        "/api/v1/tenants",
        "platform_admin",
        json={"slug": "initech", "name": "Other"},
    )
    assert again.status_code == 409


def test_user_lifecycle(world: World) -> None:
    created = _send(
        world,
        "POST",
        "/api/v1/tenants/acme/users",
        "acme-tenant_admin",
        json={"username": "dana", "password": PASSWORD, "role": "operator"},
    )
    assert created.status_code == 201
    uid = created.json()["id"]
    dana = {"Authorization": f"Bearer {login(world.client, 'dana')['access_token']}"}
    assert world.client.get("/api/v1/tenants/acme/users", headers=dana).status_code == 200

    promoted = _send(
        world,
        "PATCH",
        f"/api/v1/tenants/acme/users/{uid}",
        "acme-tenant_admin",
        json={"role": "tenant_admin"},
    )
    assert promoted.json()["role"] == "tenant_admin"
    new_user = {"username": "eve", "password": PASSWORD, "role": "viewer"}
    assert (
        world.client.post("/api/v1/tenants/acme/users", json=new_user, headers=dana).status_code
        == 201
    )

    duplicate = _send(
        world,
        "POST",
        "/api/v1/tenants/acme/users",
        "acme-tenant_admin",
        json={"username": "dana", "password": PASSWORD, "role": "viewer"},
    )
    assert duplicate.status_code == 409

    gone = _send(world, "DELETE", f"/api/v1/tenants/acme/users/{uid}", "acme-tenant_admin")
    assert gone.json()["status"] == "deactivated"
    assert world.client.get("/api/v1/tenants/acme/users", headers=dana).status_code == 404
    back = _send(
        world,
        "PATCH",
        f"/api/v1/tenants/acme/users/{uid}",
        "acme-tenant_admin",
        json={"status": "active"},
    )
    assert back.json()["status"] == "active"
    assert world.client.get("/api/v1/tenants/acme/users", headers=dana).status_code == 200


def test_the_last_tenant_admin_cannot_be_removed(world: World) -> None:
    me = world.user_ids["acme-tenant_admin"]
    for change in ({"role": "viewer"}, {"status": "deactivated"}):
        response = _send(
            world, "PATCH", f"/api/v1/tenants/acme/users/{me}", "acme-tenant_admin", json=change
        )
        assert response.status_code == 409, response.text
    response = _send(world, "DELETE", f"/api/v1/tenants/acme/users/{me}", "acme-tenant_admin")
    assert response.status_code == 409


def test_only_a_platform_admin_adds_an_existing_user_without_password(world: World) -> None:
    body = {"username": "globex-viewer", "role": "viewer"}
    by_tenant_admin = _send(
        world, "POST", "/api/v1/tenants/acme/users", "acme-tenant_admin", json=body
    )
    assert by_tenant_admin.status_code == 422
    by_platform = _send(world, "POST", "/api/v1/tenants/acme/users", "platform_admin", json=body)
    assert by_platform.status_code == 201
    assert by_platform.json()["id"] == world.user_ids["globex-viewer"]
    twice = _send(world, "POST", "/api/v1/tenants/acme/users", "platform_admin", json=body)
    assert twice.status_code == 409


def test_suspended_tenant_is_closed_to_its_members(world: World) -> None:
    suspended = _send(
        world, "PATCH", "/api/v1/tenants/acme", "platform_admin", json={"status": "suspended"}
    )
    assert suspended.json()["status"] == "suspended"
    assert _send(world, "GET", "/api/v1/tenants/acme", "acme-tenant_admin").status_code == 404
    assert _send(world, "GET", "/api/v1/tenants/acme", "platform_admin").status_code == 200
    bad = _send(world, "PATCH", "/api/v1/tenants/acme", "platform_admin", json={"status": "gone"})
    assert bad.status_code == 422


def test_pagination_walks_every_user_once(world: World) -> None:
    for i in range(7):
        _send(
            world,
            "POST",
            "/api/v1/tenants/acme/users",
            "acme-tenant_admin",
            json={"username": f"page{i}", "password": PASSWORD, "role": "viewer"},
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = _send(
            world, "GET", "/api/v1/tenants/acme/users", "acme-tenant_admin", params=params
        ).json()
        assert len(page["items"]) <= 4
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6 + 7


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "%%%"}, {"cursor": "!!"}]
)
def test_bad_list_parameters_are_4xx(world: World, params: dict[str, Any]) -> None:
    response = _send(world, "GET", "/api/v1/tenants/acme/users", "acme-tenant_admin", params=params)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("who", ["platform_admin", "acme-tenant_admin"])
def test_nul_and_odd_characters_never_reach_the_database_as_errors(world: World, who: str) -> None:
    client, headers = world.client, world.as_(who)
    odd = ["a%00b", "%C3%A9t%C3%A9", "x" * 300, "..%2F..%2Fetc"]
    for value in odd:
        for url in (
            f"/api/v1/tenants/{value}",
            f"/api/v1/tenants/{value}/users",
            f"/api/v1/tenants/acme/users/{value}",
        ):
            response = client.get(url, headers=headers)
            assert response.status_code in (404, 422), (url, response.status_code)
    response = client.post("/api/v1/auth/login", json={"username": "a\x00b", "password": "p"})
    assert response.status_code == 401
    renamed = client.patch(
        "/api/v1/tenants/acme", json={"name": "bad\x00name"}, headers=world.as_("platform_admin")
    )
    assert renamed.status_code == 422
