"""Engine semantics a Temporal or Camunda user relies on (issue 12, items 5-7, 9, 10, 13):
a suspended run holds still, a closing parent takes its children with it, subworkflows
resolve at publish, each loop pass has its own idempotency key, form dates are strict,
and the history says what happened (EndReached, resolved ChildStarted)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from connectors.observability.prometheus import OFF_LOOP
from hub.bootstrap import Hub
from hub.engine.activities import ActivityContext
from hub.store.tables.core import workflow_definitions
from tests.conftest import World
from tests.support.waiting import eventually
from tests.support.workflow_helpers import history, kinds, publish, start, wait_for

ENGINEER = "acme-engineer"
OPERATOR = "acme-operator"
RUNS = "/api/v1/tenants/acme/runs"


@pytest.fixture
def gate(hub: Hub) -> Iterator[dict[str, Any]]:
    """A `gated` activity that starts, then waits until the test opens the gate."""
    state: dict[str, Any] = {"started": threading.Event(), "open": threading.Event(), "keys": []}

    async def gated(ctx: ActivityContext, value: Any) -> Any:
        state["keys"].append(ctx.idempotency_key)
        state["started"].set()
        await asyncio.to_thread(state["open"].wait, 30)
        return {"done": value}

    hub.activities.register("gated", gated)
    yield state
    state["open"].set()  # never leave a worker waiting


def _events(world: World, run_id: str) -> list[dict[str, Any]]:
    return history(world.client, world.as_(ENGINEER), run_id)


def _status(world: World, run_id: str) -> str:
    found = world.client.get(f"{RUNS}/{run_id}", headers=world.as_(ENGINEER)).json()
    return str(found["status"])


TWO_STEPS = """
name: two-steps
version: 1.0.0
start: first
steps:
  first: {type: activity, activity: gated, input: 1, next: second}
  second: {type: activity, activity: noop, input: 2, next: done}
  done: {type: end, output: "${steps.second.output}"}
"""


def test_suspended_run_holds_an_inflight_activity_result(
    world: World, gate: dict[str, Any]
) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(client, eng, TWO_STEPS)
    run = start(client, eng, "two-steps")
    assert gate["started"].wait(10)
    assert client.post(f"{RUNS}/{run['id']}/suspend", headers=eng).status_code == 200

    gate["open"].set()  # the in-flight activity finishes while the run is suspended
    held = eventually(
        lambda: [e for e in _events(world, run["id"]) if e["type"] == "ActivityCompleted"]
    )
    assert held[0]["step"] == "first" and held[0]["data"]["held"] is True
    assert _status(world, run["id"]) == "suspended"
    assert ("StepScheduled", "second") not in kinds(_events(world, run["id"]))

    resumed = client.post(f"{RUNS}/{run['id']}/resume", headers=eng)
    assert resumed.status_code == 200
    done = wait_for(client, eng, run["id"])
    assert (done["status"], done["output"]) == ("completed", 2)
    order = kinds(_events(world, run["id"]))
    assert order.index(("RunResumed", None)) < order.index(("StepScheduled", "second"))


TASK = """
name: approve
version: 1.0.0
start: ask
steps:
  ask:
    type: user_task
    title: Approve
    form: [{id: ok, type: boolean, required: true}]
    next: done
  done: {type: end, output: "${steps.ask.output.ok}"}
"""


def test_suspended_run_keeps_a_task_completion_for_its_resume(world: World) -> None:
    client, eng, op = world.client, world.as_(ENGINEER), world.as_(OPERATOR)
    publish(client, eng, TASK)
    run = start(client, eng, "approve")
    wait_for(client, eng, run["id"], ("waiting",))
    client.post(f"{RUNS}/{run['id']}/suspend", headers=eng)
    task = client.get("/api/v1/tenants/acme/tasks?scope=open", headers=op).json()["items"][0]

    completed = client.post(
        f"/api/v1/tenants/acme/tasks/{task['id']}/complete",
        json={"values": {"ok": True}},
        headers=op,
    )
    assert completed.status_code == 200, completed.text
    assert _status(world, run["id"]) == "suspended"  # recorded, not applied

    client.post(f"{RUNS}/{run['id']}/resume", headers=eng)
    done = wait_for(client, eng, run["id"])
    assert (done["status"], done["output"]) == ("completed", True)


def test_suspended_run_fires_no_timer_until_resumed(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: nap
version: 1.0.0
start: sleep
steps:
  sleep: {type: timer, duration: 1s, next: done}
  done: {type: end, output: woke}
""",
    )
    run = start(client, eng, "nap")
    # the suspend must land before the timer is due, even on a loaded machine
    assert client.post(f"{RUNS}/{run['id']}/suspend", headers=eng).status_code == 200
    # long past the timer's due time: a run that moved would have fired it by now
    with pytest.raises(AssertionError):
        wait_for(client, eng, run["id"], ("completed",), timeout=2.0)
    assert ("TimerFired", "sleep") not in kinds(_events(world, run["id"]))
    client.post(f"{RUNS}/{run['id']}/resume", headers=eng)
    assert wait_for(client, eng, run["id"])["output"] == "woke"


CHILD = """
name: child-wait
version: 1.2.0
start: hold
steps:
  hold: {type: wait, signal: go, timeout: 1h, next: done}
  done: {type: end}
"""

PARENT = """
name: parent
version: 1.0.0
start: call
steps:
  call: {type: subworkflow, workflow: "child-wait@^1", next: done}
  done: {type: end}
"""


def _child_of(world: World, parent_id: str) -> dict[str, Any]:
    started = [e for e in _events(world, parent_id) if e["type"] == "ChildStarted"]
    assert len(started) == 1
    return dict(started[0]["data"])


def test_child_started_names_the_resolved_version_and_child_run(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(client, eng, CHILD)
    publish(client, eng, PARENT)
    parent = start(client, eng, "parent")
    wait_for(client, eng, parent["id"], ("waiting",))
    child = _child_of(world, parent["id"])
    assert (child["workflow"], child["version"]) == ("child-wait", "1.2.0")
    found = client.get(f"{RUNS}/{child['run_id']}", headers=eng).json()
    assert found["parent_run_id"] == parent["id"]


def _parent_with_waiting_child(world: World) -> tuple[str, str]:
    """A parent run waiting for its child, which waits for a signal: their ids."""
    client, eng = world.client, world.as_(ENGINEER)
    publish(client, eng, CHILD)
    publish(client, eng, PARENT)
    parent = start(client, eng, "parent")
    wait_for(client, eng, parent["id"], ("waiting",))
    child_id = _child_of(world, parent["id"])["run_id"]
    wait_for(client, eng, child_id, ("waiting",))
    return parent["id"], child_id


def test_cancelling_a_parent_cancels_its_running_child(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    parent_id, child_id = _parent_with_waiting_child(world)

    assert client.post(f"{RUNS}/{parent_id}/cancel", headers=eng).status_code == 200
    child = wait_for(client, eng, child_id)
    assert child["status"] == "cancelled"
    parent_events = _events(world, parent_id)
    requested = [e for e in parent_events if e["type"] == "ChildCancelRequested"]
    assert [e["data"]["run_id"] for e in requested] == [child_id]
    cancelled = [e for e in _events(world, child_id) if e["type"] == "RunCancelled"]
    assert cancelled[0]["data"]["reason"] == f"parent run {parent_id} cancelled"


def test_cancelling_a_parent_cancels_a_suspended_child(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    parent_id, child_id = _parent_with_waiting_child(world)
    client.post(f"{RUNS}/{child_id}/suspend", headers=eng)

    client.post(f"{RUNS}/{parent_id}/cancel", headers=eng)
    assert wait_for(client, eng, child_id)["status"] == "cancelled"


@pytest.mark.parametrize(
    ("reference", "message"),
    [("no-such-flow", "unknown workflow 'no-such-flow'"), ("child-wait@^2", "no version")],
)
def test_subworkflow_naming_an_unknown_workflow_is_refused_at_publish(
    world: World, reference: str, message: str
) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(client, eng, CHILD)
    refused = publish(client, eng, PARENT.replace('"child-wait@^1"', f'"{reference}"'))
    assert refused.status_code == 422
    problems = refused.json()["errors"]
    assert any(p["field"] == "steps.call.workflow" and message in p["message"] for p in problems)


def test_subworkflow_that_became_unresolvable_fails_the_run(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(client, eng, CHILD)
    publish(
        client,
        eng,
        """
name: later-parent
version: 1.0.0
start: pause
steps:
  pause: {type: wait, signal: go, timeout: 1h, next: call}
  call: {type: subworkflow, workflow: "child-wait@^1", next: done}
  done: {type: end}
""",
    )
    run = start(client, eng, "later-parent")
    wait_for(client, eng, run["id"], ("waiting",))

    async def unpublish() -> None:  # e.g. a restore of an older database
        async with hub.engine.begin() as conn:
            await conn.execute(
                delete(workflow_definitions).where(workflow_definitions.c.name == "child-wait")
            )

    with client.portal() as portal:
        portal.call(unpublish)
    client.post(f"{RUNS}/{run['id']}/signals/go", json={}, headers=eng)
    failed = wait_for(client, eng, run["id"])
    assert failed["status"] == "failed"
    assert "child-wait" in failed["error"] and "not found" in failed["error"]


LOOP = """
name: twice
version: 1.0.0
start: work
steps:
  work: {type: activity, activity: gated, input: "${input}", next: again}
  again:
    type: decision
    expression: "size(steps) < 3 || !has(steps.rest)"
    cases: {"true": rest, "false": done}
  rest: {type: timer, duration: 10ms, next: work}
  done: {type: end}
"""


def test_each_loop_pass_gets_its_own_idempotency_key(world: World, gate: dict[str, Any]) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    gate["open"].set()
    publish(client, eng, LOOP)
    run = start(client, eng, "twice")
    assert wait_for(client, eng, run["id"])["status"] == "completed"
    keys = gate["keys"]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert all(k.startswith(f"{run['id']}:work:") for k in keys)


DATES = """
name: when
version: 1.0.0
start: ask
steps:
  ask:
    type: user_task
    title: When?
    form: [{id: day, type: date}, {id: at, type: datetime}]
    next: done
  done: {type: end, output: "${steps.ask.output}"}
"""


@pytest.mark.parametrize(
    "values",
    [
        {"day": "yesterday"},
        {"day": "2024-02-30"},
        {"day": 20240101},
        {"day": "20240101"},
        {"day": "2024-1-5"},
        {"at": "2024-02-29T10:00:00"},  # no offset
        {"at": "2024-02-29"},
        {"at": "2024-02-29T25:00:00Z"},
    ],
)
def test_form_dates_are_checked_strictly(world: World, values: dict[str, Any]) -> None:
    client, eng, op = world.client, world.as_(ENGINEER), world.as_(OPERATOR)
    publish(client, eng, DATES)
    run = start(client, eng, "when")
    wait_for(client, eng, run["id"], ("waiting",))
    task = client.get("/api/v1/tenants/acme/tasks?scope=open", headers=op).json()["items"][0]
    url = f"/api/v1/tenants/acme/tasks/{task['id']}/complete"
    refused = client.post(url, json={"values": values}, headers=op)
    assert refused.status_code == 422, refused.text
    good = {"day": "2024-02-29", "at": "2024-02-29T10:00:00.5+01:00"}
    assert client.post(url, json={"values": good}, headers=op).status_code == 200
    assert wait_for(client, eng, run["id"])["output"] == good


def test_end_steps_are_recorded_as_end_reached(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client, eng, "name: e\nversion: 1.0.0\nstart: fin\nsteps:\n  fin: {type: end, output: 7}\n"
    )
    run = start(client, eng, "e")
    wait_for(client, eng, run["id"])
    assert kinds(_events(world, run["id"])) == [
        ("RunStarted", None),
        ("EndReached", "fin"),
        ("RunCompleted", None),
    ]


NUMBERS = ",".join(str(n) for n in range(150))
HEAVY = f"""
name: heavy
version: 1.0.0
start: count
steps:
  count:
    type: decision
    expression: "[{NUMBERS}].map(x, x * 2).filter(x, x % 3 == 0).size() > 10"
    cases: {{"true": big, "false": small}}
  big: {{type: end, output: "${{[{NUMBERS}].map(x, x + 1).size()}}"}}
  small: {{type: end, output: 0}}
"""


def test_an_expression_over_the_loop_allowance_finishes_in_a_worker_thread(world: World) -> None:
    """Expressions run on the event loop only within a small CPU allowance: a heavier
    transition is stopped there and taken again, whole, in a worker thread."""
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, HEAVY).status_code == 201
    before = OFF_LOOP._value.get()
    run = start(client, eng, "heavy")
    done = wait_for(client, eng, run["id"])
    assert (done["status"], done["output"]) == ("completed", 150)
    assert OFF_LOOP._value.get() > before
    # the attempt stopped on the loop left nothing behind: each step once, in order
    assert kinds(_events(world, run["id"])) == [
        ("RunStarted", None),
        ("StepScheduled", "count"),
        ("DecisionTaken", "count"),
        ("EndReached", "big"),
        ("RunCompleted", None),
    ]
