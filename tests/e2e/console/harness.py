"""The console under test: the whole hub (create_app) served by uvicorn on a thread, on a
free loopback port, with its own SQLite database and data directory; users in tenants,
signed in through the API (httpx) or through the sign-in form (a browser, or httpx).

The server runs in this process so a test can also reach the hub's services directly
(`server.call(lambda: hub.plc...)`) on the server's own event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import uvicorn

from hub.api.app import create_app
from hub.bootstrap import Hub, build, ensure_platform_admin
from hub.settings import load_settings
from tests.conftest import ADMIN, FAST_HASHER, LOOPBACK, PASSWORD
from tests.support.services import services_required
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Page

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
ROLES = ("tenant_admin", "engineer", "operator", "auditor", "viewer")
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_slugs = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ErrorLog(logging.Handler):
    """Errors the hub logs while it serves (an unhandled exception in a page is a 500 the
    browser may not show); tests/e2e/console/conftest.py fails a test that caused one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("hub"):
            self.records.append(self.format(record))


class ConsoleServer:
    """`create_app(hub)` under uvicorn on a thread of its own, with its own event loop."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        settings = load_settings(
            {
                "HUB_DATA_DIR": str(data_dir),
                "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'hub.db'}",
                "HUB_AUTHZ_REFRESH_INTERVAL": "0",
                "HUB_EGRESS_ALLOW": LOOPBACK,  # the PLC simulator listens on loopback
                **env,
            }
        )
        self.hub: Hub = build(settings, hasher=FAST_HASHER)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(self.hub), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="console-server", daemon=True)
        self.errors = ErrorLog()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve())

    def start(self) -> None:
        logging.getLogger().addHandler(self.errors)
        self._thread.start()
        eventually(lambda: self._server.started or not self._thread.is_alive(), timeout=60)
        assert self._server.started, "the console's server did not start"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        logging.getLogger().removeHandler(self.errors)

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        """Run `make()` on the server's event loop (where the hub lives); its result."""

        async def run() -> T:
            return await make()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)


def api_token(base: str, username: str, password: str = PASSWORD) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@dataclass
class ConsoleWorld:
    """The served hub and its people: a platform admin (`root`), tenant `acme` with one
    user per role (`acme-<role>`), tenant `globex` with `globex-operator`, and `multi`,
    an operator in acme and a viewer in globex."""

    server: ConsoleServer
    user_ids: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.server.base

    @property
    def hub(self) -> Hub:
        return self.server.hub

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def api(self, username: str = ADMIN) -> httpx.Client:
        """An API client signed in as `username` (bearer token)."""
        token = api_token(self.base, username)
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"})

    def add_tenant(self, slug: str, name: str) -> None:
        with self.api() as admin:
            response = admin.post("/api/v1/tenants", json={"slug": slug, "name": name})
            assert response.status_code == 201, response.text

    def add_user(self, tenant: str, username: str, role: str, *, new: bool = True) -> None:
        body: dict[str, Any] = {"username": username, "role": role}
        if new:
            body["password"] = PASSWORD
        with self.api() as admin:
            response = admin.post(f"/api/v1/tenants/{tenant}/users", json=body)
            assert response.status_code == 201, response.text
            self.user_ids.setdefault(username, response.json()["id"])

    def retire_devices(self, slug: str) -> None:
        """Disable every device of the tenant: this hub lives as long as the test process,
        and a device whose simulator has stopped would go on reconnecting (and logging)
        under the other tests this process runs."""
        with self.api() as admin:
            devices = admin.get(f"/api/v1/tenants/{slug}/devices", params={"limit": 500})
            for device in devices.json().get("items", []):
                if device.get("enabled"):
                    path = f"/api/v1/tenants/{slug}/devices/{device['id']}"
                    admin.patch(path, json={"enabled": False})

    def fresh_tenant(self, name: str | None = None) -> str:
        """A new tenant of its own for a test that changes things, with one user per role
        (`<slug>-<role>`); its slug."""
        slug = f"t{next(_slugs)}"
        self.add_tenant(slug, name or f"Tenant {slug}")
        for role in ROLES:
            self.add_user(slug, f"{slug}-{role}", role)
        return slug


def populate(server: ConsoleServer) -> ConsoleWorld:
    server.call(lambda: ensure_platform_admin(server.hub, ADMIN, PASSWORD))
    world = ConsoleWorld(server)
    world.add_tenant("acme", "Acme Works")
    world.add_tenant("globex", "Globex Plant")
    for role in ROLES:
        world.add_user("acme", f"acme-{role}", role)
    world.add_user("globex", "globex-operator", "operator")
    world.add_user("acme", "multi", "operator")
    world.add_user("globex", "multi", "viewer", new=False)
    return world


# --- without a browser: the sign-in form through httpx ---


def form_token(html: str) -> str:
    found = FORM_TOKEN.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def page_csrf(html: str) -> str:
    """The session's CSRF token, from a page's <meta name="csrf-token">."""
    found = CSRF_META.search(html)
    assert found and found.group(1), "no CSRF token in the page"
    return found.group(1)


@contextmanager
def http_session(
    world: ConsoleWorld, username: str, password: str = PASSWORD
) -> Iterator[httpx.Client]:
    """An httpx client signed in to the console through its sign-in form (cookie jar)."""
    with httpx.Client(base_url=world.base) as client:
        form = client.get("/ui/login")
        response = client.post(
            "/ui/login",
            data={"username": username, "password": password, "csrf_token": form_token(form.text)},
        )
        assert response.status_code == 303, response.text
        yield client


# --- with a browser ---


def _missing(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason}, and HUB_REQUIRE_SERVICES is set")
    pytest.skip(reason)


def need_browser() -> None:
    """Skip (or, under HUB_REQUIRE_SERVICES, fail) without Playwright or Debian's chromium.
    No browser is ever downloaded: Playwright drives /usr/bin/chromium."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's), as a Playwright Browser."""
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False
        )
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, world: ConsoleWorld, username: str, password: str = PASSWORD) -> None:
    """Sign `page` in through the form, as a person would; waits until it has left it."""
    from playwright.sync_api import expect

    page.goto(world.url("/ui/login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/ui/login"))
