"""A tenant's egress rules through the API (issue 12, item 3): tenant admins narrow or
extend the platform's list within it, audited; the rules bind that tenant's calls only."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hub.settings import Settings
from tests.conftest import LOOPBACK, World
from tests.support.workflow_helpers import history, publish, start, wait_for

URL = "/api/v1/tenants/acme/egress"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The platform opens one private range (and loopback, where the test servers are)."""
    return dataclasses.replace(settings, egress_allow=(*LOOPBACK.split(","), "10.0.0.0/8"))


def _put(world: World, who: str, body: dict[str, Any], url: str = URL) -> Any:
    return world.client.put(url, json=body, headers=world.as_(who))


def test_tenant_admin_extends_within_the_platform_list(world: World) -> None:
    rules = {"mode": "only_listed", "allow": ["10.1.2.3:502", "erp.acme.test:443"],
             "deny": ["10.1.9.0/24"]}  # fmt: skip
    response = _put(world, "acme-tenant_admin", rules)
    assert response.status_code == 200, response.text
    got = world.client.get(URL, headers=world.as_("acme-tenant_admin")).json()
    assert {k: got[k] for k in rules} == rules
    assert got["platform_allow"] == ["127.0.0.0/8", "::1", "localhost", "10.0.0.0/8"]
    assert got["updated_by"] == "acme-tenant_admin"
    # audited in the tenant's log, with what was there before
    entries = world.client.get(
        "/api/v1/tenants/acme/audit?action=egress.update", headers=world.as_("acme-auditor")
    ).json()["items"]
    [entry] = entries
    assert entry["outcome"] == "success" and entry["details"]["allow"] == rules["allow"]
    assert entry["details"]["before"] is None
    assert _put(world, "platform_admin", {"deny": ["10.2.0.0/16"]}).status_code == 200
    again = world.client.get(URL, headers=world.as_("platform_admin")).json()
    assert (again["mode"], again["allow"], again["deny"]) == ("inherit", [], ["10.2.0.0/16"])


def test_tenant_admin_cannot_extend_beyond_the_platform_list(world: World) -> None:
    assert _put(world, "acme-tenant_admin", {"deny": ["10.5.0.0/16"]}).status_code == 200
    beyond = {"allow": ["10.1.2.3:502", "192.168.1.10:502", "169.254.169.254"]}
    response = _put(world, "acme-tenant_admin", beyond)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["allow[1]", "allow[2]"]
    assert "HUB_EGRESS_ALLOW" in response.json()["errors"][0]["message"]
    kept = world.client.get(URL, headers=world.as_("acme-tenant_admin")).json()
    assert (kept["allow"], kept["deny"]) == ([], ["10.5.0.0/16"])  # nothing changed


@pytest.mark.parametrize(
    "body",
    [{"mode": "everything"}, {"allow": "10.0.0.0/8"}, {"other": 1}, {"deny": ["2130706433"]},
     {"allow": ["x"] * 101}],
)  # fmt: skip
def test_bad_rules_are_4xx_and_change_nothing(world: World, body: dict[str, Any]) -> None:
    response = _put(world, "acme-tenant_admin", body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert world.client.get(URL, headers=world.as_("acme-tenant_admin")).json()["deny"] == []


def test_another_tenants_admin_gets_404(world: World) -> None:
    assert world.client.get(URL, headers=world.as_("globex-tenant_admin")).status_code == 404
    response = _put(world, "globex-tenant_admin", {"mode": "only_listed"})
    assert response.status_code == 404
    assert world.client.get(URL, headers=world.as_("acme-tenant_admin")).json()["mode"] == "inherit"


def test_engineers_cannot_change_egress_rules(world: World) -> None:
    assert _put(world, "acme-engineer", {"mode": "only_listed"}).status_code == 403


@pytest.fixture
def server() -> Iterator[list[str]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    hits.append(str(httpd.server_address[1]))
    try:
        yield hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def _fetch(world: World, tenant: str, url: str) -> tuple[dict[str, Any], list[Any]]:
    eng = world.as_(f"{tenant}-engineer")
    text = """
name: fetch
version: 1.0.0
start: get
steps:
  get: {type: activity, activity: http_request, input: {url: "${input.url}"}, next: done}
  done: {type: end, output: "${steps.get.output}"}
"""
    assert publish(world.client, eng, text, tenant=tenant).status_code == 201
    run = start(world.client, eng, "fetch", {"url": url}, tenant=tenant)
    done = wait_for(world.client, eng, run["id"], tenant=tenant)
    return done, history(world.client, eng, run["id"], tenant=tenant)


def test_a_tenant_deny_binds_that_tenants_calls_only(world: World, server: list[str]) -> None:
    port = server.pop(0)
    assert _put(world, "acme-tenant_admin", {"deny": [f"127.0.0.1:{port}"]}).status_code == 200
    done, events = _fetch(world, "acme", f"http://localhost:{port}/acme")
    assert done["status"] == "failed"
    failure = next(e["data"] for e in events if e["type"] == "ActivityFailed")
    assert failure["error_type"] == "EgressRefused"
    assert "denied by the tenant's egress rules" in failure["message"]
    assert server == []
    done, _ = _fetch(world, "globex", f"http://localhost:{port}/globex")
    assert done["status"] == "completed" and server == ["/globex"]
