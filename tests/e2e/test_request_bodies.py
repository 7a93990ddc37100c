"""Bodies (issue 12, item 13e): on every route, a body that is not JSON (or YAML, for a
definition) is 400 and well-formed input of the wrong shape is 422, as docs/API.md says,
whether Litestar reads the body or the handler does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World

T = "/api/v1/tenants/acme"
ID = "0" * 32
# Routes whose handler reads the body itself, then two Litestar reads for comparison.
ROUTES = [
    ("POST", f"{T}/runs/{ID}/signals/go"),
    ("POST", f"{T}/devices"),
    ("PATCH", f"{T}/devices/{ID}"),
    ("POST", f"{T}/alarm-rules"),
    ("PATCH", f"{T}/alarm-rules/{ID}"),
    ("POST", f"{T}/packs/safety-monitoring/install"),
    ("POST", f"{T}/packs/safety-monitoring/upgrade"),
    ("POST", f"{T}/incidents/{ID}/review"),
    ("POST", f"{T}/workflows"),
    ("POST", f"{T}/tasks/{ID}/complete"),
    ("POST", "/api/v1/auth/login"),
]
OBJECT_ONLY = [r for r in ROUTES if "/signals/" not in r[1]]  # a signal takes any JSON


def _send(world: World, method: str, url: str, body: bytes, media: str = "application/json") -> Any:
    headers = {**world.as_("acme-tenant_admin"), "content-type": media}
    return world.client.request(method, url, content=body, headers=headers)


@pytest.mark.parametrize(("method", "url"), ROUTES, ids=[f"{m} {u}" for m, u in ROUTES])
@pytest.mark.parametrize("body", [b"{", b"not json", b'{"a": 1,}', b"\xff\xfe"])
def test_a_body_that_is_not_json_is_400(world: World, method: str, url: str, body: bytes) -> None:
    response = _send(world, method, url, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "url"), OBJECT_ONLY, ids=[f"{m} {u}" for m, u in OBJECT_ONLY])
def test_json_that_is_not_an_object_is_422(world: World, method: str, url: str) -> None:
    response = _send(world, method, url, b"[1]")
    assert response.status_code == 422, response.text
    assert response.json()["errors"], response.text


def test_a_signal_with_a_non_json_body_is_400_not_422(world: World) -> None:
    response = _send(world, "POST", f"{T}/runs/{ID}/signals/go", b"hello", "text/plain")
    assert response.status_code == 400, response.text
    well_formed = _send(world, "POST", f"{T}/runs/{ID}/signals/go", b'"hello"')
    assert well_formed.status_code == 404, well_formed.text  # past parsing: no such run


def test_a_definition_that_is_not_yaml_is_400_and_an_unknown_media_type_415(
    world: World,
) -> None:
    broken = _send(world, "POST", f"{T}/workflows", b"name: [unclosed", "application/yaml")
    assert broken.status_code == 400, broken.text
    assert "invalid YAML at line 1" in broken.json()["detail"]
    listed = _send(world, "POST", f"{T}/workflows", b"- a\n- b\n", "application/yaml")
    assert listed.status_code == 422, listed.text
    unknown = _send(world, "POST", f"{T}/workflows", b"name: x", "text/plain")
    assert unknown.status_code == 415, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")
