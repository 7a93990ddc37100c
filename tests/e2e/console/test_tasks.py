"""The Tasks page in the browser: a new task appears without a reload, is claimed and
completed through its form (every field type; a 422 shown by its field with the input
kept; a secret never shown again), the run moves on; a task completed meanwhile is a
409 message; a task claimed by someone else shows no controls."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.e2e.console.harness import ConsoleWorld
from tests.e2e.console.tasks_support import (
    LIVE,
    PIN,
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


def test_a_task_appears_live_is_claimed_and_completed(page: Page, tenant: TasksTenant) -> None:
    from playwright.sync_api import expect

    open_tasks(page, tenant)
    page.evaluate("window.tasksNotReloaded = true")
    run_id = tenant.start(batch=41)
    task = tenant.task_of(run_id)
    mine = page.locator(f'#my-tasks tr[data-task="{task["id"]}"]')
    expect(mine).to_contain_text("Inspect batch 41", timeout=LIVE)
    expect(mine).to_contain_text("inspection 1.0.0")
    expect(mine).to_contain_text("operators")
    expect(mine.get_by_role("link", name=re.compile("inspection 1.0.0"))).to_have_attribute(
        "href", f"/ui/t/{tenant.slug}/runs/{run_id}"
    )
    expect(page.locator(f'#open-tasks tr[data-task="{task["id"]}"]')).to_be_visible()
    assert page.evaluate("window.tasksNotReloaded") is True

    mine.get_by_role("link", name="Inspect batch 41").click()
    expect(page.get_by_role("heading", name="Inspect batch 41")).to_be_visible()
    page.get_by_role("button", name="Claim").click()
    expect(page.locator("#task-status")).to_have_text(f"Claimed by {tenant.user('operator')}")
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)

    # A required field left empty: 422, the problem by its field, the rest kept, the
    # secret not echoed.
    fill_valid(page)
    page.get_by_label("Counted units").fill("")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Complete task").click()
    assert posted.value.status == 422
    problem = page.locator("#task-field-count-problem")
    expect(problem).to_contain_text("required")
    expect(page.get_by_label("Counted units")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#task-problems")).to_contain_text("Counted units: required")
    expect(page.get_by_label("Notes")).to_have_value("all good")
    expect(page.get_by_label("Weight (kg)")).to_have_value("3.25")
    expect(page.get_by_role("group", name="Passed").get_by_label("Yes")).to_be_checked()
    expect(page.get_by_label("Grade")).to_have_value("1")
    expect(page.get_by_label("Inspection day")).to_have_value("2024-02-29")
    expect(page.get_by_label("Checked at")).to_have_value("2024-02-29T10:15:30")
    expect(page.get_by_label("Supervisor PIN")).to_have_value("")
    assert PIN not in page.content()
    assert tenant.task_of(run_id)["status"] == "claimed"
    assert _violations(page) == []  # with the problems shown

    page.get_by_label("Counted units").fill("12")
    page.get_by_label("Supervisor PIN").fill(PIN)
    page.get_by_role("button", name="Complete task").click()
    expect(page).to_have_url(re.compile(rf"/ui/t/{tenant.slug}/tasks/\?completed="))
    expect(page.locator("#task-completed")).to_contain_text("Inspect batch 41")
    expect(page.locator(f'tr[data-task="{task["id"]}"]')).to_have_count(0)
    assert PIN not in page.content()

    # The run moved on with the values, the secret only as its digest.
    run = tenant.run(run_id)
    assert run["status"] == "completed", run
    assert run["output"]["count"] == 12
    assert run["output"]["weight"] == 3.25
    assert run["output"]["passed"] is True
    assert run["output"]["grade"] == "B"
    assert run["output"]["day"] == "2024-02-29"
    assert run["output"]["at"] == "2024-02-29T10:15:30Z"
    assert run["output"]["notes"] == "all good"
    assert run["output"]["pin"].startswith("hmac-sha256:")
    assert PIN not in tenant.history(run_id)

    # The completed task: its values, the secret masked, no controls.
    page.goto(tenant.world.url(f"/ui/t/{tenant.slug}/tasks/{task['id']}"))
    expect(page.locator("#task-status")).to_have_text("Completed")
    values = page.locator("#task-values")
    expect(values).to_contain_text("Counted units")
    expect(values).to_contain_text("secret, not shown")
    assert "hmac-sha256" not in page.content() and PIN not in page.content()
    expect(page.get_by_role("button", name="Complete task")).to_have_count(0)
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)


def test_a_task_completed_meanwhile_is_a_409_message(page: Page, tenant: TasksTenant) -> None:
    from playwright.sync_api import expect

    run_id = tenant.start(batch=42)
    task = tenant.task_of(run_id)
    open_tasks(page, tenant)
    page.locator(f'#open-tasks tr[data-task="{task["id"]}"]').get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Inspect batch 42")).to_be_visible()
    fill_valid(page)
    # Someone else completes it first (the API, as operator2).
    with tenant.world.api(tenant.user("operator2")) as other:
        done = other.post(
            f"{tenant.base}/tasks/{task['id']}/complete",
            json={"values": {"count": 1, "passed": False, "grade": "A", "pin": "x"}},
        )
        assert done.status_code == 200, done.text
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Complete task").click()
    assert posted.value.status == 409
    expect(page.get_by_role("alert")).to_contain_text("already completed")
    expect(page.locator("#task-status")).to_have_text("Completed")
    expect(page.get_by_role("button", name="Complete task")).to_have_count(0)
    assert PIN not in page.content()
    assert tenant.run(run_id)["output"]["count"] == 1  # theirs, not overwritten


def test_someone_elses_claim_leaves_no_controls(page: Page, tenant: TasksTenant) -> None:
    from playwright.sync_api import expect

    run_id = tenant.start(batch=43)
    task = tenant.task_of(run_id)
    with tenant.world.api(tenant.user("operator2")) as other:
        claimed = other.post(f"{tenant.base}/tasks/{task['id']}/claim")
        assert claimed.status_code == 200, claimed.text
    open_tasks(page, tenant)
    row = page.locator(f'#my-tasks tr[data-task="{task["id"]}"]')
    expect(row.locator("[data-assignee]")).to_contain_text(f"claimed by {tenant.user('operator2')}")
    row.get_by_role("link", name="Inspect batch 43").click()
    expect(page.locator("#task-not-yours")).to_contain_text("has claimed this task")
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)
    expect(page.get_by_role("button", name="Complete task")).to_have_count(0)
    expect(page.locator("input:not([type=hidden]), select")).to_have_count(0)
