"""Run history: the append-only event list, and the run state folded from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    RUN_STARTED = "RunStarted"
    STEP_SCHEDULED = "StepScheduled"
    ACTIVITY_STARTED = "ActivityStarted"
    ACTIVITY_COMPLETED = "ActivityCompleted"
    ACTIVITY_FAILED = "ActivityFailed"
    RETRY_SCHEDULED = "RetryScheduled"
    TIMER_STARTED = "TimerStarted"
    TIMER_FIRED = "TimerFired"
    WAIT_STARTED = "WaitStarted"
    WAIT_TIMED_OUT = "WaitTimedOut"
    SIGNAL_RECEIVED = "SignalReceived"
    USER_TASK_CREATED = "UserTaskCreated"
    USER_TASK_COMPLETED = "UserTaskCompleted"
    DECISION_TAKEN = "DecisionTaken"
    BRANCH_STARTED = "BranchStarted"
    BRANCH_JOINED = "BranchJoined"
    CHILD_STARTED = "ChildStarted"
    CHILD_FINISHED = "ChildFinished"
    CHILD_CANCEL_REQUESTED = "ChildCancelRequested"
    END_REACHED = "EndReached"
    COMPENSATION_STARTED = "CompensationStarted"
    COMPENSATION_COMPLETED = "CompensationCompleted"
    RUN_SUSPENDED = "RunSuspended"
    RUN_RESUMED = "RunResumed"
    RUN_CANCELLED = "RunCancelled"
    RUN_COMPLETED = "RunCompleted"
    RUN_FAILED = "RunFailed"
    RUN_MIGRATED = "RunMigrated"
    # concurrency ``from``: the run reached its key's step and asks for a slot (it waits
    # there, queued, until it takes one); the run took the slot and enters the step.
    SLOT_REQUESTED = "SlotRequested"
    SLOT_TAKEN = "SlotTaken"


class RunStatus(StrEnum):
    # waiting for a slot of its concurrency key: created (no history yet), or stopped at
    # the key's `from` step (SlotRequested, no SlotTaken yet)
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


@dataclass(frozen=True)
class Event:
    type: EventType
    step: str | None
    data: dict[str, Any]
    ts: datetime
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type.value,
            "step": self.step,
            "data": self.data,
            "ts": self.ts.isoformat().replace("+00:00", "Z"),
        }


@dataclass
class StepState:
    status: str = "pending"  # scheduled | running | waiting | completed | failed
    attempt: int = 0
    input: Any = None
    output: Any = None
    error: str | None = None
    scheduled_seq: int = 0  # the StepScheduled event of the current pass (loops pass again)
    child_run: str | None = None  # a subworkflow step's child run


@dataclass
class ParallelState:
    branches: list[list[str]]
    position: list[int]  # index of the running step within each branch
    done: set[int] = field(default_factory=set)
    joined: bool = False


@dataclass
class RunState:
    run_id: str
    tenant: str
    workflow: str
    version: str
    input: Any = None
    status: RunStatus = RunStatus.RUNNING
    started_at: datetime | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    completed_order: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, list[Any]] = field(default_factory=dict)  # received, not yet consumed
    waiting_for: dict[str, str] = field(default_factory=dict)  # signal name -> wait step
    wait_match: dict[str, Any] = field(default_factory=dict)  # wait step -> its match
    parallel: dict[str, ParallelState] = field(default_factory=dict)
    branch_of: dict[str, tuple[str, int]] = field(default_factory=dict)
    compensating: list[str] | None = None
    # Outcomes recorded while the run was suspended, continued when it resumes.
    held: list[Event] = field(default_factory=list)
    failure: str | None = None
    output: Any = None
    next_seq: int = 1
    # Concurrency keys: whether the run has a key (set from its row, not its history),
    # and for a definition with `concurrency.from`, where it is with its slot: None
    # (not reached), "requested" (waiting at `slot_step`), "taken" (holds it).
    keyed: bool = False
    slot: str | None = None
    slot_step: str | None = None

    def step(self, step_id: str) -> StepState:
        return self.steps.setdefault(step_id, StepState())

    def context(self) -> dict[str, Any]:
        """What expressions see."""
        return {
            "input": self.input,
            "steps": {k: _step_view(v) for k, v in self.steps.items() if v.status == "completed"},
            "vars": self.vars,
            "run": {
                "id": self.run_id,
                "tenant": self.tenant,
                "started_at": self.started_at.isoformat() if self.started_at else None,
            },
        }


def apply(state: RunState, event: Event) -> None:
    """Fold one event into the state. Pure bookkeeping: decisions live in the interpreter."""
    kind, step, data = event.type, event.step, event.data
    state.next_seq = max(state.next_seq, event.seq + 1)
    if data.get("held"):
        state.held.append(event)
    if kind is EventType.RUN_STARTED:
        state.input = data.get("input")
        state.started_at = event.ts
        if state.status is RunStatus.QUEUED:
            state.status = RunStatus.RUNNING
    elif kind is EventType.STEP_SCHEDULED and step:
        s = state.step(step)
        s.status, s.attempt, s.input, s.error = "scheduled", 1, data.get("input"), None
        s.scheduled_seq = event.seq
        state.active.add(step)
    elif kind is EventType.ACTIVITY_STARTED and step:
        state.step(step).status = "running"
    elif kind is EventType.RETRY_SCHEDULED and step:
        state.step(step).attempt = int(data["attempt"])
        state.step(step).status = "scheduled"
    elif kind is EventType.ACTIVITY_FAILED and step:
        state.step(step).error = data.get("message")
    elif (
        kind
        in (
            EventType.TIMER_STARTED,
            EventType.WAIT_STARTED,
            EventType.USER_TASK_CREATED,
            EventType.CHILD_STARTED,
        )
        and step
    ):
        state.step(step).status = "waiting"
        state.active.add(step)
        if kind is EventType.CHILD_STARTED:
            state.step(step).child_run = data.get("run_id")
        if kind is EventType.WAIT_STARTED and data.get("signal"):
            state.waiting_for[data["signal"]] = step
            if "match" in data:
                state.wait_match[step] = data["match"]
    elif kind is EventType.SIGNAL_RECEIVED and step:
        _complete(state, step, data)
    elif kind is EventType.SIGNAL_RECEIVED:
        state.signals.setdefault(data["name"], []).append(data.get("payload"))
    elif (
        kind
        in (
            EventType.ACTIVITY_COMPLETED,
            EventType.TIMER_FIRED,
            EventType.WAIT_TIMED_OUT,
            EventType.USER_TASK_COMPLETED,
            EventType.DECISION_TAKEN,
            EventType.CHILD_FINISHED,
            EventType.BRANCH_JOINED,
            EventType.END_REACHED,
        )
        and step
    ):
        _complete(state, step, data)
    elif kind is EventType.BRANCH_STARTED and step:
        state.parallel[step] = ParallelState(
            [list(b) for b in data["branches"]], [0] * len(data["branches"])
        )
        for index, branch in enumerate(data["branches"]):
            for member in branch:
                state.branch_of[member] = (step, index)
        state.step(step).status = "waiting"
        state.active.add(step)
    elif kind is EventType.COMPENSATION_STARTED:
        if state.compensating is None:
            state.compensating = list(data.get("steps", []))
            state.failure = data.get("error")
    elif kind is EventType.COMPENSATION_COMPLETED and step and state.compensating:
        if step in state.compensating:
            state.compensating.remove(step)
    elif kind is EventType.SLOT_REQUESTED and step:
        state.slot, state.slot_step = "requested", step
        state.step(step).status = "queued"
        state.active.add(step)
        if not state.status.finished and state.status is not RunStatus.SUSPENDED:
            state.status = RunStatus.QUEUED
    elif kind is EventType.SLOT_TAKEN and step:
        state.slot = "taken"
        state.step(step).status = "pending"  # entered next, in the same transition
        state.active.discard(step)
        if state.status is RunStatus.QUEUED:
            state.status = RunStatus.RUNNING
    elif kind is EventType.RUN_SUSPENDED:
        state.status = RunStatus.SUSPENDED
    elif kind is EventType.RUN_RESUMED:
        state.status = RunStatus.RUNNING
        state.held.clear()  # the resume continues them in the same transition
    elif kind is EventType.RUN_COMPLETED:
        state.status, state.output = RunStatus.COMPLETED, data.get("output")
        state.active.clear()
    elif kind is EventType.RUN_FAILED:
        state.status, state.failure = RunStatus.FAILED, data.get("error")
        state.active.clear()
    elif kind is EventType.RUN_CANCELLED:
        state.status = RunStatus.CANCELLED
        state.active.clear()


def _complete(state: RunState, step: str, data: dict[str, Any]) -> None:
    s = state.step(step)
    s.status = "completed"
    s.output = data.get("output")
    s.error = data.get("error")
    state.active.discard(step)
    state.completed_order.append(step)
    if step in state.branch_of:
        parent, index = state.branch_of[step]
        group = state.parallel[parent]
        group.position[index] = group.branches[index].index(step) + 1
        if group.position[index] >= len(group.branches[index]):
            group.done.add(index)
    if step in state.parallel:  # joined: whatever still runs in its branches is abandoned
        group = state.parallel[step]
        group.joined = True
        for member in (m for branch in group.branches for m in branch):
            if state.step(member).status != "completed":
                state.step(member).status = "abandoned"
                state.active.discard(member)
    for name, waiter in list(state.waiting_for.items()):
        if waiter == step:
            del state.waiting_for[name]
    if "consumed_signal" in data:
        queue = state.signals.get(data["consumed_signal"], [])
        if queue:
            queue.pop(0)


def fold(run_id: str, tenant: str, workflow: str, version: str, events: list[Event]) -> RunState:
    state = RunState(run_id, tenant, workflow, version)
    for event in events:
        apply(state, event)
    return state


def _step_view(step: StepState) -> dict[str, Any]:
    """A completed step as expressions see it: its output, and the failure it completed
    with under `on_error: continue`/`goto` ("PreconditionFailed: ..."), so a later step
    can tell a stale ETag from a missing entity: has(steps.update.error)."""
    if step.error is None:
        return {"output": step.output}
    return {"output": step.output, "error": step.error}
