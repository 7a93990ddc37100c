"""The tenant switcher, the tenant picker, and what each role sees (the API's policy)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.e2e.console.harness import ConsoleWorld, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_user_in_two_tenants_switches_between_them(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "multi")  # operator in acme, viewer in globex
    expect(page).to_have_url(re.compile(r"/ui/t/acme/?$"))
    switcher = page.get_by_role("navigation", name="Tenants")
    expect(switcher).to_contain_text("Acme Works")
    expect(page.get_by_role("heading", name=re.compile("Open tasks"))).to_be_visible()

    switcher.get_by_text("Tenant:").click()
    switcher.get_by_role("link", name=re.compile("Globex Plant")).click()
    expect(page).to_have_url(re.compile(r"/ui/t/globex/?$"))
    expect(page.get_by_role("navigation", name="Tenants")).to_contain_text("Globex Plant")
    expect(page).to_have_title(re.compile("Globex Plant"))
    # A viewer in globex: the API lets viewers read runs and devices, not tasks.
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Open tasks"))).to_have_count(0)


def test_a_user_in_one_tenant_gets_no_switcher(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "acme-viewer")
    expect(page.get_by_text("Tenant: Acme Works")).to_be_visible()
    expect(page.get_by_role("navigation", name="Tenants")).to_have_count(0)


def test_a_tenant_without_a_role_is_not_found(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "acme-operator")
    response = page.goto(console.url("/ui/t/globex/"))
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Globex" not in page.content()


def test_the_platform_admin_picks_a_tenant(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "root")  # no tenant role of its own
    expect(page).to_have_url(re.compile(r"/ui/tenants$"))
    page.get_by_role("link", name="Acme Works").click()
    expect(page).to_have_url(re.compile(r"/ui/t/acme/?$"))
    expect(page.get_by_role("heading", name="Active alarms")).to_be_visible()


def test_the_nav_shows_pages_the_role_may_open(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "acme-auditor")
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    # auditors read alarms, runs and devices but not tasks (base_policy.csv)
    expect(page.get_by_role("heading", name="Active alarms")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Open tasks"))).to_have_count(0)
