"""Runs through the API: activities, decisions, retries, compensation, timers, signals,
parallel branches, subworkflows, control and idempotency."""

from __future__ import annotations

from typing import Any

import pytest

from hub.bootstrap import Hub
from hub.engine.activities import ActivityContext, NonRetryableError
from tests.conftest import World
from tests.support.workflow_helpers import emit, history, kinds, publish, start, wait_for

ENGINEER = "acme-engineer"
OPERATOR = "acme-operator"


@pytest.fixture
def calls(hub: Hub) -> dict[str, list[Any]]:
    """Test activities, recording every call."""
    seen: dict[str, list[Any]] = {"flaky": [], "keys": [], "compensate": [], "boom": []}

    async def flaky(ctx: ActivityContext, value: Any) -> Any:
        seen["flaky"].append(ctx.attempt)
        seen["keys"].append(ctx.idempotency_key)
        if ctx.attempt < 3:
            raise RuntimeError(f"transient failure {ctx.attempt}")
        return {"attempts": ctx.attempt}

    async def boom(ctx: ActivityContext, value: Any) -> Any:
        seen["boom"].append(value)
        raise NonRetryableError("the valve is stuck")

    async def undo(ctx: ActivityContext, value: Any) -> Any:
        seen["compensate"].append(value)
        return None

    hub.activities.register("flaky", flaky)
    hub.activities.register("boom", boom)
    hub.activities.register("undo", undo)
    return seen


def test_decision_run_completes_with_history(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert (
        publish(
            client,
            eng,
            """
name: sort
version: 1.0.0
input_schema: {type: object, required: [x]}
start: a
steps:
  a: {type: activity, activity: noop, input: {v: "${input.x}"}, next: pick}
  pick:
    type: decision
    expression: "steps.a.output.v > 10"
    cases: {"true": big, "false": small}
  big: {type: end, output: {size: big}}
  small: {type: end, output: {size: "small-${string(steps.a.output.v)}"}}
""",
        ).status_code
        == 201
    )
    run = start(client, world.as_(OPERATOR), "sort", {"x": 3})
    done = wait_for(client, eng, run["id"])
    assert done["status"] == "completed"
    assert done["output"] == {"size": "small-3"}
    assert kinds(history(client, eng, run["id"])) == [
        ("RunStarted", None),
        ("StepScheduled", "a"),
        ("ActivityStarted", "a"),
        ("ActivityCompleted", "a"),
        ("StepScheduled", "pick"),
        ("DecisionTaken", "pick"),
        ("EndReached", "small"),  # an end step is not a decision
        ("RunCompleted", None),
    ]


def test_retries_keep_the_idempotency_key(world: World, calls: dict[str, list[Any]]) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: retrying
version: 1.0.0
start: a
steps:
  a:
    type: activity
    activity: flaky
    retry: {max_attempts: 3, initial_interval: 10ms, backoff: 2}
    next: done
  done: {type: end, output: "${steps.a.output}"}
""",
    )
    run = start(client, eng, "retrying")
    done = wait_for(client, eng, run["id"])
    assert done["status"] == "completed" and done["output"] == {"attempts": 3}
    assert calls["flaky"] == [1, 2, 3]
    assert len(set(calls["keys"])) == 1
    events = kinds(history(client, eng, run["id"]))
    assert events.count(("ActivityFailed", "a")) == 2
    assert events.count(("RetryScheduled", "a")) == 2


def test_failure_compensates_in_reverse_order(world: World, calls: dict[str, list[Any]]) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: saga
version: 1.0.0
start: reserve
steps:
  reserve:
    type: activity
    activity: noop
    input: {item: reserve}
    compensate: {activity: undo, input: {undo: reserve}}
    next: charge
  charge:
    type: activity
    activity: noop
    compensate: {activity: undo, input: {undo: charge}}
    next: ship
  ship: {type: activity, activity: boom, next: done}
  done: {type: end}
""",
    )
    run = start(client, eng, "saga")
    done = wait_for(client, eng, run["id"])
    assert done["status"] == "failed"
    assert "the valve is stuck" in done["error"]
    assert calls["compensate"] == [{"undo": "charge"}, {"undo": "reserve"}]
    events = kinds(history(client, eng, run["id"]))
    assert ("CompensationStarted", None) in events
    assert [s for t, s in events if t == "CompensationCompleted"] == ["charge", "reserve"]
    assert events[-1] == ("RunFailed", None)


def test_on_error_continue_and_goto(world: World, calls: dict[str, list[Any]]) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: tolerant
version: 1.0.0
start: try
steps:
  try: {type: activity, activity: boom, on_error: continue, next: again}
  again: {type: activity, activity: boom, on_error: {goto: fallback}, next: never}
  never: {type: end, output: never}
  fallback: {type: end, output: fallback}
""",
    )
    run = start(client, eng, "tolerant")
    done = wait_for(client, eng, run["id"])
    assert done["status"] == "completed" and done["output"] == "fallback"


def test_timer_then_signal_wait(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: waiting
version: 1.0.0
start: pause
steps:
  pause: {type: timer, duration: 100ms, next: ack}
  ack: {type: wait, signal: acknowledged, timeout: 30s, on_timeout: late, next: done}
  late: {type: end, output: late}
  done: {type: end, output: "${steps.ack.output}"}
""",
    )
    run = start(client, eng, "waiting")
    waiting = wait_for(client, eng, run["id"], ("waiting",))
    assert waiting["current_steps"] in (["pause"], ["ack"])
    wait_for_step(world, run["id"], "ack")
    sent = client.post(
        f"/api/v1/tenants/acme/runs/{run['id']}/signals/acknowledged",
        json={"by": "dana"},
        headers=world.as_(OPERATOR),
    )
    assert sent.status_code == 200, sent.text
    done = wait_for(client, eng, run["id"])
    assert done["output"] == {"by": "dana"}
    late = client.post(
        f"/api/v1/tenants/acme/runs/{run['id']}/signals/acknowledged", json={}, headers=eng
    )
    assert late.status_code == 409


def wait_for_step(world: World, run_id: str, step: str) -> None:
    import time

    for _ in range(500):
        run = world.client.get(
            f"/api/v1/tenants/acme/runs/{run_id}", headers=world.as_(ENGINEER)
        ).json()
        if run["current_steps"] == [step]:
            return
        time.sleep(0.01)
    raise AssertionError(f"run never reached {step}")


def test_signal_before_the_wait_is_kept_and_timeout_branches(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: early
version: 1.0.0
start: pause
steps:
  pause: {type: timer, duration: 200ms, next: ack}
  ack: {type: wait, signal: go, timeout: 50ms, on_timeout: late, next: done}
  late: {type: end, output: late}
  done: {type: end, output: on-time}
""",
    )
    early = start(client, eng, "early")
    client.post(f"/api/v1/tenants/acme/runs/{early['id']}/signals/go", json=1, headers=eng)
    assert wait_for(client, eng, early["id"])["output"] == "on-time"
    late = start(client, eng, "early")
    assert wait_for(client, eng, late["id"])["output"] == "late"


def test_parallel_all_and_any(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: fan
version: 1.0.0
start: both
steps:
  both:
    type: parallel
    branches: [[a1, a2], [b1]]
    completion: all
    next: either
  a1: {type: activity, activity: noop, input: a1}
  a2: {type: activity, activity: noop, input: a2}
  b1: {type: activity, activity: noop, input: b1}
  either:
    type: parallel
    branches: [[slow], [fast]]
    completion: any
    next: done
  slow: {type: timer, duration: 30s}
  fast: {type: activity, activity: noop, input: fast}
  done: {type: end, output: "${steps.both.output}"}
""",
    )
    run = start(client, eng, "fan")
    done = wait_for(client, eng, run["id"])
    assert done["status"] == "completed", done
    assert done["output"] == {"a1": "a1", "a2": "a2", "b1": "b1"}
    events = kinds(history(client, eng, run["id"]))
    assert events.index(("ActivityCompleted", "a1")) < events.index(("ActivityCompleted", "a2"))
    assert ("BranchJoined", "either") in events and ("TimerFired", "slow") not in events


def test_subworkflow(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: child
version: 1.2.0
start: work
steps:
  work: {type: activity, activity: noop, input: {doubled: "${input.n * 2}"}, next: done}
  done: {type: end, output: "${steps.work.output}"}
""",
    )
    publish(
        client,
        eng,
        """
name: parent
version: 1.0.0
start: call
steps:
  call: {type: subworkflow, workflow: "child@^1", input: {n: 21}, next: done}
  done: {type: end, output: "${steps.call.output}"}
""",
    )
    run = start(client, eng, "parent")
    done = wait_for(client, eng, run["id"])
    assert done["status"] == "completed" and done["output"] == {"doubled": 42}


def test_cancel_suspend_resume(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: slow
version: 1.0.0
start: pause
steps:
  pause: {type: timer, duration: 150ms, next: done}
  done: {type: end, output: ok}
""",
    )
    base = "/api/v1/tenants/acme/runs"
    run = start(client, eng, "slow")
    assert client.post(f"{base}/{run['id']}/suspend", headers=eng).json()["status"] == "suspended"
    assert client.post(f"{base}/{run['id']}/suspend", headers=eng).status_code == 409
    import time

    time.sleep(0.3)  # the timer is due, but a suspended run does not move
    assert client.get(f"{base}/{run['id']}", headers=eng).json()["status"] == "suspended"
    assert client.post(f"{base}/{run['id']}/resume", headers=eng).status_code == 200
    assert wait_for(client, eng, run["id"])["status"] == "completed"

    other = start(client, eng, "slow")
    cancelled = client.post(f"{base}/{other['id']}/cancel", headers=eng).json()
    assert cancelled["status"] == "cancelled"
    assert client.post(f"{base}/{other['id']}/cancel", headers=eng).status_code == 409
    # A sleep that asserts nothing happens: a worker still holding the slow activity must
    # not bring the cancelled run back; there is no event to wait for instead.
    time.sleep(0.3)
    assert client.get(f"{base}/{other['id']}", headers=eng).json()["status"] == "cancelled"


def test_idempotency_key_replays_the_same_run(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: once
version: 1.0.0
start: done
steps:
  done: {type: end, output: ok}
""",
    )
    headers = {**eng, "Idempotency-Key": "order-42"}
    first = client.post("/api/v1/tenants/acme/runs", json={"workflow": "once"}, headers=headers)
    again = client.post("/api/v1/tenants/acme/runs", json={"workflow": "once"}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    runs = client.get("/api/v1/tenants/acme/runs", params={"workflow": "once"}, headers=eng).json()[
        "items"
    ]
    assert len(runs) == 1


def test_unknown_things_are_404(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    missing = client.post("/api/v1/tenants/acme/runs", json={"workflow": "nope"}, headers=eng)
    assert missing.status_code == 404
    assert client.get("/api/v1/tenants/acme/runs/0123", headers=eng).status_code == 404
    assert client.get("/api/v1/tenants/acme/workflows/nope", headers=eng).status_code == 404
    assert client.post("/api/v1/tenants/acme/runs/01a2/signals/x", headers=eng).status_code == 404


def test_wait_for_an_event_topic(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: listen
version: 1.0.0
input_schema: {type: object, required: [area]}
start: hear
steps:
  hear: {type: wait, event: "areas/${input.area}/ack", timeout: 30s, on_timeout: late, next: done}
  late: {type: end, output: late}
  done: {type: end, output: "${steps.hear.output.payload}"}
""",
    )
    run = start(client, eng, "listen", {"area": "north"})
    wait_for(client, eng, run["id"], ("waiting",))
    emit(client, hub, "areas/south/ack", {"by": "wrong area"})
    emit(client, hub, "areas/north/ack", {"by": "dana"})
    done = wait_for(client, eng, run["id"])
    assert done["output"] == {"by": "dana"}


def test_a_wait_match_wakes_the_run_only_for_matching_payloads(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(
        client,
        eng,
        """
name: listen-for-mine
version: 1.0.0
start: hear
steps:
  hear:
    type: wait
    event: "areas/north/alarm"
    match: {action: ack, alarm: "${input.alarm}", detail: {by: dana}}
    timeout: 30s
    next: done
  done: {type: end, output: "${steps.hear.output.payload}"}
""",
    )
    run = start(client, eng, "listen-for-mine", {"alarm": "a1"})
    wait_for(client, eng, run["id"], ("waiting",))
    misses = [
        {"action": "activate", "alarm": "a1", "detail": {"by": "dana"}},
        {"action": "ack", "alarm": "a2", "detail": {"by": "dana"}},
        {"action": "ack", "alarm": "a1", "detail": {"by": "sam"}},
        {"action": "ack", "alarm": "a1"},
        ["not", "a", "mapping"],
    ]
    hit = {"action": "ack", "alarm": "a1", "detail": {"by": "dana", "at": 3}, "extra": 1}
    emit(client, hub, "areas/north/alarm", *misses, hit)
    done = wait_for(client, eng, run["id"])
    assert done["output"] == hit
    received = [e for e in history(client, eng, run["id"]) if e["type"] == "SignalReceived"]
    assert len(received) == 1  # the misses never reached the run
