"""The RBAC matrix: every role against every route, and every route is in the matrix."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from hub.api.app import create_app
from hub.bootstrap import Hub
from tests.conftest import World, user_name
from tests.support.routes import PAST_GUARD_ONLY, PUBLIC, ROLES, ROUTES, WORKFLOW, Route

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _who(role: str) -> str:
    return "platform_admin" if role == "platform_admin" else user_name("acme", role)


def _call(client: TestClient[Any], route: Route, headers: dict[str, str], url: str) -> Any:
    body = route.body()
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return client.request(route.method, url, **kwargs)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_role_gets_exactly_its_permissions(world: World, route: Route) -> None:
    target = world.user_ids[user_name("acme", "extra")]
    url = route.url("acme", target)
    published = world.client.post(
        "/api/v1/tenants/acme/workflows",
        headers=world.as_("platform_admin"),
        json={**WORKFLOW, "version": "1.0.1"},
    )
    assert published.status_code == 201, published.text
    for role in ROLES:
        response = _call(world.client, route, world.as_(_who(role)), url)
        if role in route.allowed:
            # Past the guard: the handler answered (a made-up run or task id is its 404).
            assert response.status_code not in (401, 403), (role, response.text)
            assert "tenant 'acme' not found" not in response.text, role
            if not any(part in route.path for part in PAST_GUARD_ONLY):
                assert response.status_code < 400, (role, response.status_code, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_no_token_is_401(world: World, route: Route) -> None:
    response = _call(world.client, route, {}, route.url("acme", "anything"))
    assert response.status_code == 401


def test_matrix_covers_every_route(hub: Hub) -> None:
    app = create_app(hub)
    served = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path).replace("{user_id}", "{user}")
        path = path.rstrip("/") or "/"
        served |= {(m, path) for m in route.methods - IGNORED_METHODS}
    in_matrix = {(r.method, r.path.split("?")[0]) for r in ROUTES} | PUBLIC
    assert served - in_matrix == set(), "routes missing from the RBAC matrix"
    assert in_matrix - served == set(), "matrix names routes the app does not serve"


def test_policy_denies_anything_not_granted(hub: Hub, world: World) -> None:
    # Deny by default: an action no policy line names is refused even for the admin's roles.
    authorizer = hub.authorizer
    uid = world.user_ids[user_name("acme", "tenant_admin")]
    assert authorizer.allowed(uid, "acme", "/api/v1/tenants/acme/users", "GET")
    assert not authorizer.allowed(uid, "acme", "/api/v1/tenants/acme/users", "PUT")
    assert not authorizer.allowed(uid, "acme", "/api/v1/tenants/acme/secrets", "GET")
    assert not authorizer.allowed(uid, "globex", "/api/v1/tenants/globex/users", "GET")
