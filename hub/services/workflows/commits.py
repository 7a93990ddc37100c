"""Writing transitions: many runs' transitions group-committed in one transaction.

A transition commits its history events, the run projection, the tasks it schedules, user
tasks, child runs and its audit entries atomically, and only if the run is still where the
transition found it (its next history seq) and the task it consumes is still leased to
this worker. Transitions that become ready while a transaction is being written wait
together and go in the next one: each is checked under lock (the run and task rows locked
on PostgreSQL; SQLite's write lock holds everything), the ones that no longer apply are
answered without writing anything, and the rest are written with one statement per kind
of row, however many runs. The per-statement and per-commit costs, which dominate a short
transition, are then paid once per batch (as audit appends already are).

If a batch fails as a whole (a constraint, a lost connection), every transition in it is
retried alone, so one bad transition fails only itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.domain.audit import AuditEvent, RequestContext
from hub.engine.history import RunState, RunStatus
from hub.engine.interpreter import Transition
from hub.ports import Clock, EngineMetrics, UnitOfWork, UnitOfWorkFactory
from hub.services.audit.log import AuditLog
from hub.services.workflows.definitions import DefinitionCache
from hub.services.workflows.rows import (
    audit_events,
    child_run_row,
    event_waits,
    projection,
    task_row,
    touches_waits,
    user_task_row,
)

log = logging.getLogger("hub.workflows")
BATCH_MAX = 200  # transitions per group-committed transaction


@dataclass(frozen=True)
class Claimed:
    id: str
    tenant_id: str
    run_id: str
    kind: str
    step: str | None
    attempt: int
    priority: int


@dataclass
class Pending:
    """One transition waiting to be written, and how its writer is answered."""

    run: dict[str, Any]
    state: RunState
    before: int
    transition: Transition
    consumed: Claimed | None
    ctx: RequestContext
    new_run: dict[str, Any] | None
    done: asyncio.Future[list[Claimed] | None]
    now: datetime = field(init=False)
    rows: list[dict[str, Any]] = field(default_factory=list)
    local: list[Claimed] = field(default_factory=list)
    status: RunStatus | None = None
    values: dict[str, Any] = field(default_factory=dict)
    written: bool = False


class TransitionCommitter:
    """Group-commits transitions; `commit()` returns once its transition is written."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        metrics: EngineMetrics,
        definitions: DefinitionCache,
        owner: str,
        lease_seconds: float,
        running: Callable[[], bool],
        wake: Callable[[], None],
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self._metrics = metrics
        self._definitions = definitions
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._running = running
        self._wake = wake
        self._queue: list[Pending] = []
        self._flushers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    async def commit(
        self,
        run: dict[str, Any],
        state: RunState,
        before: int,
        transition: Transition,
        consumed: Claimed | None,
        ctx: RequestContext,
        new_run: dict[str, Any] | None = None,
    ) -> list[Claimed] | None:
        """Write one transition atomically; returns tasks leased to this worker to run now,
        or None when the run moved on since `state` was read (nothing was written)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Claimed] | None] = loop.create_future()
        self._queue.append(Pending(run, state, before, transition, consumed, ctx, new_run, done))
        flusher = self._flushers.get(loop)
        if flusher is None or flusher.done():
            self._flushers[loop] = loop.create_task(self._flush())
        return await done

    async def drain(self) -> None:
        """Wait until every transition handed in so far is written (or has failed)."""
        flushers = [f for f in self._flushers.values() if not f.done()]
        await asyncio.gather(*flushers, return_exceptions=True)

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # transitions made ready in this turn of the loop join in
        while self._queue:
            batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
            try:
                await self._write_batch(batch)
            except Exception:
                log.debug("a batch of %d transitions failed; writing each alone", len(batch))
                for pending in batch:
                    if not pending.done.done():
                        await self._write_alone(pending)
            for pending in batch:
                self._after(pending)

    async def _write_alone(self, pending: Pending) -> None:
        try:
            await self._write_batch([pending])
        except Exception as exc:
            if not pending.done.done():
                pending.done.set_exception(exc)

    # --- one transaction for the batch ---

    async def _write_batch(self, batch: list[Pending]) -> None:
        for pending in batch:
            self._prepare(pending)
        async with self._uow(write=True) as uow:
            accepted, answers = await self._check(uow, batch)
            if accepted:
                await self._write(uow, accepted)
                await self._write_audit(uow, accepted)
            await uow.commit()
        for pending, answer in answers:
            if not pending.done.done():
                pending.done.set_result(answer)
        for pending in accepted:
            pending.written = True
            if not pending.done.done():
                pending.done.set_result(pending.local)

    def _prepare(self, pending: Pending) -> None:
        """The rows the transition writes (nothing read from the database)."""
        now = self._clock.now()
        lease_until = now + timedelta(seconds=self._lease_seconds)
        pending.now = now
        pending.status, pending.values = projection(pending.state, now)
        pending.rows = []
        for t in pending.transition.tasks:
            mine = t.due <= now and self._running()
            pending.rows.append(
                task_row(
                    pending.run,
                    kind=t.kind,
                    step=t.step,
                    attempt=t.attempt,
                    due=t.due,
                    owner=self._owner if mine else None,
                    lease_until=lease_until,
                )
            )
        pending.local = [_claimed(row) for row in pending.rows if row["lease_owner"]]

    async def _check(
        self, uow: UnitOfWork, batch: list[Pending]
    ) -> tuple[list[Pending], list[tuple[Pending, list[Claimed] | None]]]:
        """Which transitions still apply: (to write, answers for the others). A task no
        longer leased to us was taken over (answer []); a run that moved on, or that an
        earlier transition of this batch moves, must be read again (answer None)."""
        owners = await uow.workflows.lock_task_owners(
            [p.consumed.id for p in batch if p.consumed is not None]
        )
        seqs = await uow.workflows.lock_run_seqs([p.run["id"] for p in batch if p.new_run is None])
        accepted: list[Pending] = []
        answers: list[tuple[Pending, list[Claimed] | None]] = []
        moving: set[str] = set()
        for pending in batch:
            run_id = pending.run["id"]
            if pending.consumed is not None and owners.get(pending.consumed.id) != self._owner:
                log.warning(
                    "lost the lease on %s of run %s; not committing", pending.consumed.kind, run_id
                )
                answers.append((pending, []))
            elif run_id in moving or (
                pending.new_run is None and seqs.get(run_id) != pending.before
            ):
                answers.append((pending, None))  # the caller reloads and tries again
            else:
                moving.add(run_id)
                accepted.append(pending)
        return accepted, answers

    async def _write(self, uow: UnitOfWork, batch: list[Pending]) -> None:
        workflows = uow.workflows
        await workflows.add_runs([p.new_run for p in batch if p.new_run is not None])
        await workflows.delete_tasks([p.consumed.id for p in batch if p.consumed is not None])
        await workflows.update_runs([(p.run["id"], p.values) for p in batch])
        await workflows.add_history([(p.run["id"], p.transition.events) for p in batch])
        for pending in batch:
            if touches_waits(pending.transition) and not pending.transition.finished:
                waits = event_waits(pending.state, pending.transition)
                await workflows.set_waits(pending.run["tenant_id"], pending.run["id"], waits)
        await workflows.add_tasks([row for p in batch for row in p.rows])
        for pending in batch:
            await self._spawn(uow, pending)
        finished = [p for p in batch if p.transition.finished]
        await workflows.close_runs([p.run["id"] for p in finished])  # drops their tasks
        for pending in finished:
            pending.local = [t for t in pending.local if t.run_id != pending.run["id"]]
            await self._tell_parent(uow, pending)

    async def _spawn(self, uow: UnitOfWork, pending: Pending) -> None:
        """User tasks, child runs and orders to cancel children of one transition."""
        run, now = pending.run, pending.now
        for user_task in pending.transition.user_tasks:
            await uow.workflows.add_user_task(user_task_row(run, user_task, now))
        for child in pending.transition.children:
            pending.local += await self._start_child(uow, run, child, now)
        for closed in pending.transition.cancel_children:
            pending.local += await self._cancel_child(uow, run, closed.run_id, now)

    async def _write_audit(self, uow: UnitOfWork, batch: list[Pending]) -> None:
        by_log: dict[str, list[tuple[RequestContext, AuditEvent]]] = {}
        for pending in batch:
            run = pending.run
            definition_hash = None
            if pending.transition.finished:
                definition_hash = await self._definitions.content_hash(
                    run["tenant_id"], run["workflow"], run["version"]
                )
            for event in audit_events(run, pending.transition, definition_hash):
                by_log.setdefault(run["tenant_id"], []).append((pending.ctx, event))
        for log_id in sorted(by_log):  # one lock order: no deadlocks on PostgreSQL
            await self._audit.append_many(uow, log_id, by_log[log_id])

    async def _tell_parent(self, uow: UnitOfWork, pending: Pending) -> None:
        """A finished child's parent is told (nothing to run here)."""
        run = pending.run
        if run.get("parent_run_id"):
            parent_task = task_row(
                run,
                kind="child",
                step=run["id"],
                attempt=1,
                due=pending.now,
                run_id=run["parent_run_id"],
            )
            await uow.workflows.add_tasks([parent_task])

    async def _start_child(
        self, uow: UnitOfWork, run: dict[str, Any], child: Any, now: datetime
    ) -> list[Claimed]:
        row = child_run_row(run, child, child.workflow, child.version, child.run_id, now)
        await uow.workflows.add_run(row)
        start = task_row(
            run,
            kind="start",
            step=None,
            attempt=1,
            due=now,
            owner=self._owner,
            lease_until=now + timedelta(seconds=self._lease_seconds),
            run_id=child.run_id,
        )
        await uow.workflows.add_tasks([start])
        return [_claimed(start)]

    async def _cancel_child(
        self, uow: UnitOfWork, run: dict[str, Any], child_id: str, now: datetime
    ) -> list[Claimed]:
        """A durable order to cancel a child run (the task names its parent), taken up at
        once here and by any worker after a crash, even while the child is suspended."""
        order = task_row(
            run,
            kind="cancel",
            step=run["id"],
            attempt=1,
            due=now,
            owner=self._owner if self._running() else None,
            lease_until=now + timedelta(seconds=self._lease_seconds),
            run_id=child_id,
        )
        await uow.workflows.add_tasks([order])
        return [_claimed(order)] if order["lease_owner"] else []

    def _after(self, pending: Pending) -> None:
        """Metrics, and a nudge to the dispatcher for queued work nobody holds."""
        if not pending.written:
            return
        transition, run = pending.transition, pending.run
        if transition.finished and pending.status is not None:
            self._metrics.run_finished(
                run["tenant_id"],
                run["workflow"],
                pending.status.value,
                (pending.now - run["created_at"]).total_seconds(),
            )
        if (
            (transition.finished and run.get("parent_run_id"))
            or (pending.rows and not pending.local)
            or transition.cancel_children
        ):
            self._wake()


def _claimed(row: dict[str, Any]) -> Claimed:
    return Claimed(
        row["id"],
        row["tenant_id"],
        row["run_id"],
        row["kind"],
        row["step"],
        row["attempt"],
        row["priority"],
    )
