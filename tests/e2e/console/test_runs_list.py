"""The runs list: filters by workflow, status and time range (bad ones are 422s shown on
the fields), pages as the API pages, and follows running runs live; axe passes on the
Runs and Workflows pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from hub.api.console import runs as runs_page
from tests.e2e.console.harness import ConsoleWorld, http_session, sign_in
from tests.e2e.console.runs_support import XSS, publish, start, waiting_at

if TYPE_CHECKING:
    from playwright.sync_api import Page

QUICK = """
name: quick
version: 1.0.0
start: done
steps:
  done: {type: end, output: ok}
"""
LIVE = 15_000
SERIOUS = {"serious", "critical"}


def _violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    found: list[dict[str, Any]] = Axe().run(page).response["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in found
        if v["impact"] in SERIOUS
    ]


def _shown(page: Page) -> list[str]:
    return page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")


def test_filters_paging_and_live_rows(
    page: Page, console: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        publish(engineer, slug, QUICK)
        held = [start(engineer, slug) for _ in range(2)]
        quick = start(engineer, slug, "quick")
        for run_id in held:
            waiting_at(engineer, slug, run_id, "hold")
        cancelled = engineer.post(f"/api/v1/tenants/{slug}/runs/{held[0]}/cancel")
        assert cancelled.status_code == 200, cancelled.text

    sign_in(page, console, f"{slug}-operator")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Runs").click()
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(page.locator("#runs-table tbody tr")).to_have_count(3)
    assert _shown(page) == [quick, held[1], held[0]]  # newest first

    page.get_by_label("Workflow").select_option("hold")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)
    page.get_by_label("Status").select_option("cancelled")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    assert _shown(page) == [held[0]]
    page.get_by_label("Status").select_option("queued")  # a status the engine has now
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#no-runs")).to_be_visible()
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("#runs-table tbody tr")).to_have_count(3)

    # The time range: from a minute ahead finds nothing; until a minute ahead finds all.
    ahead = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("From (UTC)").fill(ahead)
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#no-runs")).to_be_visible()
    page.get_by_label("From (UTC)").fill("")
    page.get_by_label("Until (UTC)").fill(ahead)
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#runs-table tbody tr")).to_have_count(3)
    # ... and From after Until is a 422 on the field, the filters kept.
    page.get_by_label("From (UTC)").fill(ahead)
    with page.expect_response(lambda r: "/runs?" in r.url) as answered:
        page.get_by_role("button", name="Apply filters").click()
    assert answered.value.status == 422
    expect(page.locator("#filter-until-error")).to_have_text("must be later than From")
    expect(page.get_by_label("Until (UTC)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("From (UTC)")).to_have_value(ahead)

    # Pages of two, as the API pages (its cursor).
    monkeypatch.setattr(runs_page, "PAGE_SIZE", 2)
    page.goto(console.url(f"/ui/t/{slug}/runs"))
    assert _shown(page) == [quick, held[1]]
    page.get_by_role("link", name="Older runs").click()
    assert _shown(page) == [held[0]]
    expect(page.get_by_role("link", name="Older runs")).to_have_count(0)
    page.get_by_role("link", name="Newest runs").click()
    assert _shown(page) == [quick, held[1]]

    # Live: the waiting run finishes elsewhere; its row says so without a reload.
    page.evaluate("window.notReloaded = true")
    row = page.locator(f'tr[data-run="{held[1]}"]')
    expect(row.locator("[data-run-status]")).to_have_text("Waiting")
    with console.api(f"{slug}-operator") as operator:
        sent = operator.post(f"/api/v1/tenants/{slug}/runs/{held[1]}/signals/go", json={})
        assert sent.status_code == 200, sent.text
    expect(row.locator("[data-run-status]")).to_have_text("Completed", timeout=LIVE)
    assert page.evaluate("window.notReloaded") is True


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("status=lost", "status", "not a run status"),
        ("since=yesterday", "since", "a date and time"),
        ("until=2025-13-45T99:99", "until", "a date and time"),
    ],
)
def test_bad_filters_are_422s_named_by_field(
    console: ConsoleWorld, query: str, field: str, message: str
) -> None:
    with http_session(console, "acme-viewer") as viewer:
        for path in ("/ui/t/acme/runs", "/ui/t/acme/runs/live"):
            answer = viewer.get(f"{path}?{query}")
            assert answer.status_code == 422, answer.text
            assert message in answer.text and "Traceback" not in answer.text
        page = viewer.get(f"/ui/t/acme/runs?{query}")
        assert f'id="filter-{field}-error"' in page.text
        too_long = viewer.get("/ui/t/acme/runs", params={"workflow": "w" * 65})
        assert too_long.status_code == 400


def test_axe_passes_on_the_runs_and_workflows_pages(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        run_id = start(engineer, slug, note=XSS)
        waiting_at(engineer, slug, run_id, "hold")
    sign_in(page, console, f"{slug}-operator")
    for path, heading in [
        (f"/ui/t/{slug}/runs", "Runs"),
        (f"/ui/t/{slug}/runs?status=nope", "Runs"),
        (f"/ui/t/{slug}/runs/{run_id}", "Run of hold"),
        (f"/ui/t/{slug}/workflows", "Workflows"),
        (f"/ui/t/{slug}/workflows/hold", "Workflow hold"),
    ]:
        page.goto(console.url(path))
        expect(page.get_by_role("heading", name=heading, exact=False).first).to_be_visible()
        assert _violations(page) == [], path
    page.goto(console.url(f"/ui/t/{slug}/runs/{run_id}"))
    page.get_by_label("Signal name").fill("go")
    page.get_by_label("Payload (JSON").fill("{nope")
    page.get_by_role("button", name="Send signal").click()
    expect(page.locator("#signal-payload-error")).to_be_visible()
    assert _violations(page) == []  # with a 422 on a field
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(console.url(f"/ui/t/{slug}/runs/{run_id}"))
    expect(page.locator("#diagram")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    assert _violations(page) == []
