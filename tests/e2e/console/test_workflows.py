"""Workflow definitions in the console: the list with versions, a definition's page (its
versions, diagram and source, all text), and starting a run from it (bad JSON and input
the schema refuses are 422s on the field; a viewer has no form and a forged start is 403)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.console.harness import ConsoleWorld, http_session, page_csrf, sign_in
from tests.e2e.console.runs_support import HOLD, XSS, publish

if TYPE_CHECKING:
    from playwright.sync_api import Page

TYPED = """
name: typed
version: 1.0.0
input_schema:
  type: object
  required: [batch]
  properties:
    batch: {type: integer}
start: pause
steps:
  pause: {type: timer, duration: 1h, next: done}
  done: {type: end}
"""


def test_definitions_versions_diagram_source_and_starting_a_run(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        publish(engineer, slug, HOLD.replace("1.0.0", "1.1.0"))
        publish(engineer, slug, TYPED)
    page.add_init_script("window.alert = () => { window.xssFired = true; };")
    sign_in(page, console, f"{slug}-operator")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Workflows").click()
    row = page.locator('tr[data-workflow="hold"]')
    expect(row).to_contain_text("1.1.0 (latest)")
    expect(row).to_contain_text("1.0.0")
    expect(row.locator(".description")).to_have_text(f"Holds until told: {XSS}")

    row.get_by_role("link", name="1.0.0").click()
    expect(page.locator("#definition-version")).to_have_text("1.0.0")
    expect(page.locator("#definition-description")).to_have_text(f"Holds until told: {XSS}")
    expect(page.locator("#versions a[aria-current='page']")).to_have_text("1.0.0")
    diagram = page.locator("#diagram svg")
    for step in ("pause", "hold", "late", "done"):
        expect(diagram.locator(f'g[data-step="{step}"]')).to_have_count(1)
    expect(diagram.locator('path[data-edge="hold->late"]')).to_have_count(1)
    expect(page.locator("#definition-source")).to_contain_text("type: wait")
    expect(page.locator("#definition-source")).to_contain_text(XSS)
    page.get_by_role("link", name="JSON", exact=True).click()
    expect(page.locator("#definition-source")).to_contain_text('"type": "wait"')
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.xssFired === undefined")

    # Start a run of 1.0.0: bad JSON first (422 on the field, the text kept).
    page.get_by_label("Input (a JSON object").fill('{"batch": ')
    with page.expect_response(lambda r: r.url.endswith("/start")) as answered:
        page.get_by_role("button", name="Start run").click()
    assert answered.value.status == 422
    expect(page.locator("#start-input-error")).to_contain_text("not valid JSON")
    expect(page.get_by_label("Input (a JSON object")).to_have_value('{"batch": ')
    page.get_by_label("Input (a JSON object").fill("[1, 2]")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#start-input-error")).to_contain_text("must be a JSON object")
    page.get_by_label("Input (a JSON object").fill('{"who": "' + XSS + '"}')
    page.get_by_label("Priority").fill("500")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#start-priority-error")).to_have_text("from -100 to 100")
    page.get_by_label("Priority").fill("5")
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_role("heading", name="Run of hold")).to_be_visible()
    expect(page.locator("#run-input")).to_contain_text(XSS)
    expect(page.locator("#diagram g[data-step='hold']")).to_have_attribute("data-state", "current")
    assert "1.0.0" in page.locator(".run-summary").inner_text()

    # The input schema's own refusal is shown on the field too.
    page.goto(console.url(f"/ui/t/{slug}/workflows/typed"))
    page.get_by_label("Input (a JSON object").fill('{"batch": "seven"}')
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#start-input-error")).to_be_visible()
    expect(page.get_by_label("Input (a JSON object")).to_have_value('{"batch": "seven"}')


def test_a_viewer_sees_definitions_but_cannot_start_runs(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
    sign_in(page, console, f"{slug}-viewer")
    page.goto(console.url(f"/ui/t/{slug}/workflows/hold"))
    expect(page.locator("#diagram svg")).to_be_visible()
    expect(page.locator("#start-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Start run")).to_have_count(0)
    with http_session(console, f"{slug}-viewer") as viewer:
        token = page_csrf(viewer.get(f"/ui/t/{slug}/workflows/hold").text)
        forged = viewer.post(
            f"/ui/t/{slug}/workflows/hold/1.0.0/start", data={"csrf_token": token, "input": "{}"}
        )
        assert forged.status_code == 403
        assert viewer.get(f"/ui/t/{slug}/workflows/nope").status_code == 404
        assert viewer.get(f"/ui/t/{slug}/workflows/hold/9.9.9").status_code == 404
        assert viewer.get(f"/ui/t/{slug}/workflows/hold?source=xml").status_code == 400
    with console.api(f"{slug}-viewer") as api:
        assert api.get(f"/api/v1/tenants/{slug}/runs").json()["items"] == []
    # another tenant's definitions are not there at all
    with http_session(console, "globex-operator") as outsider:
        assert outsider.get(f"/ui/t/{slug}/workflows").status_code == 404
