"""The Admin page: a tenant's users and roles. A tenant admin adds a user with a role,
changes the role, deactivates and reactivates; 422s beside the field with the input kept
(never the password), a 409 (the last tenant admin) beside the row; markup typed as a
username shown as text; who may only read sees no controls, a viewer not even the page,
and a forged POST is 403 with nothing changed; an axe pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conftest import PASSWORD
from tests.e2e.console.harness import TABLET, ConsoleWorld, http_session, page_csrf, sign_in
from tests.e2e.console.test_accessibility import _violations

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

XSS = "<img src=x onerror=alert(1)>"


def _members(console: ConsoleWorld, slug: str) -> dict[str, dict[str, Any]]:
    with console.api(f"{slug}-tenant_admin") as admin:
        response = admin.get(f"/api/v1/tenants/{slug}/users", params={"limit": 100})
        assert response.status_code == 200, response.text
        return {m["username"]: m for m in response.json()["items"]}


def _dialogs(page: Page) -> list[str]:
    seen: list[str] = []

    def handle(dialog: Dialog) -> None:
        seen.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    page.on("dialog", handle)
    return seen


def test_a_tenant_admin_adds_changes_and_deactivates_a_user(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    dialogs = _dialogs(page)
    sign_in(page, console, f"{slug}-tenant_admin")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Users and roles")).to_be_visible()
    expect(page.locator(f'tr[data-user="{slug}-viewer"] td[data-role]')).to_have_text("viewer")

    # 422: markup as a username and a short password; kept (but the password), as text
    page.get_by_label("Username").fill(XSS)
    page.locator("#add-role").select_option("engineer")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#add-username-error")).to_contain_text("letters, digits")
    expect(page.locator("#add-password-error")).to_contain_text("at least")
    expect(page.get_by_label("Username")).to_have_value(XSS)
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#add-role")).to_have_value("engineer")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.locator("main img")).to_have_count(0)

    # added with a role
    newbie = f"{slug}-newbie"
    page.get_by_label("Username").fill(newbie)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#admin-done")).to_contain_text(f"Added: {newbie} (engineer, active)")
    row = page.locator(f'tr[data-user="{newbie}"]')
    expect(row.locator("td[data-role]")).to_have_text("engineer")

    # a taken username: 409 shown on the form
    page.get_by_label("Username").fill(newbie)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#add-errors")).to_contain_text("is taken")

    # the role changed
    row.get_by_label(f"Role of {newbie}", exact=True).select_option("operator")
    row.get_by_role("button", name=f"Change the role of {newbie}").click()
    expect(page.locator("#admin-done")).to_contain_text(f"Role changed: {newbie} (operator")
    expect(row.locator("td[data-role]")).to_have_text("operator")

    # deactivated (a confirm, accepted), then reactivated
    row.get_by_role("button", name=f"Deactivate {newbie}").click()
    expect(page.locator("#admin-done")).to_contain_text(f"Deactivated: {newbie}")
    expect(row.locator("td[data-status]")).to_have_text("Deactivated")
    assert _members(console, slug)[newbie]["status"] == "deactivated"
    row.get_by_role("button", name=f"Reactivate {newbie}").click()
    expect(row.locator("td[data-status]")).to_have_text("Active")

    # the last tenant admin cannot step down: a 409 beside the row, nothing changed
    me = page.locator(f'tr[data-user="{slug}-tenant_admin"]')
    me.get_by_label(f"Role of {slug}-tenant_admin", exact=True).select_option("viewer")
    me.get_by_role("button", name=f"Change the role of {slug}-tenant_admin").click()
    expect(me.get_by_role("alert")).to_contain_text("last active tenant admin")
    expect(me.locator("td[data-role]")).to_have_text("tenant_admin")
    assert _members(console, slug)[f"{slug}-tenant_admin"]["role"] == "tenant_admin"
    assert _members(console, slug)[newbie]["role"] == "operator"
    assert [d for d in dialogs if not d.startswith("confirm")] == []


def test_readers_see_no_controls_and_forged_posts_are_403(console: ConsoleWorld) -> None:
    slug = console.fresh_tenant()
    members = _members(console, slug)
    target = members[f"{slug}-operator"]["id"]
    for role in ("engineer", "operator", "auditor"):
        with http_session(console, f"{slug}-{role}") as client:
            page = client.get(f"/ui/t/{slug}/admin")
            assert page.status_code == 200, page.text
            assert f'data-user="{slug}-viewer"' in page.text
            assert 'id="add-user"' not in page.text and "Change role" not in page.text
            token = page_csrf(page.text)
            forged = [
                client.post(
                    f"/ui/t/{slug}/admin/users",
                    data={"csrf_token": token, "username": f"{slug}-x", "role": "tenant_admin"},
                ),
                client.post(
                    f"/ui/t/{slug}/admin/users/{target}/role",
                    data={"csrf_token": token, "role": "tenant_admin"},
                ),
                client.post(
                    f"/ui/t/{slug}/admin/users/{target}/deactivate", data={"csrf_token": token}
                ),
            ]
            assert [r.status_code for r in forged] == [403, 403, 403], role
    with http_session(console, f"{slug}-viewer") as client:
        assert client.get(f"/ui/t/{slug}/admin").status_code == 403
        assert 'href="/ui/t/' + slug + '/admin"' not in client.get(f"/ui/t/{slug}/").text
    after = _members(console, slug)
    assert f"{slug}-x" not in after
    assert after[f"{slug}-operator"]["role"] == "operator"
    assert after[f"{slug}-operator"]["status"] == "active"


def test_hostile_admin_posts_are_4xx_never_500(console: ConsoleWorld) -> None:
    slug = console.fresh_tenant()
    target = _members(console, slug)[f"{slug}-operator"]["id"]
    with http_session(console, f"{slug}-tenant_admin") as client:
        token = page_csrf(client.get(f"/ui/t/{slug}/admin").text)
        cases = [
            (f"/ui/t/{slug}/admin/users", {"username": "x" * 5000, "role": "operator"}, 422),
            (f"/ui/t/{slug}/admin/users", {"username": "ok-name", "role": "overlord"}, 422),
            (f"/ui/t/{slug}/admin/users", {}, 422),
            (f"/ui/t/{slug}/admin/users/{target}/role", {"role": "root"}, 422),
            (f"/ui/t/{slug}/admin/users/{target}/role", {}, 422),
            (f"/ui/t/{slug}/admin/users/nobody/role", {"role": "viewer"}, 404),
            (f"/ui/t/{slug}/admin/users/{'9' * 26}/deactivate", {}, 404),
        ]
        for url, data, status in cases:
            response = client.post(url, data={"csrf_token": token, **data})
            assert response.status_code == status, (url, data, response.text)
            assert "Traceback" not in response.text
        no_token = client.post(
            f"/ui/t/{slug}/admin/users/{target}/deactivate", data={"role": "viewer"}
        )
        assert no_token.status_code == 403
        bad_cursor = client.get(f"/ui/t/{slug}/admin", params={"cursor": "%%%"})
        assert bad_cursor.status_code in {400, 422}
    assert _members(console, slug)[f"{slug}-operator"]["status"] == "active"


def test_axe_finds_no_serious_violation_on_the_admin_page(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "acme-tenant_admin")
    page.goto(console.url("/ui/t/acme/admin"))
    expect(page.locator("#members")).to_be_visible()
    assert _violations(page) == []
    page.get_by_label("Username").fill("!")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#add-errors")).to_be_visible()
    assert _violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.set_viewport_size(TABLET)
    page.goto(console.url("/ui/t/acme/admin"))
    expect(page.locator("#members")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    assert _violations(page) == []
