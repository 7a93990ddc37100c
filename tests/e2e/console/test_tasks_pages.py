"""The Tasks pages in the browser, continued: overdue tasks are marked; a task without a
form completes; hostile text (a task title, an enum option) renders as text; axe-core
finds no serious violation and the pages fit 1366x768 and a tablet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.console.harness import TABLET, ConsoleWorld
from tests.e2e.console.tasks_support import (
    LIVE,
    PAYLOAD,
    TasksTenant,
    fill_valid,
    open_tasks,
    tasks_tenant,
)
from tests.e2e.console.test_accessibility import _violations

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def tenant(console: ConsoleWorld) -> TasksTenant:
    return tasks_tenant(console)


def test_overdue_tasks_are_marked_and_a_formless_task_completes(
    page: Page, tenant: TasksTenant
) -> None:
    from playwright.sync_api import expect

    run_id = tenant.start("quick")
    task = tenant.task_of(run_id)
    open_tasks(page, tenant)
    row = page.locator(f'#open-tasks tr[data-task="{task["id"]}"]')
    expect(row.locator("[data-due] .state--fault")).to_have_text("Overdue", timeout=LIVE)
    # The keyboard's place survives the poll that replaces the table.
    link = row.get_by_role("link", name="Acknowledge shift handover")
    link.focus()
    updated = page.locator("#tasks-live .updated time")
    before = updated.get_attribute("datetime")
    expect(updated).not_to_have_attribute("datetime", before or "", timeout=LIVE)
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("This task has no form")).to_be_visible()
    expect(page.locator(".task-facts .state--fault")).to_have_text("Overdue")
    page.get_by_role("button", name="Complete task").click()
    expect(page.locator("#task-completed")).to_contain_text("Acknowledge shift handover")
    assert tenant.run(run_id)["status"] == "completed"


def test_hostile_text_renders_as_text(page: Page, tenant: TasksTenant) -> None:
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    run_id = tenant.start(batch=PAYLOAD)
    task = tenant.task_of(run_id)
    open_tasks(page, tenant)
    row = page.locator(f'#open-tasks tr[data-task="{task["id"]}"]')
    expect(row).to_contain_text(f"Inspect batch {PAYLOAD}", timeout=LIVE)
    with page.expect_response(lambda r: r.url.endswith("/tasks/live")):
        pass  # and still after the fragment was replaced
    expect(row).to_contain_text(f"Inspect batch {PAYLOAD}")
    assert page.locator('img[src="x"]').count() == 0
    row.get_by_role("link", name=f"Inspect batch {PAYLOAD}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Inspect batch {PAYLOAD}")
    expect(page.get_by_label("Grade").locator("option", has_text=PAYLOAD)).to_have_count(1)
    # chosen, but a count that is no number: the option is still text after the 422
    fill_valid(page)
    page.get_by_label("Grade").select_option(label=PAYLOAD)
    page.get_by_label("Counted units").evaluate("e => e.type = 'text'")  # as a script could
    page.get_by_label("Counted units").fill("twelve")
    page.get_by_role("button", name="Complete task").click()
    expect(page.locator("#task-field-count-problem")).to_contain_text("must be an integer")
    expect(page.get_by_label("Counted units")).to_have_value("twelve")
    expect(page.get_by_label("Grade")).to_have_value("2")
    assert page.locator('img[src="x"]').count() == 0
    assert PAYLOAD not in page.content()  # only escaped
    assert dialogs == []


@pytest.mark.parametrize("viewport", [None, TABLET], ids=["1366x768", "tablet"])
def test_axe_and_fit(page: Page, tenant: TasksTenant, viewport: dict[str, Any] | None) -> None:
    from playwright.sync_api import expect

    if viewport:
        page.set_viewport_size(viewport)
    run_id = tenant.start(batch=44)
    task = tenant.task_of(run_id)
    open_tasks(page, tenant)
    expect(page.locator(f'tr[data-task="{task["id"]}"]').first).to_be_visible()
    width = page.viewport_size["width"] if page.viewport_size else 1366
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert _violations(page) == []
    page.goto(tenant.world.url(f"/ui/t/{tenant.slug}/tasks/{task['id']}"))
    expect(page.get_by_role("button", name="Complete task")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert _violations(page) == []
    # keyboard: the first field is reachable and the form submits from the keyboard
    page.get_by_label("Notes").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Counted units")).to_be_focused()
