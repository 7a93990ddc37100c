"""The Packs page: the catalog for every role that may read it; the install form generated
from a pack's JSON Schema (production-control's line_id, erp.connection, ...); 422s shown
beside the inputs they name with what was typed kept (never a secret); an install that
shows what it created, and an uninstall; no install form for those who may not install,
and a forged install POST answered 403 with nothing installed; markup typed into a
parameter shown as text; an axe pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.e2e.console.harness import TABLET, ConsoleWorld, http_session, page_csrf, sign_in
from tests.e2e.console.test_accessibility import _violations
from tests.e2e.console.test_security import _inline_code
from tests.support.plc_sim import running_plant

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

XSS = "<img src=x onerror=alert(1)>"
CATALOG = {
    "manufacturing": "1.0.0",
    "production-control": "1.1.0",
    "safety-monitoring": "1.0.0",
}


def _no_alerts(page: Page) -> list[str]:
    """Dialogs the page opened: an alert is a script that ran; a confirm is accepted."""
    seen: list[str] = []

    def handle(dialog: Dialog) -> None:
        seen.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    page.on("dialog", handle)
    return seen


def _field(page: Page, name: str) -> Any:
    """The block of one input: its label, the input, its help and its errors."""
    return page.locator(f'[data-field="{name}"]')


def _pack(console: ConsoleWorld, slug: str, name: str) -> dict[str, Any]:
    with console.api(f"{slug}-viewer") as viewer:
        response = viewer.get(f"/api/v1/tenants/{slug}/packs/{name}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def test_every_role_that_may_read_sees_the_catalog(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "acme-viewer")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Packs").click()
    expect(page.get_by_role("heading", name="Packs", exact=True)).to_be_visible()
    for name, version in CATALOG.items():
        row = page.locator(f'tr[data-pack="{name}"]')
        expect(row.locator("td[data-available]")).to_have_text(version)
    # a viewer sees a pack and its schema, but no install form
    page.locator('tr[data-pack="production-control"]').get_by_role("link").click()
    expect(page.get_by_role("heading", name="Pack production-control")).to_be_visible()
    expect(page.locator("#no-install")).to_be_visible()
    expect(page.locator("#pack-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Install production-control")).to_have_count(0)


def test_the_form_is_generated_and_422s_are_shown_by_their_fields(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    dialogs = _no_alerts(page)
    sign_in(page, console, f"{slug}-tenant_admin")
    page.goto(console.url(f"/ui/t/{slug}/packs/production-control"))
    form = page.locator("#pack-form")
    # the schema's fields: strings, an object as a fieldset, enums, numbers, tables, JSON
    expect(form.get_by_label("line_id")).to_be_visible()
    erp = page.locator('fieldset[data-field="p/erp"]')
    expect(erp.get_by_label("connection")).to_be_visible()
    expect(erp.get_by_label("work_center")).to_be_visible()
    expect(_field(page, "p/erp/connection")).to_contain_text("(required)")
    expect(_field(page, "p/rate_tolerance").locator("input")).to_have_value("0.2")
    expect(_field(page, "p/rate_tolerance")).to_contain_text("more than 0")
    expect(page.locator('[name="p/recipe_tags/3/tag"]')).to_have_value("batch_id")
    expect(page.locator('select[name="p/recipe_tags/0/role"] option:checked')).to_have_text(
        "speed_sp"
    )
    expect(page.locator('textarea[name="p/recipes"]')).to_have_value("{}")
    channels = page.locator('textarea[name="p/notification_channels"]')
    expect(channels).to_have_value("")  # write-only: a JSON field, never filled in
    expect(_field(page, "p/notification_channels")).to_contain_text("secret")

    # 1. what the form itself cannot read: nothing is sent, the input is kept
    page.locator('[name="p/line_id"]').fill(XSS)
    erp.get_by_label("connection").fill("cap")
    erp.get_by_label("plant").fill("1000")
    page.locator('[name="p/rate_tolerance"]').fill("a lot")
    page.locator('[name="p/recipes"]').fill('{"FG-1": {"speed_sp": ')
    page.get_by_role("button", name="Install production-control").click()
    expect(page.locator("#pack-errors")).to_be_visible()
    expect(_field(page, "p/rate_tolerance")).to_contain_text("must be a number")
    expect(_field(page, "p/recipes")).to_contain_text("not valid JSON")
    expect(page.locator('[name="p/rate_tolerance"]')).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[name="p/rate_tolerance"]')).to_have_value("a lot")
    expect(page.locator('[name="p/line_id"]')).to_have_value(XSS)
    expect(page.locator('[name="p/recipes"]')).to_have_value('{"FG-1": {"speed_sp": ')

    # 2. the service's 422: each problem on the input it names
    page.locator('[name="p/rate_tolerance"]').fill("0")
    page.locator('[name="p/recipes"]').fill('{"FG-1": {"speed_sp": 100}}')
    page.locator('[name="p/notification_channels"]').fill("[]")
    page.get_by_role("button", name="Install production-control").click()
    expect(_field(page, "p/line_id")).to_contain_text("does not match")
    expect(_field(page, "p/line_id")).to_contain_text(XSS)  # the value quoted, as text
    expect(_field(page, "p/erp/work_center")).to_contain_text("required")
    expect(_field(page, "p/rate_tolerance")).to_contain_text("minimum")
    expect(_field(page, "p/recipes")).to_contain_text("FG-1")
    expect(page.locator("#pack-errors")).to_contain_text("erp > work_center")
    expect(page.locator('[name="p/erp/connection"]')).to_have_value("cap")
    expect(page.locator('[name="p/line_id"]')).to_have_value(XSS)
    expect(page.locator('[name="p/notification_channels"]')).to_have_value("")  # not echoed
    expect(page.locator("#pack-form img")).to_have_count(0)
    assert dialogs == []
    assert _pack(console, slug, "production-control")["status"] == "available"


def test_install_shows_what_it_created_and_uninstall(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    dialogs = _no_alerts(page)
    with running_plant(opcua_port=None) as plant, console.api(f"{slug}-engineer") as engineer:
        device = engineer.post(
            f"/api/v1/tenants/{slug}/devices",
            json={
                "name": "boiler-1",
                "protocol": "modbus",
                "endpoint": plant.sim.modbus_endpoint,
                "tags": MODBUS_TAGS,
            },
        )
        assert device.status_code == 201, device.text
        sign_in(page, console, f"{slug}-tenant_admin")
        page.goto(console.url(f"/ui/t/{slug}/packs/safety-monitoring"))
        page.locator('[name="p/area_id"]').fill("boiler-house")
        page.get_by_label("safety_level").select_option("high")
        page.get_by_label("device, row 1").first.fill("boiler-1")
        page.locator('[name="p/sensors/0/tag"]').fill("pressure")
        page.locator('[name="p/sensors/0/hi"]').fill("8")
        page.locator('[name="p/sensors/0/hihi"]').fill("very high")
        page.locator('[name="p/interlocks/0/device"]').fill("boiler-1")
        page.locator('[name="p/interlocks/0/tag"]').fill("interlock")
        page.locator('[name="p/interlocks/0/value"]').fill("true")
        page.get_by_label("override_key").fill("let-me-release-it")
        # the script adds a row; an empty row is left out
        page.get_by_role("button", name="Add a row to sensors").click()
        expect(page.locator('[name="p/sensors/1/device"]')).to_be_focused()
        page.get_by_role("button", name="Install safety-monitoring").click()

        cell = _field(page, "p/sensors/0/hihi")
        expect(cell).to_contain_text("must be a number")
        expect(cell.locator("input")).to_have_value("very high")
        expect(page.get_by_label("override_key")).to_have_value("")  # a secret: typed again
        page.locator('[name="p/sensors/0/hihi"]').fill("10")
        page.get_by_label("override_key").fill("let-me-release-it")
        page.get_by_role("button", name="Install safety-monitoring").click()

        expect(page.locator("#pack-done")).to_contain_text("Installed")
        expect(page.locator("#installed-version")).to_have_text("1.0.0")
        workflows = page.locator("#pack-workflows")
        expect(workflows).to_contain_text("safety-monitoring")
        expect(workflows).to_contain_text("safety-health-check")
        expect(page.locator("#pack-alarm-rules")).to_have_text("1")
        expect(page.locator("#pack-form")).to_have_count(0)  # up to date: nothing to upgrade
        assert "let-me-release-it" not in page.content()
        installed = _pack(console, slug, "safety-monitoring")
        assert installed["installed_version"] == "1.0.0"
        assert installed["parameters"]["sensors"] == [
            {"device": "boiler-1", "tag": "pressure", "hi": 8, "hihi": 10}
        ]
        assert installed["parameters"]["interlocks"][0]["value"] is True

        # installing again is a 409 (shown, nothing changes)
        with http_session(console, f"{slug}-tenant_admin") as client:
            html = client.get(f"/ui/t/{slug}/packs/safety-monitoring").text
            again = client.post(
                f"/ui/t/{slug}/packs/safety-monitoring/install",
                data={"csrf_token": page_csrf(html), "p/area_id": "x"},
            )
            assert again.status_code == 409, again.text
            assert "upgrade it" in again.text

        page.get_by_role("button", name="Uninstall").click()  # a confirm, accepted
        expect(page.locator("#pack-done")).to_contain_text("Uninstalled")
        expect(page.locator("#pack-status")).to_have_text("Uninstalled")
    assert _pack(console, slug, "safety-monitoring")["status"] == "uninstalled"
    assert [d for d in dialogs if not d.startswith("confirm")] == []


def test_those_who_may_not_install_see_no_form_and_a_forged_post_is_403(
    console: ConsoleWorld,
) -> None:
    slug = console.fresh_tenant()
    for role in ("viewer", "engineer", "operator"):
        with http_session(console, f"{slug}-{role}") as client:
            html = client.get(f"/ui/t/{slug}/packs/safety-monitoring")
            assert html.status_code == 200, html.text
            assert 'id="pack-form"' not in html.text
            for action in ("install", "upgrade", "uninstall"):
                forged = client.post(
                    f"/ui/t/{slug}/packs/safety-monitoring/{action}",
                    data={"csrf_token": page_csrf(html.text), "p/area_id": "boiler-house"},
                )
                assert forged.status_code == 403, (role, action, forged.text)
    # without the CSRF token, even a tenant admin is refused
    with http_session(console, f"{slug}-tenant_admin") as client:
        forged = client.post(
            f"/ui/t/{slug}/packs/safety-monitoring/install", data={"p/area_id": "boiler-house"}
        )
        assert forged.status_code == 403
        other = client.get("/ui/t/acme/packs/")
        assert other.status_code == 404  # a tenant without a role in it
    assert _pack(console, slug, "safety-monitoring")["status"] == "available"


def test_hostile_form_posts_are_4xx_never_500(console: ConsoleWorld) -> None:
    slug = console.fresh_tenant()
    with http_session(console, f"{slug}-tenant_admin") as client:
        html = client.get(f"/ui/t/{slug}/packs/production-control").text
        token = page_csrf(html)
        url = f"/ui/t/{slug}/packs/production-control/install"
        cases: list[dict[str, Any]] = [
            {"p/recipes": "[" * 5000},  # nested past the bound
            {"p/recipes": '{"a": NaN}'},
            {"p/recipe_tags/0/role": "99"},  # not a choice
            {"p/recipe_tags/999999999/tag": "x"},  # a far row: one row, still checked
            {"p/erp/goods_receipt": "maybe"},
            {"p/max_reconfigurations": "1.5"},
            {"p/monitor_interval_s": "1e999"},
            {"p/unknown": "x", "q": "y"},  # names outside the form are ignored
        ]
        for data in cases:
            response = client.post(url, data={"csrf_token": token, **data})
            assert response.status_code == 422, (data, response.status_code, response.text)
            assert "Traceback" not in response.text
        missing = client.get(f"/ui/t/{slug}/packs/no-such-pack")
        assert missing.status_code == 404
        forged = client.post(f"/ui/t/{slug}/packs/no-such-pack/install", data={"csrf_token": token})
        assert forged.status_code == 404
    assert _pack(console, slug, "production-control")["status"] == "available"


def test_axe_finds_no_serious_violation_on_the_packs_pages(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []  # CSP refusals and script errors show in the console
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(page, console, "acme-tenant_admin")
    page.goto(console.url("/ui/t/acme/packs/"))
    expect(page.locator("#pack-catalog")).to_be_visible()
    assert _violations(page) == []
    page.goto(console.url("/ui/t/acme/packs/production-control"))
    expect(page.locator("#pack-form")).to_be_visible()
    assert _violations(page) == []
    page.locator('[name="p/line_id"]').fill("line/1")
    page.locator('[name="p/max_reconfigurations"]').fill("many")
    page.get_by_role("button", name="Install production-control").click()
    expect(page.locator("#pack-errors")).to_be_visible()
    assert _violations(page) == []
    # the page fits a 1366x768 screen: the wide tables scroll inside their panel
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.get_by_role("button", name="Add a row to fault_alarms").click()
    expect(page.locator('[name="p/fault_alarms/2/device"]')).to_be_focused()
    assert [p for p in problems if "status of 422" not in p] == []  # the 422 is meant
    page.set_viewport_size(TABLET)  # and a tablet's
    page.goto(console.url("/ui/t/acme/packs/production-control"))
    expect(page.locator("#pack-form")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    assert _violations(page) == []


def test_the_pages_have_no_inline_code(console: ConsoleWorld) -> None:
    with http_session(console, "acme-tenant_admin") as client:
        for path in [
            "/ui/t/acme/packs/",
            "/ui/t/acme/packs/production-control",
            "/ui/t/acme/admin",
        ]:
            response = client.get(path)
            assert response.status_code == 200, path
            assert _inline_code(response.text) == [], path
        token = page_csrf(response.text)
        refused = client.post(
            "/ui/t/acme/packs/production-control/install",
            data={"csrf_token": token, "p/line_id": XSS},
        )
        assert refused.status_code == 422
        assert _inline_code(refused.text) == []
        assert XSS not in refused.text and "&lt;img src=x" in refused.text
