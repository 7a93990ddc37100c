"""Health and the OpenAPI document are public; metrics need a token (see
test_metrics_auth.py); everything else needs a user."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.conftest import World


def test_live_and_ready(client: TestClient[Any]) -> None:
    assert client.get("/health/live").json() == {"status": "ok", "checks": {}}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_metrics_count_requests_under_their_route_and_status(world: World) -> None:
    client = world.client
    client.get("/api/v1/me")  # a 401, still counted
    client.get("/api/v1/tenants/acme/users")  # counted under its template, not its path
    body = client.get("/metrics", headers=world.as_("platform_admin")).text
    assert "# TYPE hub_requests_total counter" in body
    assert (
        'hub_requests_total{app_name="hub",method="GET",path="/api/v1/me",status_code="401"}'
        in body
    )
    assert 'path="/api/v1/tenants/{tenant}/users",status_code="401"' in body
    assert "/api/v1/tenants/acme/users" not in body
    assert 'path="/health' not in body


def test_every_answer_carries_a_request_id(client: TestClient[Any]) -> None:
    refused = client.get("/api/v1/me")
    assert refused.status_code == 401
    assert len(refused.headers["x-request-id"]) == 32
    given = client.get("/health/live", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    odd = client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert odd.headers["x-request-id"] != "bad id\twith spaces"


def test_openapi_lists_the_routes(client: TestClient[Any]) -> None:
    spec = client.get("/schema/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/tenants/{tenant}/users" in spec["paths"]
    assert "/api/v1/auth/login" in spec["paths"]


def test_cors_is_off_unless_configured(client: TestClient[Any]) -> None:
    response = client.options(
        "/api/v1/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins(settings: Any) -> None:
    from dataclasses import replace

    from hub.api.app import create_app
    from hub.bootstrap import build
    from tests.conftest import FAST_HASHER

    allowed = replace(settings, cors_origins=("https://console.example",))
    with TestClient(create_app(build(allowed, hasher=FAST_HASHER))) as cors_client:
        response = cors_client.options(
            "/api/v1/me",
            headers={"Origin": "https://console.example", "Access-Control-Request-Method": "GET"},
        )
        assert response.headers["access-control-allow-origin"] == "https://console.example"
