"""Accessibility: an axe-core pass (the axe-playwright-python package ships axe-core) with no
serious or critical violation; keyboard reach; usable at 1366x768 and on a tablet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.console.harness import DESKTOP, TABLET, ConsoleWorld, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

SERIOUS = {"serious", "critical"}


def _violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in found
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET], ids=["1366x768", "tablet"])
def test_axe_finds_no_serious_violation(
    page: Page, console: ConsoleWorld, viewport: dict[str, int]
) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size(viewport)
    page.goto(console.url("/ui/login"))
    assert _violations(page) == []
    page.get_by_label("Username").fill("acme-viewer")
    page.get_by_label("Password").fill("wrong-password-for-the-error")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert _violations(page) == []  # the sign-in error
    sign_in(page, console, "multi")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert _violations(page) == []
    page.goto(console.url("/ui/t/no-such-tenant/"))
    assert _violations(page) == []  # an error page


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET], ids=["1366x768", "tablet"])
def test_pages_fit_the_screen(page: Page, console: ConsoleWorld, viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size(viewport)
    sign_in(page, console, "multi")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    expect(page.get_by_role("navigation", name="Sections")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()


def test_the_keyboard_reaches_everything(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "multi")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # The tenant switcher opens from the keyboard and its links can be followed.
    page.get_by_role("navigation", name="Tenants").locator("summary").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Acme Works (acme)")).to_be_focused()
