"""Concurrency keys held from a step (`concurrency.from`), through the API: a run runs
freely until it reaches the step, takes a slot there (or waits `queued` at it, in the
order runs reached it), and holds it until it ends; a run that never reaches the step
never holds the key, a loop back to the step does not queue again, a run waiting at the
step can be cancelled, a failed run frees its slot; bad `from` values are refused."""

from __future__ import annotations

from typing import Any

import pytest

from hub.bootstrap import Hub
from hub.engine.activities import ActivityContext, NonRetryableError
from tests.conftest import World
from tests.support.waiting import eventually
from tests.support.workflow_helpers import history, kinds, publish, start, wait_for

ENGINEER = "acme-engineer"
OPERATOR = "acme-operator"
RUNS = "/api/v1/tenants/acme/runs"
TASKS = "/api/v1/tenants/acme/tasks"


def _cell(limit: int = 1) -> str:
    """prep, then (input.path) an operator's confirmation, an early end, or straight on
    to `machine`: the key is held from `machine`; `hold` waits for a signal `go` whose
    payload may loop back to `machine` or fail the run."""
    return f"""
name: cell
version: 1.0.0
concurrency:
  key: "${{input.line}}"
  limit: {limit}
  from: machine
start: prep
steps:
  prep: {{type: activity, activity: record, input: {{n: "${{input.n}}", at: prep}}, next: route}}
  route:
    type: decision
    expression: input.path
    cases: {{"confirm": confirm, "skip": skipped}}
    default: machine
  confirm:
    type: user_task
    title: "Confirm ${{input.n}}"
    form: [{{id: ok, type: boolean}}]
    candidate_groups: [operators]
    next: machine
  machine:
    type: activity
    activity: record
    input: {{n: "${{input.n}}", at: machine}}
    next: hold
  hold: {{type: wait, signal: go, next: again}}
  again:
    type: decision
    expression: steps.hold.output.then
    cases: {{"loop": machine, "fail": broken}}
    default: done
  broken: {{type: activity, activity: scrap, next: done}}
  done: {{type: end, output: {{n: "${{input.n}}"}}}}
  skipped: {{type: end}}
"""


@pytest.fixture
def seen(hub: Hub) -> list[tuple[Any, str]]:
    """(n, step) of every `record` call, in order; `scrap` fails the run."""
    calls: list[tuple[Any, str]] = []

    async def record(ctx: ActivityContext, value: Any) -> Any:
        calls.append((value["n"], value["at"]))
        return value

    async def scrap(ctx: ActivityContext, value: Any) -> Any:
        raise NonRetryableError("the batch was scrapped")

    hub.activities.register("record", record)
    hub.activities.register("scrap", scrap)
    return calls


def _machined(seen: list[tuple[Any, str]]) -> list[Any]:
    return [n for n, at in seen if at == "machine"]


def _run(world: World, run_id: str) -> dict[str, Any]:
    response = world.client.get(f"{RUNS}/{run_id}", headers=world.as_(ENGINEER))
    return dict(response.json())


def _statuses(world: World, runs: list[dict[str, Any]]) -> list[str]:
    return [str(_run(world, run["id"])["status"]) for run in runs]


def _start(world: World, n: int, path: str = "straight", line: str = "L1") -> dict[str, Any]:
    return start(world.client, world.as_(ENGINEER), "cell", {"line": line, "n": n, "path": path})


def _go(world: World, run: dict[str, Any], then: str = "done") -> None:
    response = world.client.post(
        f"{RUNS}/{run['id']}/signals/go", json={"then": then}, headers=world.as_(ENGINEER)
    )
    assert response.status_code == 200, response.text


def _confirm(world: World, n: int) -> None:
    operator = world.as_(OPERATOR)
    tasks = world.client.get(TASKS, headers=operator).json()["items"]
    task_id = next(t["id"] for t in tasks if t["title"] == f"Confirm {n}")
    assert world.client.post(f"{TASKS}/{task_id}/claim", headers=operator).status_code == 200
    done = world.client.post(
        f"{TASKS}/{task_id}/complete", headers=operator, json={"values": {"ok": True}}
    )
    assert done.status_code == 200, done.text


def test_a_run_held_before_the_step_does_not_block_the_key(
    world: World, seen: list[tuple[Any, str]]
) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, _cell()).status_code == 201
    # A waits for its operator before `machine`: it holds nothing, so B and C start at
    # once, B takes the line at `machine` and C waits there, queued, its history kept
    a = _start(world, 1, "confirm")
    assert a["status"] == "running" and a["concurrency_key"] == "L1"
    eventually(lambda: _statuses(world, [a]) == ["waiting"])
    b = _start(world, 2)
    eventually(lambda: _statuses(world, [b]) == ["waiting"])  # at `hold`, holding L1
    c = _start(world, 3)
    eventually(lambda: _statuses(world, [a, b, c]) == ["waiting", "waiting", "queued"])
    assert _run(world, c["id"])["current_steps"] == ["machine"]
    assert kinds(history(client, eng, c["id"]))[-1] == ("SlotRequested", "machine")
    assert _machined(seen) == [2]
    # a run waiting at its step takes no signal, suspend or resume (409), as a queued one
    for action in ("signals/go", "suspend", "resume"):
        answer = client.post(f"{RUNS}/{c['id']}/{action}", json={}, headers=eng)
        assert answer.status_code == 409, (action, answer.text)
    # A reaches `machine` after C: it waits behind C (in the order runs reached the step)
    _confirm(world, 1)
    eventually(lambda: _statuses(world, [a, b, c]) == ["queued", "waiting", "queued"])
    _go(world, b)
    eventually(lambda: _statuses(world, [a, b, c]) == ["queued", "completed", "waiting"])
    _go(world, c)
    eventually(lambda: _statuses(world, [a, b, c]) == ["waiting", "completed", "completed"])
    _go(world, a)
    assert wait_for(client, eng, a["id"])["status"] == "completed"
    assert _machined(seen) == [2, 3, 1]
    # C took the slot after B ended, and entered `machine` in the same transition
    c_events = history(client, eng, c["id"])
    taken = next(e for e in c_events if e["type"] == "SlotTaken")
    assert taken["ts"] >= history(client, eng, b["id"])[-1]["ts"]
    assert kinds(c_events)[kinds(c_events).index(("SlotTaken", "machine")) + 1] == (
        "StepScheduled",
        "machine",
    )


def test_a_run_ending_before_the_step_never_holds_the_key(
    world: World, seen: list[tuple[Any, str]]
) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, _cell()).status_code == 201
    a = _start(world, 1)
    eventually(lambda: _statuses(world, [a]) == ["waiting"])  # holds L1 at `hold`
    skipped = _start(world, 2, "skip")  # ends before `machine`, beside A
    assert wait_for(client, eng, skipped["id"])["status"] == "completed"
    assert "SlotRequested" not in [e["type"] for e in history(client, eng, skipped["id"])]
    b = _start(world, 3)
    eventually(lambda: _statuses(world, [a, b]) == ["waiting", "queued"])
    _go(world, a)
    eventually(lambda: _statuses(world, [a, b]) == ["completed", "waiting"])


def test_a_loop_back_to_the_step_does_not_queue_again(
    world: World, seen: list[tuple[Any, str]]
) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, _cell()).status_code == 201
    a = _start(world, 1)
    eventually(lambda: _statuses(world, [a]) == ["waiting"])
    b = _start(world, 2)
    eventually(lambda: _statuses(world, [b]) == ["queued"])
    _go(world, a, "loop")  # back to `machine`: A still holds the line
    eventually(lambda: _machined(seen) == [1, 1] and _statuses(world, [a]) == ["waiting"])
    assert _statuses(world, [b]) == ["queued"]
    assert [e["type"] for e in history(client, eng, a["id"])].count("SlotRequested") == 1
    _go(world, a)
    eventually(lambda: _statuses(world, [a, b]) == ["completed", "waiting"])
    assert _machined(seen) == [1, 1, 2]


def test_a_run_waiting_at_the_step_can_be_cancelled(
    world: World, seen: list[tuple[Any, str]]
) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, _cell()).status_code == 201
    a = _start(world, 1)
    eventually(lambda: _statuses(world, [a]) == ["waiting"])
    b, c = _start(world, 2), _start(world, 3)
    eventually(lambda: _statuses(world, [b, c]) == ["queued", "queued"])
    cancelled = client.post(f"{RUNS}/{b['id']}/cancel", headers=eng)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    _go(world, a)
    eventually(lambda: _statuses(world, [a, b, c]) == ["completed", "cancelled", "waiting"])
    assert _machined(seen) == [1, 3]  # B never ran its step
    assert "SlotTaken" not in [e["type"] for e in history(client, eng, b["id"])]


def test_a_failed_run_frees_its_slot(world: World, seen: list[tuple[Any, str]]) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, _cell()).status_code == 201
    a = _start(world, 1)
    eventually(lambda: _statuses(world, [a]) == ["waiting"])
    b = _start(world, 2)
    eventually(lambda: _statuses(world, [b]) == ["queued"])
    _go(world, a, "fail")
    assert wait_for(client, eng, a["id"])["status"] == "failed"
    eventually(lambda: _statuses(world, [b]) == ["waiting"])
    assert _machined(seen) == [1, 2]


def test_a_limit_of_two_lets_two_hold_the_key(world: World, seen: list[tuple[Any, str]]) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, _cell(limit=2)).status_code == 201
    runs: list[dict[str, Any]] = []
    for n, status in ((1, "waiting"), (2, "waiting"), (3, "queued")):
        runs.append(_start(world, n))  # each reaches `machine` before the next starts
        eventually(lambda status=status: _statuses(world, runs[-1:]) == [status])
    assert _statuses(world, runs) == ["waiting", "waiting", "queued"]
    other = _start(world, 4, line="L2")  # another key runs beside
    eventually(lambda: _statuses(world, [other]) == ["waiting"])
    _go(world, runs[1])
    eventually(lambda: _statuses(world, runs) == ["waiting", "completed", "waiting"])
    assert _machined(seen) == [1, 2, 4, 3]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "must be the id of a step"),
        ("[a]", "must be the id of a step"),
        ("{step: a}", "must be the id of a step"),
        ('""', "must be the id of a step"),
        ("nowhere", "unknown step"),
        ("done", "is an end"),
        ("left", "in a branch of parallel step"),
    ],
)
def test_bad_from_values_are_refused_at_publish(world: World, value: str, message: str) -> None:
    text = f"""
name: bad
version: 1.0.0
concurrency: {{key: "${{input.line}}", from: {value}}}
start: a
steps:
  a: {{type: activity, activity: noop, next: both}}
  both: {{type: parallel, branches: [[left], [right]], next: done}}
  left: {{type: activity, activity: noop}}
  right: {{type: activity, activity: noop}}
  done: {{type: end}}
"""
    response = publish(world.client, world.as_(ENGINEER), text)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == "concurrency.from" and message in e["message"] for e in errors), errors


def test_unknown_fields_beside_from_are_refused(world: World) -> None:
    text = """
name: bad
version: 1.0.0
concurrency: {key: "${input.line}", from: a, until: done}
start: a
steps:
  a: {type: activity, activity: noop, next: done}
  done: {type: end}
"""
    response = publish(world.client, world.as_(ENGINEER), text)
    assert response.status_code == 422, response.text
    assert "concurrency.until" in [e["field"] for e in response.json()["errors"]]
