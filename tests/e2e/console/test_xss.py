"""Names are text, never markup: a tenant and a user task named `<img src=x onerror=alert(1)>`
show as those characters on the overview, and nothing runs. Device and tag names cannot
hold it at all: the domain allows letters, digits, '_', '.' and '-' only (the API answers
422, and the store refuses to read back a device whose name breaks that rule)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.console.harness import ConsoleWorld, sign_in
from tests.e2e.console.test_overview_live import APPROVAL

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAYLOAD = "<img src=x onerror=alert(1)>"


def test_hostile_names_render_as_text(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant(name=PAYLOAD)
    base = f"/api/v1/tenants/{slug}"
    with console.api(f"{slug}-engineer") as engineer:
        refused = engineer.post(
            f"{base}/devices",
            json={"name": PAYLOAD, "protocol": "modbus", "endpoint": "127.0.0.1:9", "tags": []},
        )
        assert refused.status_code == 422
        published = engineer.post(
            f"{base}/workflows", content=APPROVAL, headers={"content-type": "application/yaml"}
        )
        assert published.status_code == 201, published.text
    with console.api(f"{slug}-operator") as operator:
        started = operator.post(
            f"{base}/runs", json={"workflow": "approve", "input": {"batch": PAYLOAD}}
        )
        assert started.status_code == 201, started.text

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, console, f"{slug}-operator")
    expect(page.get_by_text(f"Tenant: {PAYLOAD}")).to_be_visible()
    expect(page.locator("#open-tasks")).to_contain_text(f"Confirm batch {PAYLOAD}", timeout=20_000)
    # and still after a live update replaced the fragment
    with page.expect_response(lambda r: r.url.endswith("/overview/live")):
        pass
    expect(page.locator("#open-tasks")).to_contain_text(f"Confirm batch {PAYLOAD}")
    assert page.locator('img[src="x"]').count() == 0
    assert dialogs == []
    assert PAYLOAD not in page.content()  # only its escaped form is in the document
