"""The worker: claims due tasks, runs them through the interpreter, commits each transition.

Each transition commits its history events, the run projection, the tasks it schedules,
user tasks and its audit entry in one transaction. A task is claimed with a lease; the
transition that consumes it deletes it only while this worker still holds the lease, so a
worker whose lease was taken over (it stalled, the process died) cannot commit twice.
Work that a transition makes due at once is leased to this worker in the same commit and
run right away, so a straight run of activities never waits for the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hub.domain.audit import SYSTEM, AuditEvent, Outcome, RequestContext
from hub.domain.errors import NotFound
from hub.domain.ids import new_id
from hub.engine.activities import (
    ActivityContext,
    ActivityError,
    ActivityRegistry,
    NonRetryableError,
    Publish,
)
from hub.engine.expressions import OffLoop, inline_allowance
from hub.engine.history import Event, RunState, RunStatus, fold
from hub.engine.interpreter import ChildRef, Interpreter, Transition
from hub.ports import Clock, EngineMetrics, UnitOfWorkFactory
from hub.services.audit.log import AuditLog
from hub.services.offload import INLINE_CPU_SECONDS, evaluate_bounded
from hub.services.workflows.commits import Claimed, TransitionCommitter
from hub.services.workflows.definitions import DefinitionCache
from hub.services.workflows.rows import fair_order

log = logging.getLogger("hub.workflows")
T = TypeVar("T")


@dataclass
class Loaded:
    """A run as a transition needs it: its row, history, definition and folded state.
    Kept after a commit for the follow-up task of the same run, so a straight run of
    activities reads nothing back (if another writer got in meanwhile, the commit sees the
    run moved on and the run is read again)."""

    run: dict[str, Any]
    events: list[Event]
    definition: Any
    state: RunState

    def refold(self) -> RunState:
        return folding(self.run, self.events)()


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 32
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    # How often an idle worker looks for queued runs that may start but were given no
    # start task (the commit finishing a run gives the next its task; this is the net).
    queue_check_seconds: float = 10.0


class WorkflowRuntime:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        registry: ActivityRegistry,
        definitions: DefinitionCache,
        audit: AuditLog,
        publish: TenantPublish,
        metrics: EngineMetrics,
        settings: WorkerSettings | None = None,
    ) -> None:
        self._uow = uow_factory
        self._engine_metrics = metrics
        self._clock = clock
        self.registry = registry
        self._definitions = definitions
        self._audit = audit
        self._publish = publish
        self.settings = settings or WorkerSettings()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._metrics_task: asyncio.Task[None] | None = None
        self._running = False
        self._queues_checked = -float("inf")  # time.monotonic() of the last queue check
        self._commits = TransitionCommitter(
            uow_factory,
            clock,
            audit,
            metrics,
            definitions,
            self.owner,
            self.settings.lease_seconds,
            lambda: self._running,
            self.wake,
        )

    # --- lifecycle ---

    async def start(self, *, release_all: bool) -> None:
        if release_all:  # one process owns the SQLite file: every lease is a dead one
            async with self._uow(write=True) as uow:
                await uow.workflows.release_leases("")
                await uow.commit()
        self._running = True
        self._loop_task = asyncio.create_task(self._dispatch(), name="workflow-dispatch")
        self._metrics_task = asyncio.create_task(self._metrics(), name="workflow-metrics")

    async def stop(self) -> None:
        self._running = False
        self._wake.set()
        for loop in (self._loop_task, self._metrics_task):
            if loop:
                loop.cancel()
                await asyncio.gather(loop, return_exceptions=True)
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        await self._commits.drain()  # a batch being written finishes before the store closes

    async def _metrics(self) -> None:
        """Keep the hub_runs gauge (runs by tenant, workflow and status) current."""
        while True:
            try:
                async with self._uow() as uow:
                    counts = await uow.workflows.count_live()
                self._engine_metrics.runs_in_flight(
                    {(tenant, workflow, status): n for tenant, workflow, status, n in counts}
                )
            except Exception:
                log.exception("updating workflow metrics failed")
            await asyncio.sleep(5)

    def wake(self) -> None:
        self._wake.set()

    def check_queues_soon(self) -> None:
        """Look for queued runs that may start but have no start task at the next idle
        moment, not `queue_check_seconds` after the last look."""
        self._queues_checked = -float("inf")
        self._wake.set()

    async def evaluate(self, fn: Callable[..., T], *args: object) -> T:
        """A tenant's expression outside a transition (a run's concurrency key), bounded
        as every other: on the loop within the allowance, else in a worker thread."""
        return await evaluate_bounded(self._engine_metrics, fn, *args)

    def submit(self, task: Claimed, kept: Loaded | None = None) -> None:
        """Run a task that a commit leased to this worker, as soon as a slot is free;
        `kept` is its run as that commit left it, when the caller has it."""
        holder = asyncio.create_task(self._submit(task, kept))
        self._inflight.add(holder)
        holder.add_done_callback(self._inflight.discard)

    async def _submit(self, task: Claimed, kept: Loaded | None) -> None:
        await self._slots.acquire()
        self._spawn(task, kept)

    # --- dispatching ---

    async def _dispatch(self) -> None:
        while self._running:
            try:
                claimed = await self._claim()
            except Exception:
                log.exception("claiming workflow tasks failed; retrying")
                claimed = []
            for task in claimed:
                await self._slots.acquire()
                self._spawn(task)
            if not claimed:
                await self._idle()

    def _spawn(self, task: Claimed, kept: Loaded | None = None) -> None:
        running = asyncio.create_task(self._run(task, kept))
        self._inflight.add(running)
        running.add_done_callback(self._inflight.discard)

    async def _idle(self) -> None:
        self._wake.clear()
        await self._check_queues()
        timeout = self.settings.poll_seconds
        async with self._uow() as uow:
            due = await uow.workflows.next_due()
        if due is not None:
            timeout = max(0.0, min(timeout, (due - self._clock.now()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _check_queues(self) -> None:
        """Every `queue_check_seconds` (and first when the worker starts), give queued
        runs that may start but have no start task one (see TransitionCommitter)."""
        now = time.monotonic()
        if now - self._queues_checked < self.settings.queue_check_seconds:
            return
        self._queues_checked = now
        try:
            for task in await self._commits.recheck_queues():
                self.submit(task)
        except Exception:
            log.exception("checking queued runs failed; trying again later")

    async def _claim(self) -> list[Claimed]:
        free = self._slots._value
        if free <= 0:
            await asyncio.sleep(0.005)
            return []
        now = self._clock.now()
        async with self._uow(write=True) as uow:
            rows = await uow.workflows.candidates(now, free * 4)
            chosen = fair_order(rows)[:free]
            if not chosen:
                return []
            until = now + timedelta(seconds=self.settings.lease_seconds)
            await uow.workflows.lease([r.id for r in chosen], self.owner, until)
            await uow.commit()
        return [
            Claimed(r.id, r.tenant_id, r.run_id, r.kind, r.step, r.attempt, r.priority)
            for r in chosen
        ]

    async def _run(self, task: Claimed, kept: Loaded | None) -> None:
        try:
            follow_up, loaded = await self._execute(task, kept)
            while follow_up:  # work this transition made due at once, already leased to us
                extra = follow_up[1:]
                follow_up, loaded = await self._execute(follow_up[0], loaded)
                for other in extra:
                    await self._slots.acquire()
                    self._spawn(other)
        except Exception:
            log.exception("workflow task %s of run %s failed", task.kind, task.run_id)
        finally:
            self._slots.release()

    # --- executing one task ---

    async def execute(self, task: Claimed) -> list[Claimed]:
        """Run one task: do its I/O, then commit the transition; the follow-up tasks."""
        return (await self._execute(task, None))[0]

    async def _execute(
        self, task: Claimed, kept: Loaded | None
    ) -> tuple[list[Claimed], Loaded | None]:
        """As `execute`; `kept` is the run as the previous transition left it, if it was
        this task's run, and the run as this transition leaves it is returned."""
        loaded = kept if kept is not None and kept.run["id"] == task.run_id else None
        if loaded is None:
            loaded = await self._load(task.tenant_id, task.run_id)
        if loaded is None:
            return [], None
        state = loaded.state
        if (
            state.status.finished
            or (task.kind == "start" and loaded.events)
            or (task.kind == "slot" and state.slot != "requested")
        ):
            await self._drop(task)  # a second start (or slot) task of a run that has it
            return [], None
        if state.status is RunStatus.SUSPENDED and task.kind != "cancel":
            await self._release(task)  # nothing moves while suspended: taken up on resume
            return [], None
        outcome = await self._outcome(task, loaded.run, state, loaded.definition)
        for _ in range(10):
            before = state.next_seq
            state, transition = await self.interpret(
                loaded.definition, state, outcome, loaded.refold
            )
            done = await self.commit(loaded.run, state, before, transition, task)
            if done is not None:
                return done, _moved_on(loaded, state, transition)
            # Another transition (a signal, a cancel) got in first: apply ours on top of it.
            reloaded = await self._load(task.tenant_id, task.run_id)
            if (
                reloaded is None
                or reloaded.state.status.finished
                or (task.kind == "start" and reloaded.events)
                or (task.kind == "slot" and reloaded.state.slot != "requested")
            ):
                await self._drop(task)
                return [], None
            loaded, state = reloaded, reloaded.state
        log.error("run %s: gave up committing %s after repeated conflicts", task.run_id, task.kind)
        return [], None

    async def interpret(
        self,
        definition: Any,
        state: RunState,
        outcome: Callable[[Interpreter], Transition],
        refold: Callable[[], RunState],
    ) -> tuple[RunState, Transition]:
        """Apply `outcome` to the run: the run's state after it, and the transition.

        Expressions are tenants' code. They run on the event loop (a thread hop per
        transition would cost more than most transitions) with an allowance of
        INLINE_CPU_SECONDS; one that needs more is stopped there, and the transition is
        taken again from a fresh fold of the history in a worker thread, within the
        expression budget, so no expression holds the loop that PLC polling and alarms
        share for more than the allowance. Subworkflows the run may enter are resolved
        first (the interpreter is pure)."""
        children = await self._children(state.tenant, definition)
        now = self._clock.now()
        try:
            with inline_allowance(INLINE_CPU_SECONDS):
                return state, outcome(Interpreter(definition, state, now, children=children))
        except OffLoop:
            self._engine_metrics.expressions_off_loop()
            state = refold()  # the aborted attempt left its half-applied events in it
        interpreter = Interpreter(definition, state, now, children=children)
        return state, await asyncio.to_thread(outcome, interpreter)

    async def _children(self, tenant_id: str, definition: Any) -> dict[str, ChildRef | str]:
        """Each subworkflow step's newest matching version and a new run id, or why none."""
        found: dict[str, ChildRef | str] = {}
        for step_id, spec in definition.steps.items():
            if spec.type != "subworkflow":
                continue
            try:
                name, version = await self._definitions.resolve(tenant_id, spec.workflow)
            except NotFound as exc:
                found[step_id] = exc.detail
            else:
                found[step_id] = ChildRef(name, version, new_id())
        return found

    async def _outcome(
        self, task: Claimed, run: dict[str, Any], state: RunState, definition: Any
    ) -> Outcome_:
        """Do the task's I/O once; return how to turn its result into a transition."""
        step = str(task.step)
        if task.kind in ("activity", "compensate"):
            return await self._activity(task, run, state, definition)
        if task.kind == "timer":
            return lambda i: i.timer_fired(step)
        if task.kind == "wait_timeout":
            return lambda i: i.wait_timed_out(step)
        if task.kind == "start":
            return lambda i: i.start(run["input"])
        if task.kind == "slot":  # a slot of the run's concurrency key (its `from` step)
            return lambda i: i.slot_taken()
        if task.kind == "child":
            return await self._child_done(task)
        if task.kind == "cancel":
            return await self._parent_closed(task, run)
        log.error("unknown task kind %s", task.kind)
        return lambda i: i.out

    async def _activity(
        self, task: Claimed, run: dict[str, Any], state: RunState, definition: Any
    ) -> Outcome_:
        step = str(task.step)
        spec = definition.steps[step]
        if task.kind == "compensate":
            name = spec.compensate.activity
            template = spec.compensate.input
            state.vars = dict(getattr(definition, "vars", {}))
            value = (
                await evaluate_bounded(self._engine_metrics, template.render, state.context())
                if template is not None
                else None
            )
            execution = "compensate"
        else:
            name, value = spec.activity, state.step(step).input
            execution = str(state.step(step).scheduled_seq)
        fn = self.registry.get(name)
        began = self._clock.now()
        if fn is None:
            return _failed(step, began, "UnknownActivity", f"no activity {name!r}", False)
        ctx = ActivityContext(
            run["tenant_id"],
            run["workflow"],
            run["id"],
            step,
            state.step(step).attempt,
            self._publisher(run),
            execution,
        )
        started = time.perf_counter()
        heartbeat = asyncio.create_task(self._heartbeat(task))
        try:
            output = await asyncio.wait_for(fn(ctx, value), getattr(spec, "timeout", None))
        except ActivityError as exc:
            return _failed(step, began, exc.error_type, str(exc), exc.retryable, exc.retry_after)
        except TimeoutError:
            return _failed(step, began, "Timeout", f"no result within {spec.timeout} s", True)
        except Exception as exc:  # an activity's bug is a retryable failure, not a crash
            return _failed(step, began, type(exc).__name__, str(exc), True)
        finally:
            heartbeat.cancel()
            self._engine_metrics.activity_took(
                run["tenant_id"], run["workflow"], name, time.perf_counter() - started
            )

        def succeeded(interp: Interpreter) -> Transition:
            interp.activity_started(step, began)
            return interp.activity_succeeded(step, output)

        return succeeded

    def _publisher(self, run: dict[str, Any]) -> Publish:
        """What `ctx.publish` does for this run: events go out in the run's own tenant.
        A payload naming another tenant is refused and audited: an event's tenant is
        its publisher's, so the name could only be an attempt to reach another tenant."""
        tenant_id, run_id = run["tenant_id"], run["id"]

        async def publish(topic: str, payload: Any) -> None:
            named = payload.get("tenant_id") if isinstance(payload, dict) else None
            if named is not None and named != tenant_id:
                details = {"topic": str(topic)[:256], "named_tenant": str(named)[:64]}
                await self._audit.record_now(
                    [tenant_id],
                    SYSTEM,
                    AuditEvent("event.publish", "workflow_run", run_id, Outcome.DENIED, details),
                )
                raise NonRetryableError(
                    "an event is published in its run's own tenant; its payload may not "
                    "name another tenant"
                )
            await self._publish(topic, payload, tenant=tenant_id)

        return publish

    async def _heartbeat(self, task: Claimed) -> None:
        """Keep the lease while a long activity runs."""
        every = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            until = self._clock.now() + timedelta(seconds=self.settings.lease_seconds)
            async with self._uow(write=True) as uow:
                await uow.workflows.lease([task.id], self.owner, until)
                await uow.commit()

    async def _child_done(self, task: Claimed) -> Outcome_:
        # The task names the child run (older ones "step@child").
        child_id = str(task.step).rpartition("@")[2]
        async with self._uow() as uow:
            child = await uow.workflows.run(None, child_id)
        if child is None:
            step = str(task.step).partition("@")[0]
            return lambda i: i.child_finished(step, "failed", None, "child run vanished")
        step = child["parent_step"]
        return lambda i: i.child_finished(step, child["status"], child["output"], child["error"])

    async def _parent_closed(self, task: Claimed, run: dict[str, Any]) -> Outcome_:
        """The parent (named by the task) closed or no longer needs this run: cancel it."""
        parent_id = str(task.step)
        async with self._uow() as uow:
            parent = await uow.workflows.run(run["tenant_id"], parent_id)
        status = parent["status"] if parent is not None else "gone"
        if status in ("completed", "failed", "cancelled"):
            reason = f"parent run {parent_id} {status}"
        else:
            reason = f"parent run {parent_id} no longer waits for it"
        return lambda i: i.cancel(reason)

    # --- loading and committing ---

    async def _load(self, tenant_id: str, run_id: str) -> Loaded | None:
        """The run row, its history, its definition and its state folded from the history."""
        async with self._uow() as uow:
            run = await uow.workflows.run(tenant_id, run_id)
            if run is None:
                return None
            events = await uow.workflows.events(run_id)
        definition = await self._definitions.get(tenant_id, run["workflow"], run["version"])
        return Loaded(run, events, definition, folding(run, events)())

    async def _release(self, task: Claimed) -> None:
        async with self._uow(write=True) as uow:
            await uow.workflows.release_task(task.id, self.owner)
            await uow.commit()

    async def _drop(self, task: Claimed) -> None:
        async with self._uow(write=True) as uow:
            await uow.workflows.finish_task(task.id, self.owner)
            await uow.commit()

    async def commit(
        self,
        run: dict[str, Any],
        state: RunState,
        before: int,
        transition: Transition,
        consumed: Claimed | None,
        ctx: RequestContext = SYSTEM,
        new_run: dict[str, Any] | None = None,
    ) -> list[Claimed] | None:
        """Write one transition atomically (group-committed with others ready now); returns
        tasks leased to this worker to run now, or None when the run moved on since
        `state` was read (nothing was written)."""
        return await self._commits.commit(run, state, before, transition, consumed, ctx, new_run)


def started(
    run: dict[str, Any], definition: Any, state: RunState, transition: Transition
) -> Loaded | None:
    """A new run as its committed first transition leaves it."""
    return _moved_on(Loaded(run, [], definition, state), state, transition)


def _moved_on(loaded: Loaded, state: RunState, transition: Transition) -> Loaded | None:
    """The run as a committed transition leaves it (None once it finished)."""
    if transition.finished:
        return None
    run = {**loaded.run, "next_seq": state.next_seq}
    return Loaded(run, loaded.events + list(transition.events), loaded.definition, state)


Outcome_ = Callable[[Interpreter], Transition]


def folding(run: dict[str, Any], events: list[Any]) -> Callable[[], RunState]:
    """Folds the run's state from its history, afresh on every call."""

    def fold_state() -> RunState:
        state = fold(run["id"], run["tenant_id"], run["workflow"], run["version"], events)
        state.keyed = bool(run.get("concurrency_key"))
        if run["status"] == RunStatus.SUSPENDED.value:
            state.status = RunStatus.SUSPENDED
        elif run["status"] == RunStatus.QUEUED.value and not events:
            state.status = RunStatus.QUEUED
        return state

    return fold_state


TenantPublish = Callable[..., Awaitable[None]]  # bus.publish(topic, payload, *, tenant)


def _failed(
    step: str,
    began: datetime,
    error_type: str,
    message: str,
    retryable: bool,
    retry_after: float | None = None,
) -> Outcome_:
    def failed(interp: Interpreter) -> Transition:
        interp.activity_started(step, began)
        return interp.activity_failed(step, error_type, message, retryable, retry_after)

    return failed
