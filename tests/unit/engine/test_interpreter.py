"""The pure interpreter (hub/engine/interpreter.py) driven directly, as the worker drives
it, on a fake clock: start, steps in order, decisions, retries and their back-off, timers,
signals and wait timeouts, user tasks, on_error and compensation. No database, no worker,
no sleeping: time moves only when a test advances the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.engine.definition import parse_definition
from hub.engine.history import EventType, RunState, RunStatus, fold
from hub.engine.interpreter import Interpreter, ScheduledTask, Transition
from tests.fakes import FakeClock

Activity = Callable[[Any], Any]


class Failure(Exception):
    """What a fake activity raises: `error_type` and whether it may be retried."""

    def __init__(self, error_type: str, message: str = "failed", retryable: bool = True) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable


class Worker:
    """Keeps a run's history and due tasks as the hub's worker does, and runs the due
    ones (activities from `activities`, by name) when told; time is `clock`'s."""

    def __init__(
        self,
        steps: dict[str, Any],
        start: str,
        activities: dict[str, Activity] | None = None,
        *,
        rng: float = 0.5,
        **extra: Any,
    ) -> None:
        body = {"name": "w", "version": "1.0.0", "start": start, "steps": steps, **extra}
        self.definition = parse_definition(body)
        self.activities = activities or {}
        self.clock = FakeClock()
        self.rng = rng
        self.events: list[Any] = []
        self.tasks: list[ScheduledTask] = []
        self.user_tasks: list[Any] = []
        self.calls: list[tuple[str, Any]] = []

    @property
    def state(self) -> RunState:
        return fold("r1", "t1", "w", "1.0.0", self.events)

    def do(self, act: Callable[[Interpreter], Transition]) -> Transition:
        interpreter = Interpreter(
            self.definition, self.state, self.clock.now(), rng=lambda: self.rng
        )
        transition = act(interpreter)
        self.events += transition.events
        self.tasks += transition.tasks
        self.user_tasks += transition.user_tasks
        return transition

    def due(self) -> list[ScheduledTask]:
        return sorted((t for t in self.tasks if t.due <= self.clock.now()), key=lambda t: t.due)

    def run_due(self) -> int:
        """Run every task due now, in due order, and those they make due now; how many."""
        ran = 0
        while due := self.due():
            task = due[0]
            self.tasks.remove(task)
            self._run(task)
            ran += 1
        return ran

    def _run(self, task: ScheduledTask) -> None:
        assert task.step is not None
        if task.kind == "timer":
            self.do(lambda i: i.timer_fired(task.step))
        elif task.kind == "wait_timeout":
            self.do(lambda i: i.wait_timed_out(task.step))
        else:  # an activity or a compensation
            spec = self.definition.steps[task.step]
            if task.kind == "compensate":
                name, value = spec.compensate.activity, None
            else:
                name = spec.activity
                scheduled = [
                    e
                    for e in self.events
                    if e.type is EventType.STEP_SCHEDULED and e.step == task.step
                ]
                value = scheduled[-1].data.get("input")
            self.calls.append((name, value))
            self.do(lambda i: i.activity_started(task.step))
            try:
                output = self.activities.get(name, lambda _: None)(value)
            except Failure as failure:
                error_type, message, retryable = failure.error_type, str(failure), failure.retryable
                self.do(lambda i: i.activity_failed(task.step, error_type, message, retryable))
            else:
                self.do(lambda i: i.activity_succeeded(task.step, output))

    def types(self) -> list[str]:
        return [e.type.value for e in self.events]

    def steps_taken(self) -> list[tuple[str, str | None]]:
        return [(e.type.value, e.step) for e in self.events]


def flaky(failures: int, error_type: str = "IOError") -> Activity:
    """An activity that fails `failures` times, then answers how many calls it took."""
    calls = {"n": 0}

    def activity(_: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise Failure(error_type, f"attempt {calls['n']} failed")
        return {"calls": calls["n"]}

    return activity


END = {"done": {"type": "end"}}
ONCE = {"max_attempts": 1}  # no retry: a failure goes to on_error at once

# --- start and steps in order ---


def test_start_records_the_input_and_schedules_the_first_activity_now() -> None:
    worker = Worker(
        {
            "fetch": {
                "type": "activity",
                "activity": "fetch",
                "input": {"id": "${input.id}"},
                "next": "done",
            },
            "done": {"type": "end", "output": {"got": "${steps.fetch.output}"}},
        },
        "fetch",
    )
    started = worker.do(lambda i: i.start({"id": 7}))
    assert worker.types() == ["RunStarted", "StepScheduled"]
    assert worker.events[0].data["input"] == {"id": 7}
    assert worker.events[1].data == {"input": {"id": 7}, "activity": "fetch"}
    assert [(t.kind, t.step, t.attempt, t.due) for t in started.tasks] == [
        ("activity", "fetch", 1, worker.clock.now())
    ]
    assert not started.finished and worker.state.status is RunStatus.RUNNING


def test_steps_run_in_order_and_the_end_gives_the_output() -> None:
    worker = Worker(
        {
            "a": {"type": "activity", "activity": "double", "input": "${input.n}", "next": "b"},
            "b": {
                "type": "activity",
                "activity": "double",
                "input": "${steps.a.output}",
                "next": "done",
            },
            "done": {"type": "end", "output": "${steps.b.output}"},
        },
        "a",
        {"double": lambda n: n * 2},
    )
    worker.do(lambda i: i.start({"n": 5}))
    assert worker.run_due() == 2
    assert worker.calls == [("double", 5), ("double", 10)]
    assert worker.state.status is RunStatus.COMPLETED
    assert worker.state.output == 20
    assert worker.types()[-2:] == ["EndReached", "RunCompleted"]


def test_a_late_result_for_a_step_the_run_left_changes_nothing() -> None:
    worker = Worker({"a": {"type": "activity", "activity": "x", "next": "done"}, **END}, "a")
    worker.do(lambda i: i.start({}))
    worker.run_due()
    assert worker.state.status is RunStatus.COMPLETED
    before = len(worker.events)
    assert worker.do(lambda i: i.activity_succeeded("a", 1)).events == []
    assert len(worker.events) == before


# --- decisions ---

ROUTE = {
    "measure": {"type": "activity", "activity": "measure", "next": "route"},
    "route": {
        "type": "decision",
        "expression": "steps.measure.output.level",
        "cases": {"high": "alarm", "low": "done"},
        "default": "log",
    },
    "alarm": {"type": "end", "output": "alarm"},
    "log": {"type": "end", "output": "log"},
    "done": {"type": "end", "output": "ok"},
}


@pytest.mark.parametrize(("level", "output"), [("high", "alarm"), ("low", "ok"), ("odd", "log")])
def test_a_decision_is_taken_in_the_same_transition_as_the_step_before(
    level: str, output: str
) -> None:
    worker = Worker(ROUTE, "measure", {"measure": lambda _: {"level": level}})
    worker.do(lambda i: i.start({}))
    worker.run_due()
    assert worker.state.output == output
    [taken] = [e for e in worker.events if e.type is EventType.DECISION_TAKEN]
    assert taken.data["next"] == {"high": "alarm", "low": "done"}.get(level, "log")
    assert taken.ts == worker.clock.now()  # no waiting in between


def test_a_decision_with_no_case_and_no_default_fails_the_run() -> None:
    route = {k: v for k, v in ROUTE["route"].items() if k != "default"}
    steps = {k: v for k, v in {**ROUTE, "route": route}.items() if k != "log"}
    worker = Worker(steps, "measure", {"measure": lambda _: {"level": "odd"}})
    worker.do(lambda i: i.start({}))
    worker.run_due()
    assert worker.state.status is RunStatus.FAILED
    assert "no case for 'odd'" in (worker.state.failure or "")


# --- retries ---

RETRIED = {
    "call": {
        "type": "activity",
        "activity": "call",
        "retry": {
            "max_attempts": 4,
            "initial_interval": "2s",
            "backoff": 3,
            "max_interval": "10s",
            "jitter": 0.5,
            "non_retryable": ["BadInput"],
        },
        "next": "done",
    },
    "done": {"type": "end", "output": "${steps.call.output}"},
}


def test_a_failed_attempt_is_retried_after_its_back_off_and_not_before() -> None:
    worker = Worker(RETRIED, "call", {"call": flaky(2)})
    worker.do(lambda i: i.start({}))
    worker.run_due()  # attempt 1 fails
    [retry] = worker.tasks
    assert (retry.kind, retry.attempt) == ("activity", 2)
    assert retry.due == worker.clock.now() + timedelta(seconds=2)  # initial interval
    worker.clock.advance(1.9)
    assert worker.run_due() == 0  # not yet due
    worker.clock.advance(0.1)
    worker.run_due()  # attempt 2 fails
    [retry] = worker.tasks
    assert retry.due == worker.clock.now() + timedelta(seconds=6)  # 2 s x backoff 3
    worker.clock.advance(6)
    worker.run_due()  # attempt 3 succeeds
    assert worker.state.status is RunStatus.COMPLETED
    assert worker.state.output == {"calls": 3}
    scheduled = [e.data for e in worker.events if e.type is EventType.RETRY_SCHEDULED]
    assert scheduled == [{"attempt": 2, "delay": 2.0}, {"attempt": 3, "delay": 6.0}]


def test_back_off_is_capped_and_jitter_comes_from_the_random_number_given() -> None:
    low = Worker(RETRIED, "call", {"call": flaky(3)}, rng=0.0)
    low.do(lambda i: i.start({}))
    for _ in range(4):
        low.run_due()
        low.clock.advance(60)
    delays = [e.data["delay"] for e in low.events if e.type is EventType.RETRY_SCHEDULED]
    # 2, 6, then 18 capped at 10; jitter 0.5 with random 0.0 takes half of each off.
    assert delays == [1.0, 3.0, 5.0]
    assert low.state.status is RunStatus.COMPLETED


def test_attempts_run_out_and_the_run_fails_with_the_last_error() -> None:
    worker = Worker(RETRIED, "call", {"call": flaky(10)})
    worker.do(lambda i: i.start({}))
    for _ in range(4):
        worker.run_due()
        worker.clock.advance(60)
    assert [name for name, _ in worker.calls] == ["call"] * 4
    assert worker.state.status is RunStatus.FAILED
    assert worker.state.failure == "step 'call' failed: IOError: attempt 4 failed"
    assert worker.tasks == []


@pytest.mark.parametrize(
    "failure", [Failure("BadInput"), Failure("IOError", "refused", retryable=False)]
)
def test_a_non_retryable_failure_is_not_retried(failure: Failure) -> None:
    def refuse(_: Any) -> Any:
        raise failure

    worker = Worker(RETRIED, "call", {"call": refuse})
    worker.do(lambda i: i.start({}))
    worker.run_due()
    assert len(worker.calls) == 1 and "RetryScheduled" not in worker.types()
    assert worker.state.status is RunStatus.FAILED


# --- on_error and compensation ---


def test_on_error_continue_and_goto() -> None:
    steps = {
        "try": {
            "type": "activity",
            "activity": "bad",
            "on_error": "continue",
            "next": "other",
            "retry": ONCE,
        },
        "other": {
            "type": "activity",
            "activity": "bad",
            "on_error": {"goto": "rescue"},
            "next": "done",
            "retry": ONCE,
        },
        "rescue": {"type": "end", "output": "rescued"},
        "done": {"type": "end", "output": "done"},
    }
    worker = Worker(steps, "try", {"bad": flaky(99, "Boom")})
    worker.do(lambda i: i.start({}))
    worker.run_due()
    assert worker.state.status is RunStatus.COMPLETED and worker.state.output == "rescued"
    completed = [e for e in worker.events if e.type is EventType.ACTIVITY_COMPLETED]
    assert [(e.step, e.data["error"]) for e in completed] == [
        ("try", "Boom: attempt 1 failed"),
        ("other", "Boom: attempt 2 failed"),
    ]


def test_a_failing_run_compensates_completed_steps_newest_first() -> None:
    steps = {
        "reserve": {"type": "activity", "activity": "ok", "compensate": "release", "next": "pay"},
        "pay": {"type": "activity", "activity": "ok", "compensate": "refund", "next": "ship"},
        "ship": {"type": "activity", "activity": "bad", "next": "done", "retry": ONCE},
        **END,
    }
    worker = Worker(steps, "reserve", {"ok": lambda _: 1, "bad": flaky(9, "Broken")})
    worker.do(lambda i: i.start({}))
    worker.run_due()
    assert [name for name, _ in worker.calls] == ["ok", "ok", "bad", "refund", "release"]
    closing = [t for t in worker.types() if t.startswith(("Compensation", "Run"))]
    assert closing[-4:] == [
        "CompensationStarted",
        "CompensationCompleted",
        "CompensationCompleted",
        "RunFailed",
    ]
    assert worker.events[-1].data["compensated"] is True
    assert worker.state.failure == "step 'ship' failed: Broken: attempt 1 failed"


# --- timers ---


def test_a_timer_fires_when_the_clock_reaches_it() -> None:
    steps = {
        "pause": {"type": "timer", "duration": "5m", "next": "done"},
        "done": {"type": "end"},
    }
    worker = Worker(steps, "pause")
    started = worker.do(lambda i: i.start({}))
    [timer] = started.tasks
    assert (timer.kind, timer.due) == ("timer", worker.clock.now() + timedelta(minutes=5))
    assert worker.events[-1].data == {"seconds": 300.0}
    worker.clock.advance(minutes=4, seconds=59)
    assert worker.run_due() == 0 and worker.state.status is RunStatus.RUNNING
    worker.clock.advance(1)
    assert worker.run_due() == 1
    assert worker.types()[-3:] == ["TimerFired", "EndReached", "RunCompleted"]


def test_a_timer_until_a_past_time_is_due_at_once() -> None:
    steps = {
        "pause": {"type": "timer", "until": "input.at", "next": "done"},
        "done": {"type": "end"},
    }
    worker = Worker(steps, "pause")
    worker.do(lambda i: i.start({"at": "2020-01-01T00:00:00Z"}))
    assert worker.tasks[0].due == worker.clock.now()
    assert worker.run_due() == 1 and worker.state.status is RunStatus.COMPLETED


def test_a_timer_that_fired_once_does_not_fire_again() -> None:
    worker = Worker({"pause": {"type": "timer", "duration": "1s", "next": "done"}, **END}, "pause")
    worker.do(lambda i: i.start({}))
    worker.clock.advance(1)
    worker.run_due()
    assert worker.do(lambda i: i.timer_fired("pause")).events == []


# --- signals and waits ---

WAIT = {
    "hear": {
        "type": "wait",
        "signal": "ack",
        "timeout": "10m",
        "on_timeout": "late",
        "next": "done",
    },
    "late": {"type": "end", "output": "timed out"},
    "done": {"type": "end", "output": "${steps.hear.output}"},
}


def test_a_signal_wakes_the_wait_with_its_payload() -> None:
    worker = Worker(WAIT, "hear")
    started = worker.do(lambda i: i.start({}))
    assert worker.state.waiting_for == {"ack": "hear"}
    assert [(t.kind, t.due) for t in started.tasks] == [
        ("wait_timeout", worker.clock.now() + timedelta(minutes=10))
    ]
    assert worker.do(lambda i: i.signal("ack", {"by": "dana"})).finished
    assert worker.state.output == {"by": "dana"}
    worker.clock.advance(minutes=11)
    worker.run_due()  # the timeout falls due after the signal: nothing happens
    assert worker.types().count("WaitTimedOut") == 0


def test_a_signal_that_arrives_first_is_kept_for_the_wait() -> None:
    steps = {
        "work": {"type": "activity", "activity": "x", "next": "hear"},
        **{k: v for k, v in WAIT.items() if k != "hear"},
        "hear": WAIT["hear"],
    }
    worker = Worker(steps, "work")
    worker.do(lambda i: i.start({}))
    kept = worker.do(lambda i: i.signal("ack", 42))
    assert not kept.finished and worker.state.signals == {"ack": [42]}
    worker.run_due()  # the activity ends; the wait finds the signal at once
    assert worker.state.status is RunStatus.COMPLETED and worker.state.output == 42
    [received] = [e for e in worker.events if e.step == "hear" and e.type.value == "SignalReceived"]
    assert received.data["consumed_signal"] == "ack"


def test_an_unrelated_signal_does_not_wake_the_wait() -> None:
    worker = Worker(WAIT, "hear")
    worker.do(lambda i: i.start({}))
    assert not worker.do(lambda i: i.signal("other", 1)).finished
    assert worker.state.status is RunStatus.RUNNING


def test_a_wait_times_out_to_its_on_timeout_step() -> None:
    worker = Worker(WAIT, "hear")
    worker.do(lambda i: i.start({}))
    worker.clock.advance(minutes=9)
    assert worker.run_due() == 0
    worker.clock.advance(minutes=1)
    assert worker.run_due() == 1
    assert worker.state.output == "timed out"
    assert ("WaitTimedOut", "hear") in worker.steps_taken()


def test_a_wait_without_on_timeout_fails_the_run_when_it_times_out() -> None:
    steps = {
        "hear": {"type": "wait", "signal": "ack", "timeout": "1s", "next": "done"},
        "done": {"type": "end"},
    }
    worker = Worker(steps, "hear")
    worker.do(lambda i: i.start({}))
    worker.clock.advance(1)
    worker.run_due()
    assert worker.state.status is RunStatus.FAILED
    assert worker.state.failure == "step 'hear' timed out waiting"


def test_a_wait_on_an_event_waits_for_the_rendered_topic() -> None:
    steps = {
        "hear": {"type": "wait", "event": "areas/${input.area}/ack", "next": "done"},
        "done": {"type": "end", "output": "${steps.hear.output}"},
    }
    worker = Worker(steps, "hear")
    started = worker.do(lambda i: i.start({"area": "north"}))
    assert started.tasks == []  # no timeout: waits as long as it takes
    assert worker.state.waiting_for == {"event:areas/north/ack": "hear"}
    worker.do(lambda i: i.signal("event:areas/north/ack", {"ok": True}))
    assert worker.state.output == {"ok": True}


# --- user tasks ---


def test_a_user_task_is_created_with_its_due_time_and_completed_with_values() -> None:
    steps = {
        "approve": {
            "type": "user_task",
            "title": "Approve ${input.what}",
            "assignee": "${input.who}",
            "candidate_groups": ["engineers"],
            "due": "1h",
            "form": [{"id": "ok", "type": "boolean", "required": True}],
            "next": "done",
        },
        "done": {"type": "end", "output": "${steps.approve.output}"},
    }
    worker = Worker(steps, "approve")
    worker.do(lambda i: i.start({"what": "the batch", "who": "dana"}))
    [task] = worker.user_tasks
    assert (task.title, task.assignee, task.candidate_groups) == (
        "Approve the batch",
        "dana",
        ["engineers"],
    )
    assert task.due == worker.clock.now() + timedelta(hours=1)
    assert [f["id"] for f in task.form] == ["ok"]
    worker.clock.advance(minutes=5)
    done = worker.do(lambda i: i.user_task_completed("approve", {"ok": True}, "dana"))
    assert done.finished and worker.state.output == {"ok": True}
    assert worker.events[-3].data == {"output": {"ok": True}, "by": "dana"}
    assert worker.events[-3].ts == worker.clock.now()


# --- time comes from the caller only ---


def test_every_event_is_stamped_with_the_time_the_caller_gave() -> None:
    worker = Worker(
        {
            "a": {"type": "activity", "activity": "x", "next": "pause"},
            "pause": {"type": "timer", "duration": "30s", "next": "done"},
            "done": {"type": "end"},
        },
        "a",
    )
    start = worker.clock.now()
    worker.do(lambda i: i.start({}))
    worker.clock.advance(3)
    worker.run_due()
    worker.clock.advance(30)
    worker.run_due()
    stamps = {e.type.value: e.ts - start for e in worker.events}
    assert stamps["RunStarted"] == timedelta(0)
    assert stamps["ActivityCompleted"] == timedelta(seconds=3)
    assert stamps["TimerFired"] == timedelta(seconds=33)
    assert stamps["RunCompleted"] == timedelta(seconds=33)
