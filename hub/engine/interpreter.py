"""The interpreter: given a run's state and what just happened, the events to record and the
work to schedule. Pure: no clock, no I/O, no randomness of its own (all passed in).

Steps that need no waiting (decision, end, the entry of a parallel) are taken at once, in
the same transition; the others leave a task (activity, timer, wait timeout), a user task
or a child run behind and end the transition.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.engine.expressions import compile_template
from hub.engine.history import Event, EventType, RunState, RunStatus, apply

MAX_INLINE_STEPS = 1000  # decisions chained without waiting; validation forbids busy loops


@dataclass(frozen=True)
class ScheduledTask:
    kind: str  # activity | timer | wait_timeout | compensate
    step: str | None
    attempt: int
    due: datetime


@dataclass(frozen=True)
class NewUserTask:
    step: str
    title: str
    form: list[dict[str, Any]]
    assignee: str | None
    candidate_groups: list[str]
    due: datetime | None


@dataclass(frozen=True)
class NewChildRun:
    step: str
    workflow: str
    input: Any


@dataclass
class Transition:
    events: list[Event] = field(default_factory=list)
    tasks: list[ScheduledTask] = field(default_factory=list)
    user_tasks: list[NewUserTask] = field(default_factory=list)
    children: list[NewChildRun] = field(default_factory=list)
    finished: bool = False


class StepFailure(Exception):
    """A step could not be taken (bad expression at run time, no matching case)."""


class Interpreter:
    def __init__(
        self,
        definition: Any,
        state: RunState,
        now: datetime,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.definition = definition
        self.state = state
        variables = getattr(definition, "vars", None)
        if variables and not state.vars:
            state.vars = dict(variables)
        self.now = now
        self.rng = rng
        self.out = Transition()

    # --- recording ---

    def _record(
        self, kind: EventType, step: str | None = None, *, at: datetime | None = None, **data: Any
    ) -> None:
        event = Event(kind, step, data, at or self.now, self.state.next_seq)
        apply(self.state, event)
        self.out.events.append(event)

    def _task(self, kind: str, step: str | None, attempt: int, delay: float = 0.0) -> None:
        due = self.now + timedelta(seconds=delay)
        self.out.tasks.append(ScheduledTask(kind, step, attempt, due))

    # --- entry points ---

    def start(self, run_input: Any) -> Transition:
        self._record(
            EventType.RUN_STARTED,
            input=run_input,
            workflow=self.state.workflow,
            version=self.state.version,
        )
        self._enter(self.definition.start)
        return self.out

    def activity_started(self, step: str, at: datetime | None = None) -> Transition:
        """Recorded with the attempt's outcome, stamped with when the attempt began."""
        self._record(EventType.ACTIVITY_STARTED, step, at=at, attempt=self.state.step(step).attempt)
        return self.out

    def activity_succeeded(self, step: str, output: Any) -> Transition:
        if self.state.compensating is None and step not in self.state.active:
            return self.out  # the step was abandoned (its parallel joined without it)
        if self.state.compensating is not None:
            self._record(EventType.COMPENSATION_COMPLETED, step)
            self._compensate_next()
            return self.out
        self._record(
            EventType.ACTIVITY_COMPLETED, step, output=output, attempt=self.state.step(step).attempt
        )
        self._after(step)
        return self.out

    def activity_failed(
        self, step: str, error_type: str, message: str, retryable: bool
    ) -> Transition:
        if self.state.compensating is None and step not in self.state.active:
            return self.out
        if self.state.compensating is not None:
            # A compensation that fails is recorded and skipped: the saga keeps unwinding.
            self._record(EventType.COMPENSATION_COMPLETED, step, error=f"{error_type}: {message}")
            self._compensate_next()
            return self.out
        spec = self.definition.steps[step]
        attempt = self.state.step(step).attempt
        self._record(
            EventType.ACTIVITY_FAILED, step, attempt=attempt, error_type=error_type, message=message
        )
        retry = spec.retry
        if retryable and retry.retries(attempt, error_type):
            delay = retry.delay(attempt, self.rng())
            self._record(
                EventType.RETRY_SCHEDULED, step, attempt=attempt + 1, delay=round(delay, 3)
            )
            self._task("activity", step, attempt + 1, delay)
            return self.out
        self._on_error(step, f"{error_type}: {message}")
        return self.out

    def timer_fired(self, step: str) -> Transition:
        if self.state.step(step).status == "waiting":
            self._record(EventType.TIMER_FIRED, step)
            self._after(step)
        return self.out

    def signal(self, name: str, payload: Any) -> Transition:
        waiter = self.state.waiting_for.get(name)
        if waiter is None:  # kept until a wait step asks for it
            self._record(EventType.SIGNAL_RECEIVED, None, name=name, payload=payload)
            return self.out
        self._record(EventType.SIGNAL_RECEIVED, waiter, name=name, payload=payload, output=payload)
        self._after(waiter)
        return self.out

    def wait_timed_out(self, step: str) -> Transition:
        if self.state.step(step).status != "waiting":
            return self.out
        self._record(EventType.WAIT_TIMED_OUT, step, output=None)
        spec = self.definition.steps[step]
        target = getattr(spec, "on_timeout", None)
        if target:
            self._continue_to(step, target)
        else:
            self._fail(f"step {step!r} timed out waiting")
        return self.out

    def user_task_completed(self, step: str, values: dict[str, Any], by: str) -> Transition:
        self._record(EventType.USER_TASK_COMPLETED, step, output=values, by=by)
        self._after(step)
        return self.out

    def child_finished(self, step: str, status: str, output: Any, error: str | None) -> Transition:
        if status == RunStatus.COMPLETED.value:
            self._record(EventType.CHILD_FINISHED, step, output=output, status=status)
            self._after(step)
        else:
            self._record(EventType.CHILD_FINISHED, step, output=None, status=status, error=error)
            self._on_error(step, f"child run {status}: {error or ''}".strip())
        return self.out

    def cancel(self, reason: str) -> Transition:
        self._record(EventType.RUN_CANCELLED, None, reason=reason)
        self.out.finished = True
        return self.out

    def suspend(self) -> Transition:
        self._record(EventType.RUN_SUSPENDED)
        return self.out

    def resume(self) -> Transition:
        self._record(EventType.RUN_RESUMED)
        return self.out

    # --- moving through the graph ---

    def _after(self, step: str) -> None:
        """A step finished successfully: continue inside its branch or to its `next`."""
        if step in self.state.branch_of:
            self._branch_step_done(step)
            return
        self._continue_to(step, getattr(self.definition.steps[step], "next", None))

    def _continue_to(self, step: str, target: str | None) -> None:
        if step in self.state.branch_of:
            self._branch_step_done(step)
        elif target:
            self._enter(target)
        elif not self.state.active and not self.state.status.finished:
            self._complete(None)

    def _enter(self, step_id: str, depth: int = 0) -> None:
        if depth > MAX_INLINE_STEPS:
            self._fail(f"more than {MAX_INLINE_STEPS} steps without waiting at {step_id!r}")
            return
        spec = self.definition.steps[step_id]
        context = self.state.context()
        try:
            handler = getattr(self, f"_enter_{spec.type}")
            handler(step_id, spec, context, depth)
        except StepFailure as exc:
            self._fail(f"step {step_id!r}: {exc}")
        except Exception as exc:  # an expression that failed at run time
            self._fail(f"step {step_id!r}: {type(exc).__name__}: {exc}")

    def _enter_activity(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        value = spec.input.render(context) if spec.input is not None else None
        self._record(EventType.STEP_SCHEDULED, step_id, input=value, activity=spec.activity)
        self._task("activity", step_id, 1)

    def _enter_decision(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        outcome = spec.decide(context)
        self._record(EventType.STEP_SCHEDULED, step_id, input=None)
        self._record(EventType.DECISION_TAKEN, step_id, output=outcome.output, next=outcome.next)
        if step_id in self.state.branch_of:
            self._branch_step_done(step_id)
        else:
            self._enter(outcome.next, depth + 1)

    def _enter_timer(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        delay = (spec.fire_at(context, self.now) - self.now).total_seconds()
        self._record(EventType.TIMER_STARTED, step_id, seconds=delay)
        self._task("timer", step_id, 1, max(0.0, delay))

    def _enter_wait(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        name = spec.signal or f"event:{spec.event.render(context)}"
        if spec.match is not None:
            match = spec.match.render(context)
            self._record(
                EventType.WAIT_STARTED, step_id, signal=name, timeout=spec.timeout, match=match
            )
        else:
            self._record(EventType.WAIT_STARTED, step_id, signal=name, timeout=spec.timeout)
        if self.state.signals.get(name):  # it arrived before the run got here
            payload = self.state.signals[name][0]
            self._record(
                EventType.SIGNAL_RECEIVED,
                step_id,
                name=name,
                payload=payload,
                output=payload,
                consumed_signal=name,
            )
            self._after(step_id)
        elif spec.timeout is not None:
            self._task("wait_timeout", step_id, 1, spec.timeout)

    def _enter_user_task(
        self, step_id: str, spec: Any, context: dict[str, Any], depth: int
    ) -> None:
        assignee = spec.assignee.render(context) if spec.assignee is not None else None
        title_template = (
            spec.title if hasattr(spec.title, "render") else compile_template(spec.title)
        )
        title = str(title_template.render(context))
        due = self.now + timedelta(seconds=spec.due) if spec.due else None
        form = [_form_field(f) for f in spec.form]
        self._record(
            EventType.USER_TASK_CREATED,
            step_id,
            title=title,
            assignee=assignee,
            candidate_groups=list(spec.candidate_groups),
        )
        self.out.user_tasks.append(
            NewUserTask(
                step_id,
                title,
                form,
                str(assignee) if assignee else None,
                list(spec.candidate_groups),
                due,
            )
        )

    def _enter_parallel(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        branches = [list(b) for b in spec.branches]
        self._record(EventType.BRANCH_STARTED, step_id, branches=branches)
        for branch in branches:
            self._enter(branch[0], depth + 1)

    def _enter_subworkflow(
        self, step_id: str, spec: Any, context: dict[str, Any], depth: int
    ) -> None:
        value = spec.input.render(context) if spec.input is not None else None
        reference = f"{spec.workflow}@{spec.version_range}" if spec.version_range else spec.workflow
        self._record(EventType.CHILD_STARTED, step_id, workflow=reference, input=value)
        self.out.children.append(NewChildRun(step_id, reference, value))

    def _enter_end(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        output = spec.output.render(context) if spec.output is not None else None
        self._record(EventType.STEP_SCHEDULED, step_id, input=None)
        self._record(EventType.DECISION_TAKEN, step_id, output=output)
        self._complete(output)

    # --- parallel ---

    def _branch_step_done(self, step: str) -> None:
        parent, index = self.state.branch_of[step]
        group = self.state.parallel[parent]
        if group.joined:
            return
        position = group.position[index]  # history has already moved it past `step`
        if position < len(group.branches[index]):
            self._enter(group.branches[index][position])
            return
        spec = self.definition.steps[parent]
        needed = spec.completion.needed(len(group.branches))
        if len(group.done) >= needed:
            group.joined = True
            outputs = {
                s: self.state.steps[s].output
                for b in group.branches
                for s in b
                if self.state.steps.get(s) and self.state.steps[s].status == "completed"
            }
            self._record(
                EventType.BRANCH_JOINED, parent, output=outputs, branches=sorted(group.done)
            )
            self._continue_to(parent, getattr(spec, "next", None))

    # --- failure and compensation ---

    def _on_error(self, step: str, message: str) -> None:
        spec = self.definition.steps[step]
        policy = getattr(spec, "on_error", None)
        action = policy.action if policy is not None else "fail"
        if action == "continue":
            self._record(EventType.ACTIVITY_COMPLETED, step, output=None, error=message)
            self._after(step)
        elif action == "goto" and policy is not None and policy.step:
            self._record(EventType.ACTIVITY_COMPLETED, step, output=None, error=message)
            self.state.branch_of.pop(step, None)
            self._enter(policy.step)
        else:
            self._fail(f"step {step!r} failed: {message}")

    def _fail(self, message: str) -> None:
        done = [
            s
            for s in self.state.completed_order
            if getattr(self.definition.steps.get(s), "compensate", None) is not None
        ]
        if done and self.state.compensating is None:
            self._record(
                EventType.COMPENSATION_STARTED, None, steps=list(reversed(done)), error=message
            )
            self._compensate_next()
            return
        self._record(EventType.RUN_FAILED, None, error=message)
        self.out.finished = True

    def _compensate_next(self) -> None:
        pending = self.state.compensating or []
        if pending:
            self._task("compensate", pending[0], 1)
            return
        self._record(EventType.RUN_FAILED, None, error=self.state.failure, compensated=True)
        self.out.finished = True

    def _complete(self, output: Any) -> None:
        if not self.state.status.finished:
            self._record(EventType.RUN_COMPLETED, None, output=output)
            self.out.finished = True


def _form_field(field_spec: Any) -> dict[str, Any]:
    value = dataclasses.asdict(field_spec)
    value["options"] = list(value.get("options") or ())
    return {k: v for k, v in value.items() if v is not None or k == "default"}
