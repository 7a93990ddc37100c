"""Pieces for the Tasks page's tests: a tenant with a workflow whose user task has a form
with every field type, runs started through the API, their tasks found through it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.e2e.console.harness import ConsoleWorld, sign_in
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAYLOAD = "<img src=x onerror=alert(1)>"
PIN = "PIN-4711-never-shown"
LIVE = 20_000  # ms: a few polls of the live fragment

INSPECTION = f"""
name: inspection
version: 1.0.0
start: inspect
steps:
  inspect:
    type: user_task
    title: "Inspect batch ${{input.batch}}"
    candidate_groups: [operators]
    due: 1h
    form:
      - {{id: notes, type: string, label: "Notes"}}
      - {{id: count, type: integer, required: true, label: "Counted units"}}
      - {{id: weight, type: number, label: "Weight (kg)", default: 2.5}}
      - {{id: passed, type: boolean, required: true, label: "Passed"}}
      - {{id: grade, type: enum, options: [A, B, "{PAYLOAD}"], required: true, label: "Grade"}}
      - {{id: day, type: date, label: "Inspection day"}}
      - {{id: at, type: datetime, label: "Checked at"}}
      - {{id: pin, type: secret, required: true, label: "Supervisor PIN"}}
    next: done
  done: {{type: end, output: "${{steps.inspect.output}}"}}
"""

# No form, due at once: overdue as soon as it exists.
QUICK = """
name: quick
version: 1.0.0
start: ack
steps:
  ack:
    type: user_task
    title: "Acknowledge shift handover"
    candidate_groups: [operators]
    due: 1s
    next: done
  done: {type: end}
"""


@dataclass(frozen=True)
class TasksTenant:
    world: ConsoleWorld
    slug: str

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.slug}"

    def user(self, role: str) -> str:
        return f"{self.slug}-{role}"

    def start(self, workflow: str = "inspection", batch: Any = 7) -> str:
        """A new run (as the operator); its id."""
        with self.world.api(self.user("operator")) as operator:
            started = operator.post(
                f"{self.base}/runs", json={"workflow": workflow, "input": {"batch": batch}}
            )
            assert started.status_code == 201, started.text
            run_id: str = started.json()["id"]
            return run_id

    def task_of(self, run_id: str) -> dict[str, Any]:
        """The run's user task, as the API lists it."""
        with self.world.api(self.user("operator")) as operator:

            def found() -> list[dict[str, Any]]:
                listed = operator.get(f"{self.base}/tasks", params={"scope": "all"})
                assert listed.status_code == 200, listed.text
                return [t for t in listed.json()["items"] if t["run_id"] == run_id]

            task: dict[str, Any] = eventually(found)[0]
            return task

    def run(self, run_id: str) -> dict[str, Any]:
        with self.world.api(self.user("operator")) as operator:
            got = operator.get(f"{self.base}/runs/{run_id}")
            assert got.status_code == 200, got.text
            run: dict[str, Any] = got.json()
            return run

    def history(self, run_id: str) -> str:
        with self.world.api(self.user("operator")) as operator:
            got = operator.get(f"{self.base}/runs/{run_id}/history")
            assert got.status_code == 200, got.text
            return got.text


def tasks_tenant(world: ConsoleWorld) -> TasksTenant:
    """A fresh tenant with both workflows published and a second operator."""
    slug = world.fresh_tenant()
    world.add_user(slug, f"{slug}-operator2", "operator")
    with world.api(f"{slug}-engineer") as engineer:
        for text in (INSPECTION, QUICK):
            published = engineer.post(
                f"/api/v1/tenants/{slug}/workflows",
                content=text,
                headers={"content-type": "application/yaml"},
            )
            assert published.status_code == 201, published.text
    return TasksTenant(world, slug)


def open_tasks(page: Page, tenant: TasksTenant, user: str = "operator") -> None:
    """Sign in as the tenant's `user` and open Tasks from the nav."""
    from playwright.sync_api import expect

    sign_in(page, tenant.world, tenant.user(user))
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Tasks").click()
    expect(page.get_by_role("heading", name="Tasks", level=1)).to_be_visible()


def fill_valid(page: Page, *, pin: str = PIN) -> None:
    """Fill the inspection form with values it takes."""
    page.get_by_label("Notes").fill("all good")
    page.get_by_label("Counted units").fill("12")
    page.get_by_label("Weight (kg)").fill("3.25")
    page.get_by_role("group", name="Passed").get_by_label("Yes").check()
    page.get_by_label("Grade").select_option(label="B")
    page.get_by_label("Inspection day").fill("2024-02-29")
    page.get_by_label("Checked at").fill("2024-02-29T10:15:30")
    page.get_by_label("Supervisor PIN").fill(pin)
