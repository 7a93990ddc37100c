"""Publishing definitions, user tasks, triggers and restarts through the API."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from hub.api.app import create_app
from hub.bootstrap import Hub, build
from hub.settings import Settings
from tests.conftest import FAST_HASHER, World
from tests.support.workflow_helpers import emit, history, kinds, publish, start, wait_for

ENGINEER = "acme-engineer"
SIMPLE = """
name: simple
version: {version}
start: done
steps:
  done: {{type: end, output: ok}}
"""


def test_publish_versions_list_get_and_diagram(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, SIMPLE.format(version="1.0.0")).status_code == 201
    again = publish(client, eng, SIMPLE.format(version="1.0.0"))
    assert again.status_code == 409
    older = publish(client, eng, SIMPLE.format(version="0.9.0"))
    assert older.status_code == 409
    as_json = client.post(
        "/api/v1/tenants/acme/workflows",
        headers=eng,
        json={
            "name": "simple",
            "version": "1.1.0",
            "start": "done",
            "steps": {"done": {"type": "end"}},
        },
    )
    assert as_json.status_code == 201, as_json.text
    base = "/api/v1/tenants/acme/workflows"
    assert client.get(f"{base}/simple", headers=eng).json()["versions"] == ["1.0.0", "1.1.0"]
    listed = client.get(base, headers=eng).json()["items"]
    assert [(w["name"], w["latest_version"]) for w in listed] == [("simple", "1.1.0")]
    assert client.get(f"{base}/simple/1.0.0", headers=eng).json()["name"] == "simple"
    dot = client.get(f"{base}/simple/1.0.0/diagram", params={"format": "dot"}, headers=eng)
    assert dot.text.startswith("digraph") and "done" in dot.text
    assert client.get(f"{base}/simple/9.9.9", headers=eng).status_code == 404
    assert client.get(
        f"{base}/simple/1.0.0/diagram", params={"format": "svg"}, headers=eng
    ).status_code in (400, 422)
    # Operators run workflows but do not publish them.
    assert (
        publish(client, world.as_("acme-operator"), SIMPLE.format(version="2.0.0")).status_code
        == 403
    )


def test_invalid_definition_lists_every_problem_by_step(world: World) -> None:
    response = publish(
        world.client,
        world.as_(ENGINEER),
        """
name: broken
version: one
start: missing
steps:
  a: {type: activity, activity: no_such_activity, next: nowhere, timeout: soon}
  b: {type: teleport, next: a}
  c: {type: decision, expression: "input.x >", cases: {"1": a}}
""",
    )
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    text = response.text
    assert "version" in fields and "start" in fields
    for needle in ("no_such_activity", "nowhere", "teleport", "steps.a.timeout", "steps.c"):
        assert needle in text, needle
    bad_yaml = publish(world.client, world.as_(ENGINEER), "name: [unclosed")
    assert bad_yaml.status_code == 400  # not YAML at all: malformed, not invalid


USER_TASK = """
name: approve
version: 1.0.0
start: confirm
steps:
  confirm:
    type: user_task
    title: "Confirm batch ${input.batch}"
    form:
      - {id: ok, type: boolean, required: true}
      - {id: qty, type: integer}
      - {id: notes, type: string, default: ""}
    candidate_groups: [operators]
    due: PT4H
    next: done
  done: {type: end, output: "${steps.confirm.output}"}
"""


def test_user_task_claim_complete_and_rules(world: World) -> None:
    client = world.client
    publish(client, world.as_(ENGINEER), USER_TASK)
    run = start(client, world.as_("acme-operator"), "approve", {"batch": 7})
    wait_for(client, world.as_(ENGINEER), run["id"], ("waiting",))
    operator = world.as_("acme-operator")
    tasks = client.get("/api/v1/tenants/acme/tasks", headers=operator).json()["items"]
    assert [t["title"] for t in tasks] == ["Confirm batch 7"]
    task_id = tasks[0]["id"]
    assert tasks[0]["due_at"] is not None
    # The engineer is not in the candidate group.
    assert (
        client.post(
            f"/api/v1/tenants/acme/tasks/{task_id}/claim", headers=world.as_(ENGINEER)
        ).status_code
        == 403
    )
    claimed = client.post(f"/api/v1/tenants/acme/tasks/{task_id}/claim", headers=operator)
    assert claimed.json()["status"] == "claimed"
    bad = client.post(
        f"/api/v1/tenants/acme/tasks/{task_id}/complete",
        headers=operator,
        json={"values": {"qty": "many", "extra": 1}},
    )
    assert bad.status_code == 422
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["extra", "ok", "qty"]
    done = client.post(
        f"/api/v1/tenants/acme/tasks/{task_id}/complete",
        headers=operator,
        json={"values": {"ok": True, "qty": 3}},
    )
    assert done.status_code == 200, done.text
    finished = wait_for(client, operator, run["id"])
    assert finished["output"] == {"ok": True, "qty": 3, "notes": ""}
    twice = client.post(
        f"/api/v1/tenants/acme/tasks/{task_id}/complete",
        headers=operator,
        json={"values": {"ok": True}},
    )
    assert twice.status_code == 409
    assert ("UserTaskCompleted", "confirm") in kinds(history(client, operator, run["id"]))


def test_event_trigger_starts_runs_with_topic_params(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: on-alarm
version: 1.0.0
triggers:
  - event: "areas/{area_id}/sensors/+/alarm"
    input: {area: "${trigger.params.area_id}", level: "${trigger.payload.level}"}
start: done
steps:
  done: {type: end, output: "${input}"}
""",
    )
    emit(client, hub, "areas/north/sensors/p1/alarm", {"level": "hihi"})
    emit(client, hub, "areas/north/other", {"level": "ignored"})
    deadline = time.monotonic() + 10
    while True:
        runs = client.get(
            "/api/v1/tenants/acme/runs", params={"workflow": "on-alarm"}, headers=eng
        ).json()["items"]
        if runs and runs[0]["status"] == "completed":
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.05)
    assert len(runs) == 1
    assert runs[0]["output"] == {"area": "north", "level": "hihi"}


def test_event_trigger_condition_picks_the_events_that_start_runs(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: on-raise
version: 1.0.0
triggers:
  - event: "areas/+/alarm"
    when: 'trigger.payload.action in ["activate", "escalate"]'
start: done
steps:
  done: {type: end, output: "${input.action}"}
""",
    )
    for action in ("activate", "ack", "return", "escalate"):
        emit(client, hub, "areas/north/alarm", {"action": action})
    emit(client, hub, "areas/north/alarm", ["not", "a", "mapping"])
    deadline = time.monotonic() + 10
    while True:
        runs = client.get(
            "/api/v1/tenants/acme/runs", params={"workflow": "on-raise"}, headers=eng
        ).json()["items"]
        if len(runs) >= 2 and all(r["status"] == "completed" for r in runs):
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.05)
    time.sleep(0.2)  # any run the other events wrongly started would be listed by now
    runs = client.get(
        "/api/v1/tenants/acme/runs", params={"workflow": "on-raise"}, headers=eng
    ).json()["items"]
    assert sorted(r["output"] for r in runs) == ["activate", "escalate"]


def test_cron_fires_each_slot_once(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: hourly
version: 1.0.0
triggers: [{cron: "0 * * * *", input: {at: "${trigger.fired_at}"}}]
start: done
steps:
  done: {type: end, output: "${input}"}
""",
    )
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    with client.portal() as portal:
        # The hub's own cron loop, on the real clock, is stopped: its ticks would move the
        # slot this test's clock is in.
        loop_task = hub.triggers._task
        assert loop_task is not None
        portal.call(_cancelled, loop_task)
        first = portal.call(hub.triggers.fire_due, now)  # first sight: remembered, not fired
        second = portal.call(hub.triggers.fire_due, now + timedelta(hours=1))
        again = portal.call(hub.triggers.fire_due, now + timedelta(hours=1, minutes=5))
        # Within a slot already claimed, a tick does not even ask the database.
        claim, asked = hub.triggers._claim_slot, []

        async def counted(tenant: str, workflow: str, index: int, slot: datetime) -> bool:
            asked.append(slot)
            return await claim(tenant, workflow, index, slot)

        hub.triggers._claim_slot = counted  # type: ignore[method-assign]
        try:
            quiet = portal.call(hub.triggers.fire_due, now + timedelta(hours=1, minutes=29))
        finally:
            hub.triggers._claim_slot = claim  # type: ignore[method-assign]
        assert now.replace(minute=0) + timedelta(hours=1) not in asked
        later = portal.call(hub.triggers.fire_due, now + timedelta(hours=2))
    assert (first, second, again, quiet, later) == (0, 1, 0, 0, 1)
    runs = client.get(
        "/api/v1/tenants/acme/runs", params={"workflow": "hourly"}, headers=eng
    ).json()["items"]
    assert len(runs) == 2


TIMER = """
name: patient
version: 1.0.0
start: pause
steps:
  pause: {type: timer, duration: 1s, next: done}
  done: {type: end, output: ok}
"""


def test_a_restarted_hub_resumes_unfinished_runs(world: World, settings: Settings) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(client, eng, TIMER)
    run = start(client, eng, "patient")
    # A second hub on the same database; the first one's worker is stopped before the timer.
    with client.portal() as portal:
        portal.call(client.app.state.hub.runtime.stop)
    other = build(settings, hasher=FAST_HASHER)
    with TestClient(create_app(other)) as second:
        assert wait_for(second, eng, run["id"], timeout=20)["status"] == "completed"


@pytest.fixture(autouse=True)
def _quiet(caplog: Any) -> None:
    caplog.set_level("WARNING")


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
