"""The interpreter: given a run's state and what just happened, the events to record and the
work to schedule. Pure: no clock, no I/O, no randomness of its own (all passed in).

Steps that need no waiting (decision, end, the entry of a parallel) are taken at once, in
the same transition; the others leave a task (activity, timer, wait timeout), a user task
or a child run behind and end the transition.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.engine.expressions import compile_template
from hub.engine.history import Event, EventType, RunState, RunStatus, apply
from hub.engine.tables import decide

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
class ChildRef:
    """A subworkflow step's workflow, resolved to a version, and its child run's id."""

    workflow: str
    version: str
    run_id: str


@dataclass(frozen=True)
class NewChildRun:
    step: str
    workflow: str
    input: Any
    version: str = ""
    run_id: str = ""


@dataclass(frozen=True)
class ChildCancel:
    """A child run to cancel because its parent closed or abandoned it."""

    step: str
    run_id: str
    reason: str


@dataclass
class Transition:
    events: list[Event] = field(default_factory=list)
    tasks: list[ScheduledTask] = field(default_factory=list)
    user_tasks: list[NewUserTask] = field(default_factory=list)
    children: list[NewChildRun] = field(default_factory=list)
    cancel_children: list[ChildCancel] = field(default_factory=list)
    finished: bool = False
    # concurrency `from`: "requested" when the run reached its key's step (it asks for a
    # slot; the committer decides under the key's lock), "taken" when it takes the slot.
    slot: str | None = None


class StepFailure(Exception):
    """A step could not be taken (bad expression at run time, no matching case)."""


class Interpreter:
    def __init__(
        self,
        definition: Any,
        state: RunState,
        now: datetime,
        rng: Callable[[], float] = random.random,
        children: Mapping[str, ChildRef | str] | None = None,
    ) -> None:
        """`children`: for each subworkflow step the run may enter now, its resolved
        workflow and new run id, or why it cannot be resolved (the step then fails)."""
        self.definition = definition
        self.children = children or {}
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

    def slot_taken(self) -> Transition:
        """The run was given a slot of its concurrency key: enter the step it waits at
        (nothing if it waits at none: a spent task)."""
        step = self.state.slot_step
        if self.state.slot != "requested" or step is None or self.state.status.finished:
            return self.out
        self._record(EventType.SLOT_TAKEN, step)
        self.out.slot = "taken"
        self._enter(step)
        return self.out

    def activity_started(self, step: str, at: datetime | None = None) -> Transition:
        """Recorded with the attempt's outcome, stamped with when the attempt began."""
        self._record(EventType.ACTIVITY_STARTED, step, at=at, attempt=self.state.step(step).attempt)
        return self.out

    def activity_succeeded(self, step: str, output: Any) -> Transition:
        if self.state.compensating is None and step not in self.state.active:
            return self.out  # the step was abandoned (its parallel joined without it)
        if self.state.compensating is not None:
            self._record(EventType.COMPENSATION_COMPLETED, step, **self._hold())
            self._go_on(self._compensate_next)
            return self.out
        self._record(
            EventType.ACTIVITY_COMPLETED,
            step,
            output=output,
            attempt=self.state.step(step).attempt,
            **self._hold(),
        )
        self._go_on(lambda: self._after(step))
        return self.out

    def activity_failed(
        self,
        step: str,
        error_type: str,
        message: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> Transition:
        if self.state.compensating is None and step not in self.state.active:
            return self.out
        if self.state.compensating is not None:
            # A compensation that fails is recorded and skipped: the saga keeps unwinding.
            self._record(
                EventType.COMPENSATION_COMPLETED,
                step,
                error=f"{error_type}: {message}",
                **self._hold(),
            )
            self._go_on(self._compensate_next)
            return self.out
        attempt = self.state.step(step).attempt
        held = self._hold(retryable=retryable)
        if retry_after is not None:
            held["retry_after"] = round(max(0.0, retry_after), 3)
        self._record(
            EventType.ACTIVITY_FAILED,
            step,
            attempt=attempt,
            error_type=error_type,
            message=message,
            **held,
        )
        self._go_on(lambda: self._after_failure(step, error_type, message, retryable, retry_after))
        return self.out

    def _after_failure(
        self,
        step: str,
        error_type: str,
        message: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        """Retry the failed attempt (not before the other side's Retry-After, within the
        step's max_interval), or hand the failure to the step's error policy."""
        retry = self.definition.steps[step].retry
        attempt = self.state.step(step).attempt
        if retryable and retry.retries(attempt, error_type):
            delay = retry.delay(attempt, self.rng())
            if retry_after:
                delay = max(delay, min(retry_after, retry.max_interval))
            self._record(
                EventType.RETRY_SCHEDULED, step, attempt=attempt + 1, delay=round(delay, 3)
            )
            self._task("activity", step, attempt + 1, delay)
            return
        self._on_error(step, f"{error_type}: {message}")

    def timer_fired(self, step: str) -> Transition:
        if self.state.step(step).status == "waiting":
            self._record(EventType.TIMER_FIRED, step, **self._hold())
            self._go_on(lambda: self._after(step))
        return self.out

    def signal(self, name: str, payload: Any) -> Transition:
        waiter = self.state.waiting_for.get(name)
        if waiter is None:  # kept until a wait step asks for it
            self._record(EventType.SIGNAL_RECEIVED, None, name=name, payload=payload)
            return self.out
        self._record(
            EventType.SIGNAL_RECEIVED,
            waiter,
            name=name,
            payload=payload,
            output=payload,
            **self._hold(),
        )
        self._go_on(lambda: self._after(waiter))
        return self.out

    def wait_timed_out(self, step: str) -> Transition:
        if self.state.step(step).status != "waiting":
            return self.out
        self._record(EventType.WAIT_TIMED_OUT, step, output=None, **self._hold())
        self._go_on(lambda: self._after_timeout(step))
        return self.out

    def _after_timeout(self, step: str) -> None:
        target = getattr(self.definition.steps[step], "on_timeout", None)
        if target:
            self._continue_to(step, target)
        else:
            self._fail(f"step {step!r} timed out waiting")

    def user_task_completed(self, step: str, values: dict[str, Any], by: str) -> Transition:
        self._record(EventType.USER_TASK_COMPLETED, step, output=values, by=by, **self._hold())
        self._go_on(lambda: self._after(step))
        return self.out

    def child_finished(self, step: str, status: str, output: Any, error: str | None) -> Transition:
        if self.state.step(step).status != "waiting":
            return self.out  # abandoned (a joined parallel) or already told
        if status == RunStatus.COMPLETED.value:
            self._record(
                EventType.CHILD_FINISHED, step, output=output, status=status, **self._hold()
            )
            self._go_on(lambda: self._after(step))
        else:
            reason = f"child run {status}: {error or ''}".strip()
            self._record(
                EventType.CHILD_FINISHED,
                step,
                output=None,
                status=status,
                error=error,
                **self._hold(reason=reason),
            )
            self._go_on(lambda: self._on_error(step, reason))
        return self.out

    def cancel(self, reason: str) -> Transition:
        self._close_children(f"parent run {self.state.run_id} was cancelled")
        self._record(EventType.RUN_CANCELLED, None, reason=reason)
        self.out.finished = True
        return self.out

    def suspend(self) -> Transition:
        self._record(EventType.RUN_SUSPENDED)
        return self.out

    def resume(self) -> Transition:
        """Resume, then continue what was recorded while the run was held, in order."""
        held = list(self.state.held)
        self._record(EventType.RUN_RESUMED)
        for event in held:
            if self.state.status.finished:
                break
            self._continue_held(event)
        return self.out

    # --- holding a suspended run ---

    def _hold(self, **continuation: Any) -> dict[str, Any]:
        """Extra data for an outcome recorded while suspended: it is kept, with what its
        continuation needs, and continued on resume (nothing moves while suspended)."""
        if self.state.status is RunStatus.SUSPENDED:
            return {"held": True, **continuation}
        return {}

    def _go_on(self, continuation: Callable[[], None]) -> None:
        if self.state.status is not RunStatus.SUSPENDED:
            continuation()

    def _continue_held(self, event: Any) -> None:
        step, data = event.step, event.data
        kind = event.type
        if kind is EventType.COMPENSATION_COMPLETED:
            self._compensate_next()
        elif kind is EventType.ACTIVITY_FAILED:
            self._after_failure(
                step,
                data["error_type"],
                data["message"],
                bool(data.get("retryable")),
                data.get("retry_after"),
            )
        elif kind is EventType.WAIT_TIMED_OUT:
            self._after_timeout(step)
        elif kind is EventType.CHILD_FINISHED and data.get("status") != RunStatus.COMPLETED:
            self._on_error(step, str(data.get("reason") or "child run failed"))
        else:  # completed activity, fired timer, received signal, completed task or child
            self._after(step)

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
        if self.state.keyed and self.state.slot is None and self._holds_from(step_id):
            # The run holds its key from this step: ask for a slot and stop here; the
            # step is entered by `slot_taken` (a "slot" task, given when one is free).
            self._record(EventType.SLOT_REQUESTED, step_id)
            self.out.slot = "requested"
            self._task("slot", None, 1)
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

    def _holds_from(self, step_id: str) -> bool:
        concurrency = getattr(self.definition, "concurrency", None)
        return concurrency is not None and concurrency.from_step == step_id

    def _enter_activity(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        value = spec.input.render(context) if spec.input is not None else None
        self._record(EventType.STEP_SCHEDULED, step_id, input=value, activity=spec.activity)
        self._task("activity", step_id, 1)

    def _enter_decision(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        outcome = decide(spec, context)  # hub/engine/tables.py
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
        child = self.children.get(step_id)
        if not isinstance(child, ChildRef):  # nothing matches (any more): the step fails
            self._record(EventType.STEP_SCHEDULED, step_id, input=value)
            reason = child or f"workflow {spec.workflow!r} could not be resolved"
            self._record(EventType.ACTIVITY_FAILED, step_id, attempt=1,
                         error_type="WorkflowNotFound", message=reason)  # fmt: skip
            self._on_error(step_id, f"WorkflowNotFound: {reason}")
            return
        self._record(
            EventType.CHILD_STARTED,
            step_id,
            workflow=child.workflow,
            version=child.version,
            run_id=child.run_id,
            input=value,
        )
        self.out.children.append(
            NewChildRun(step_id, child.workflow, value, child.version, child.run_id)
        )

    def _enter_end(self, step_id: str, spec: Any, context: dict[str, Any], depth: int) -> None:
        output = spec.output.render(context) if spec.output is not None else None
        self._record(EventType.END_REACHED, step_id, output=output)
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
            self._close_children(
                f"parallel step {parent!r} of run {self.state.run_id} joined without it",
                [m for b in group.branches for m in b],
            )
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
        self._close_children(f"parent run {self.state.run_id} failed")
        self._record(EventType.RUN_FAILED, None, error=message)
        self.out.finished = True

    def _compensate_next(self) -> None:
        pending = self.state.compensating or []
        if pending:
            self._task("compensate", pending[0], 1)
            return
        self._close_children(f"parent run {self.state.run_id} failed")
        self._record(EventType.RUN_FAILED, None, error=self.state.failure, compensated=True)
        self.out.finished = True

    def _complete(self, output: Any) -> None:
        if not self.state.status.finished:
            self._close_children(f"parent run {self.state.run_id} completed without it")
            self._record(EventType.RUN_COMPLETED, None, output=output)
            self.out.finished = True

    def _close_children(self, reason: str, among: list[str] | None = None) -> None:
        """Child runs still running when their parent closes (or a parallel joins without
        them) are cancelled: Temporal's default parent-close policy, not orphans."""
        for step in sorted(self.state.active if among is None else among):
            s = self.state.steps.get(step)
            if s is None or s.status != "waiting" or not s.child_run:
                continue
            self._record(EventType.CHILD_CANCEL_REQUESTED, step, run_id=s.child_run, reason=reason)
            self.out.cancel_children.append(ChildCancel(step, s.child_run, reason))


def _form_field(field_spec: Any) -> dict[str, Any]:
    value = dataclasses.asdict(field_spec)
    value["options"] = list(value.get("options") or ())
    return {k: v for k, v in value.items() if v is not None or k == "default"}
