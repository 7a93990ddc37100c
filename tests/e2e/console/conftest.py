"""Console fixtures (tests/e2e/console/harness.py has the pieces):

- `console`: the served hub and its users (session-wide; a test that changes things makes
  its own tenant with `console.fresh_tenant()`);
- `browser`: Debian's chromium through Playwright (per module), skipped with the reason
  when Playwright or /usr/bin/chromium is missing (failed under HUB_REQUIRE_SERVICES);
- `page`: a fresh browser context at 1366x768 (per test);
- `signed_in`: `signed_in("acme-operator")` is a page signed in as that user;
- every test that uses `console` fails if the hub logged an error while it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.console.harness import (
    DESKTOP,
    ConsoleServer,
    ConsoleWorld,
    chromium,
    populate,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = ConsoleServer(tmp_path_factory.mktemp("console"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def console(console_server: ConsoleServer) -> ConsoleWorld:
    return populate(console_server)


@pytest.fixture(autouse=True)
def _no_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """A console test fails when the hub logged an error while it ran (a 500 in a
    fragment can go unseen in the page)."""
    if "console" not in request.fixturenames:
        yield
        return
    server: ConsoleServer = request.getfixturevalue("console_server")
    server.errors.records.clear()
    yield
    assert server.errors.records == [], "the hub logged errors:\n" + "\n".join(
        server.errors.records
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        from playwright.sync_api import expect

        expect.set_options(timeout=10_000)  # a loaded 2-core CI machine, a 2 s poll
        yield found


@pytest.fixture
def page(browser: Any, console: ConsoleWorld) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, base_url=console.base)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def signed_in(page: Page, console: ConsoleWorld) -> Callable[[str], Page]:
    def sign(username: str) -> Page:
        sign_in(page, console, username)
        return page

    return sign
