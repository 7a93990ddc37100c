"""The interpreter's control semantics, pure: what a suspended run records and continues
on resume, which children a closing run cancels, and subworkflows that do not resolve."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.engine.definition import parse_definition
from hub.engine.history import EventType, RunState, RunStatus, fold
from hub.engine.interpreter import ChildRef, Interpreter, Transition

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _definition(steps: dict[str, Any], start: str) -> Any:
    return parse_definition({"name": "w", "version": "1.0.0", "start": start, "steps": steps})


class Run:
    """A run driven through the interpreter, its history kept as the worker keeps it."""

    def __init__(self, definition: Any, children: dict[str, Any] | None = None) -> None:
        self.definition = definition
        self.children = children or {}
        self.events: list[Any] = []

    @property
    def state(self) -> RunState:
        return fold("r1", "t1", "w", "1.0.0", self.events)

    def do(self, act: Any) -> Transition:
        interpreter = Interpreter(
            self.definition, self.state, NOW, rng=lambda: 0.5, children=self.children
        )
        transition: Transition = act(interpreter)
        self.events += transition.events
        return transition

    def types(self) -> list[str]:
        return [e.type.value for e in self.events]


STEPS = {
    "a": {
        "type": "activity",
        "activity": "noop",
        "next": "b",
        "retry": {"max_attempts": 2, "initial_interval": "1s"},
    },
    "b": {"type": "activity", "activity": "noop", "next": "done"},
    "done": {"type": "end"},
}


def test_a_result_that_arrives_while_suspended_is_held_until_resume() -> None:
    run = Run(_definition(STEPS, "a"))
    run.do(lambda i: i.start({}))
    run.do(lambda i: i.suspend())
    held = run.do(lambda i: (i.activity_started("a"), i.activity_succeeded("a", 1))[1])
    assert held.tasks == [] and run.state.status is RunStatus.SUSPENDED
    assert run.events[-1].data["held"] is True

    resumed = run.do(lambda i: i.resume())
    assert [e.type for e in resumed.events] == [EventType.RUN_RESUMED, EventType.STEP_SCHEDULED]
    assert [(t.kind, t.step) for t in resumed.tasks] == [("activity", "b")]
    assert run.state.held == []


def test_a_failure_while_suspended_is_retried_only_after_resume() -> None:
    run = Run(_definition(STEPS, "a"))
    run.do(lambda i: i.start({}))
    run.do(lambda i: i.suspend())
    held = run.do(lambda i: i.activity_failed("a", "IOError", "link down", True))
    assert held.tasks == [] and "RetryScheduled" not in run.types()
    resumed = run.do(lambda i: i.resume())
    assert [(t.kind, t.step, t.attempt) for t in resumed.tasks] == [("activity", "a", 2)]


def test_a_signal_while_suspended_wakes_the_wait_only_after_resume() -> None:
    steps = {"hear": {"type": "wait", "signal": "go", "next": "done"}, "done": {"type": "end"}}
    run = Run(_definition(steps, "hear"))
    run.do(lambda i: i.start({}))
    run.do(lambda i: i.suspend())
    assert not run.do(lambda i: i.signal("go", {"x": 1})).finished
    assert run.do(lambda i: i.resume()).finished
    assert run.state.status is RunStatus.COMPLETED


CHILD_STEPS = {
    "call": {"type": "subworkflow", "workflow": "kid@^1", "next": "done"},
    "done": {"type": "end"},
}


def test_a_closing_parent_cancels_its_running_child() -> None:
    run = Run(_definition(CHILD_STEPS, "call"), {"call": ChildRef("kid", "1.4.0", "c1")})
    started = run.do(lambda i: i.start({}))
    assert [(c.workflow, c.version, c.run_id) for c in started.children] == [("kid", "1.4.0", "c1")]
    assert run.events[-1].data == {
        "workflow": "kid",
        "version": "1.4.0",
        "run_id": "c1",
        "input": {},
    }

    cancelled = run.do(lambda i: i.cancel("by dana"))
    assert [(c.step, c.run_id) for c in cancelled.cancel_children] == [("call", "c1")]
    assert run.types()[-2:] == ["ChildCancelRequested", "RunCancelled"]


def test_a_finished_child_is_not_cancelled() -> None:
    run = Run(_definition(CHILD_STEPS, "call"), {"call": ChildRef("kid", "1.0.0", "c1")})
    run.do(lambda i: i.start({}))
    done = run.do(lambda i: i.child_finished("call", "completed", 1, None))
    assert done.finished and done.cancel_children == []


def test_a_parallel_that_joins_on_any_cancels_the_child_it_abandons() -> None:
    steps = {
        "both": {
            "type": "parallel",
            "branches": [["quick"], ["call"]],
            "completion": "any",
            "next": "done",
        },
        "quick": {"type": "activity", "activity": "noop"},
        "call": {"type": "subworkflow", "workflow": "kid"},
        "done": {"type": "end"},
    }
    run = Run(_definition(steps, "both"), {"call": ChildRef("kid", "1.0.0", "c9")})
    run.do(lambda i: i.start({}))
    joined = run.do(lambda i: (i.activity_started("quick"), i.activity_succeeded("quick", 1))[1])
    assert [c.run_id for c in joined.cancel_children] == ["c9"]
    assert joined.finished


def test_a_subworkflow_that_does_not_resolve_fails_the_step_with_the_reason() -> None:
    run = Run(_definition(CHILD_STEPS, "call"), {"call": "workflow 'kid' not found"})
    failed = run.do(lambda i: i.start({}))
    assert failed.finished and failed.children == []
    assert run.state.failure == "step 'call' failed: WorkflowNotFound: workflow 'kid' not found"


def test_each_pass_through_a_step_has_its_own_scheduled_position() -> None:
    steps = {
        "work": {"type": "activity", "activity": "noop", "next": "again"},
        "again": {
            "type": "decision",
            "expression": "true",
            "cases": {"true": "pause"},
            "default": "done",
        },
        "pause": {"type": "timer", "duration": "1s", "next": "work"},
        "done": {"type": "end"},
    }
    run = Run(_definition(steps, "work"))
    run.do(lambda i: i.start({}))
    first = run.state.step("work").scheduled_seq
    run.do(lambda i: (i.activity_started("work"), i.activity_succeeded("work", 1))[1])
    run.do(lambda i: i.timer_fired("pause"))
    assert run.state.step("work").scheduled_seq > first
