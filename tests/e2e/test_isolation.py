"""Another tenant's resources are 404 through every route, whoever asks."""

from __future__ import annotations

import pytest

from tests.conftest import World, user_name
from tests.support.routes import ROUTES, TENANT_ROLES, Route

TENANT_ROUTES = [r for r in ROUTES if "{tenant}" in r.path]


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_other_tenant_is_404_for_every_role(world: World, route: Route) -> None:
    target = world.user_ids[user_name("globex", "extra")]
    for role in TENANT_ROLES:
        body = route.body()
        response = world.client.request(
            route.method,
            route.url("globex", target),
            headers=world.as_(user_name("acme", role)),
            **({"json": body} if body is not None else {}),
        )
        assert response.status_code == 404, (role, response.status_code, response.text)
        assert "globex" in response.json()["detail"]


@pytest.mark.parametrize(
    "route", [r for r in TENANT_ROUTES if "{user}" in r.path], ids=lambda r: f"{r.method} {r.path}"
)
def test_other_tenants_user_id_under_own_tenant_is_404(world: World, route: Route) -> None:
    foreign = world.user_ids[user_name("globex", "extra")]
    body = route.body()
    response = world.client.request(
        route.method,
        route.url("acme", foreign),
        headers=world.as_("acme-tenant_admin"),
        **({"json": body} if body is not None else {}),
    )
    assert response.status_code == 404, response.text
    # And nothing changed on the other side.
    check = world.client.get(
        f"/api/v1/tenants/globex/users/{foreign}", headers=world.as_("globex-tenant_admin")
    )
    assert check.json()["status"] == "active" and check.json()["role"] == "viewer"


def test_unknown_tenant_looks_like_a_foreign_one(world: World) -> None:
    headers = world.as_("acme-tenant_admin")
    unknown = world.client.get("/api/v1/tenants/no-such/users", headers=headers)
    foreign = world.client.get("/api/v1/tenants/globex/users", headers=headers)
    assert unknown.status_code == foreign.status_code == 404


def test_tenant_list_shows_only_own_tenants(world: World) -> None:
    mine = world.client.get("/api/v1/tenants", headers=world.as_("acme-viewer")).json()
    assert [t["slug"] for t in mine["items"]] == ["acme"]
    everything = world.client.get("/api/v1/tenants", headers=world.as_("platform_admin")).json()
    assert [t["slug"] for t in everything["items"]] == ["acme", "globex"]
