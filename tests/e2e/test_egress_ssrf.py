"""SSRF through the `http_request` activity (issue 12, item 3), against real listeners.

A "forbidden" HTTP listener on 127.0.0.1 plays the internal service an attacker aims at;
it must never see a request. An "allowed" server on 127.0.0.1, on the one port that
HUB_EGRESS_ALLOW names here, answers, redirects to the forbidden one, or fails with a
body that must not reach the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.outbound.http_activity import HttpRequest
from hub.domain.egress import EgressPolicy, parse_allow_list
from hub.engine.activities import ActivityContext
from hub.services.egress.rules import StaticEgress
from hub.settings import Settings
from tests.conftest import World
from tests.support.workflow_helpers import history, publish, start, wait_for

SECRET_BODY = "internal-secret-token-0123456789"
WORKFLOW = """
name: fetch
version: 1.0.0
start: get
steps:
  get:
    type: activity
    activity: http_request
    input: {method: GET, url: "${input.url}", follow_redirects: "${input.follow}"}
    retry: {max_attempts: 3, initial_interval: 10ms}
    next: done
  done: {type: end, output: "${steps.get.output}"}
"""


@dataclass
class Listener:
    port: int = 0
    hits: list[tuple[str, str]] = field(default_factory=list)  # path, Host header
    redirect_to: str = ""
    status: int = 200


def _serve(listener: Listener) -> Iterator[Listener]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            listener.hits.append((self.path, self.headers.get("Host", "")))
            if listener.redirect_to:
                self.send_response(302)
                self.send_header("Location", listener.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = (SECRET_BODY if listener.status >= 400 else json.dumps({"ok": True})).encode()
            self.send_response(listener.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    listener.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def forbidden() -> Iterator[Listener]:
    yield from _serve(Listener())


@pytest.fixture
def allowed() -> Iterator[Listener]:
    yield from _serve(Listener())


@pytest.fixture
def settings(settings: Settings, allowed: Listener) -> Settings:
    """Only the allowed server's port: loopback as such is refused, as by default."""
    return dataclasses.replace(settings, egress_allow=(f"127.0.0.1:{allowed.port}",))


def _fetch(world: World, url: str, follow: bool = False) -> tuple[dict[str, Any], list[Any]]:
    eng = world.as_("acme-engineer")
    if world.client.get("/api/v1/tenants/acme/workflows/fetch", headers=eng).status_code == 404:
        assert publish(world.client, eng, WORKFLOW).status_code == 201
    run = start(world.client, eng, "fetch", {"url": url, "follow": follow})
    done = wait_for(world.client, eng, run["id"])
    return done, history(world.client, eng, run["id"])


def _failures(events: list[Any]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == "ActivityFailed"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]", "0x7f.1", "127.1"],
)
def test_http_request_never_reaches_loopback(world: World, forbidden: Listener, host: str) -> None:
    done, events = _fetch(world, f"http://{host}:{forbidden.port}/admin?token=abc")
    assert done["status"] == "failed", done
    [failure] = _failures(events)  # refused once, not retried
    assert failure["error_type"] == "EgressRefused", failure
    assert "is loopback" in failure["message"] and "HUB_EGRESS_ALLOW" in failure["message"]
    assert "token=abc" not in failure["message"]  # no query (it may hold secrets)
    assert forbidden.hits == []


def test_http_request_reaches_the_allowed_port(world: World, allowed: Listener) -> None:
    done, _ = _fetch(world, f"http://localhost:{allowed.port}/status")
    assert done["status"] == "completed", done
    assert done["output"] == {"status": 200, "body": {"ok": True}}
    assert allowed.hits == [("/status", f"localhost:{allowed.port}")]


@pytest.mark.parametrize("target", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_redirect_from_an_allowed_server_to_loopback_is_refused(
    world: World, allowed: Listener, forbidden: Listener, target: str
) -> None:
    allowed.redirect_to = f"http://{target}:{forbidden.port}/internal"
    done, events = _fetch(world, f"http://127.0.0.1:{allowed.port}/start", follow=True)
    assert done["status"] == "failed", done
    [failure] = _failures(events)
    assert failure["error_type"] == "EgressRefused" and "is loopback" in failure["message"]
    assert [path for path, _ in allowed.hits] == ["/start"]  # the first hop went out
    assert forbidden.hits == []


def test_redirects_are_not_followed_unless_asked(
    world: World, allowed: Listener, forbidden: Listener
) -> None:
    allowed.redirect_to = f"http://127.0.0.1:{forbidden.port}/internal"
    done, _ = _fetch(world, f"http://127.0.0.1:{allowed.port}/start")
    assert done["status"] == "completed" and done["output"]["status"] == 302, done
    assert forbidden.hits == []


def test_redirect_loops_stop_after_a_few_hops(world: World, allowed: Listener) -> None:
    allowed.redirect_to = f"http://127.0.0.1:{allowed.port}/again"
    done, events = _fetch(world, f"http://127.0.0.1:{allowed.port}/start", follow=True)
    assert done["status"] == "failed"
    assert "redirects" in _failures(events)[0]["message"]
    assert len(allowed.hits) == 4  # the request and three redirects


def test_error_bodies_of_a_server_are_not_echoed(world: World, allowed: Listener) -> None:
    allowed.status = 404
    done, events = _fetch(world, f"http://127.0.0.1:{allowed.port}/secret")
    assert done["status"] == "failed"
    assert "answered 404" in _failures(events)[0]["message"]
    assert SECRET_BODY not in json.dumps(events) and SECRET_BODY not in json.dumps(done)


class OnceResolver:
    """Answers the first lookup of a name that no DNS knows, then a different address,
    as a rebinding DNS server would."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return ["127.0.0.1"] if self.calls == 1 else ["127.0.0.2"]


def test_connection_goes_to_the_address_checked_not_a_second_lookup(allowed: Listener) -> None:
    resolver = OnceResolver()
    policy = EgressPolicy(parse_allow_list(f"127.0.0.1:{allowed.port}"))
    activity = HttpRequest(StaticEgress(policy, resolver).destination)
    ctx = ActivityContext("tenant", "wf", "run", "step", 1)
    url = f"http://rebind.invalid:{allowed.port}/pinned"
    result = asyncio.run(activity(ctx, {"url": url}))
    assert result["status"] == 200
    assert resolver.calls == 1  # checked once; the connection did not look the name up
    assert allowed.hits == [("/pinned", f"rebind.invalid:{allowed.port}")]  # the name kept
