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

Runs with a concurrency key (hub/engine/concurrency.py) are decided here too, under a lock
of their key (an advisory lock on PostgreSQL; SQLite's write lock): the transition that
starts such a run is written only if the run may start now, otherwise the run is written
(or stays) `queued`, and the transition that finishes one gives the next queued runs of
its key their start task, leased to this worker, in the same commit. With
`concurrency.from` the same is decided at that step: the transition reaching it asks for a
slot (written with its `slot` task if one is free, else the run waits there `queued`),
the `slot` task takes it under the lock, and a finishing run hands the next waiting run
its `slot` task. Transitions of runs without a key, and the other transitions of keyed
runs (a `from` run before its step included), take no lock and read nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.domain.audit import AuditEvent, RequestContext
from hub.engine.concurrency import may_start
from hub.engine.history import EventType, RunState, RunStatus
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
    # The run may not start yet (its concurrency key's slots are taken): the transition
    # starting it is not written; the run is written, or stays, queued.
    queued: bool = False
    # It reached its `from` step and waits there for a slot (written, without its task).
    waits: bool = False

    @property
    def key_decision(self) -> str | None:
        """ "start", "request" or "finish" for a transition that takes, asks for or frees
        a slot of the run's concurrency key (decided under the key's lock), else None.
        "start": the run's first transition (a definition without `concurrency.from`) or
        the one taking the slot at its `from` step; a run that starts and ends in one
        transition (a first step that is an end) is a start. "request": the run reached
        its `from` step. A `from` run that has not reached it holds nothing: None."""
        run = self.run
        if not run.get("concurrency_key"):
            return None
        slot = self.transition.slot
        if slot is not None:
            return "start" if slot == "taken" else "request"
        if run.get("concurrency_since") is None and self.state.slot is None:
            return None
        events = self.transition.events
        if self.new_run is not None or (
            self.before == 1 and events and events[0].type is EventType.RUN_STARTED
        ):
            return "start"
        if self.transition.finished:  # completed, failed, cancelled (queued or not)
            return "finish"
        return None


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
        pending.queued = False
        pending.waits = False
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
        await self._decide_keys(uow, accepted)
        return accepted, answers

    # --- concurrency keys ---

    async def _decide_keys(self, uow: UnitOfWork, accepted: list[Pending]) -> None:
        """Under the lock of each concurrency key the batch starts or finishes a run of:
        hold back the starts that find no free slot, and give the queued runs that may
        start now (a slot freed) their start task."""
        groups: dict[tuple[str, str, str], list[Pending]] = {}
        for pending in accepted:
            if pending.key_decision is not None:
                run = pending.run
                key = (run["tenant_id"], run["workflow"], run["concurrency_key"])
                groups.setdefault(key, []).append(pending)
        if not groups:
            return
        await uow.workflows.lock_concurrency_keys(list(groups))
        for key, members in sorted(groups.items()):
            await self._decide_key(uow, key, members)

    async def _decide_key(
        self, uow: UnitOfWork, key: tuple[str, str, str], members: list[Pending]
    ) -> None:
        tenant_id, workflow, value = key
        limit = await self._limit(tenant_id, workflow, members[0].run["version"])
        enough = limit + len(members)  # finishing members leave at most that many places
        active, queued = await uow.workflows.concurrency_slots(
            tenant_id, workflow, value, enough + 1
        )
        starts = [p for p in members if p.key_decision == "start"]
        requests = [p for p in members if p.key_decision == "request"]
        for pending in requests:  # its place in the queue: from when it reached the step
            pending.values["concurrency_since"] = pending.now
            pending.run["concurrency_since"] = pending.now
        # behind every queued run: runs created now, and runs reaching their `from` step
        arriving = [
            p.run["id"]
            for p in sorted(
                [*(p for p in starts if p.new_run is not None), *requests],
                key=lambda p: (
                    p.now if p.key_decision == "request" else p.run["created_at"],
                    p.run["id"],
                ),
            )
        ]
        finishing = {p.run["id"] for p in members if p.key_decision == "finish"}
        instant = {p.run["id"] for p in starts if p.transition.finished}
        chosen: set[str] = set()
        while True:  # a run chosen that also ends at once frees its slot for the next
            found = chosen | set(
                may_start(
                    limit,
                    active,
                    [q["id"] for q in queued],
                    finishing=finishing | (chosen & instant),
                    # behind a queue longer than was read, no new run can start
                    arriving=arriving if len(queued) <= enough else [],
                )
            )
            if found == chosen:
                break
            chosen = found
        starting = {p.run["id"] for p in starts}
        for pending in starts:
            if pending.run["id"] not in chosen:
                _hold(pending)
        for pending in requests:
            if pending.run["id"] not in chosen:
                _wait_at_step(pending)
        frees = finishing | (chosen & instant)
        carrier = next((p for p in members if p.run["id"] in frees), members[0])
        given = chosen - starting - {p.run["id"] for p in requests}
        for row in self._start_rows(tenant_id, queued, given, carrier.now):
            carrier.rows.append(row)
            if row["lease_owner"]:
                carrier.local.append(_claimed(row))

    async def _limit(self, tenant_id: str, workflow: str, version: str) -> int:
        """The key's limit as the deciding run's version says (1 if it says none)."""
        definition = await self._definitions.get(tenant_id, workflow, version)
        concurrency = getattr(definition, "concurrency", None)
        return concurrency.limit if concurrency is not None else 1

    def _start_rows(
        self,
        tenant_id: str,
        queued: list[dict[str, Any]],
        chosen: set[str],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Start tasks for the chosen queued runs that have none yet (a "slot" task for a
        run waiting at its `from` step), due now and leased to this worker (a crash
        leaves them to any worker once the lease expires)."""
        mine = self._running()
        return [
            task_row(
                {"tenant_id": tenant_id, "id": q["id"], "priority": q["priority"]},
                kind="slot" if q["at_step"] else "start",
                step=None,
                attempt=1,
                due=now,
                owner=self._owner if mine else None,
                lease_until=now + timedelta(seconds=self._lease_seconds),
            )
            for q in queued
            if q["id"] in chosen and not q["started"]
        ]

    async def recheck_queues(self, max_keys: int = 100) -> list[Claimed]:
        """Give a start task to queued runs that may start but have none: a safety net
        behind the transitions that finish runs (which do it in their own commit), for a
        queue whose runs were left without one (a limit raised by a newer version, a
        database restored or edited). Read first; only a key with work is locked and
        decided again. The tasks leased to this worker are returned, to run now."""
        async with self._uow() as uow:
            keys = await uow.workflows.queued_keys(max_keys)
        local: list[Claimed] = []
        for key in keys:
            local += await self._recheck_key(key)
        return local

    async def _recheck_key(self, key: tuple[str, str, str]) -> list[Claimed]:
        workflow = key[1]
        async with self._uow() as uow:
            if not await self._startable(uow, key):
                return []
        async with self._uow(write=True) as uow:
            await uow.workflows.lock_concurrency_keys([key])
            rows = await self._startable(uow, key)
            await uow.workflows.add_tasks(rows)
            await uow.commit()
        if rows:
            log.info("%d queued run(s) of %s given a start task", len(rows), workflow)
            if any(row["lease_owner"] is None for row in rows):
                self._wake()
        return [_claimed(row) for row in rows if row["lease_owner"]]

    async def _startable(self, uow: UnitOfWork, key: tuple[str, str, str]) -> list[dict[str, Any]]:
        """Start tasks for the key's queued runs that may start and have none."""
        tenant_id, workflow, value = key
        active, queued = await uow.workflows.concurrency_slots(tenant_id, workflow, value, 1)
        if not queued:
            return []
        limit = await self._limit(tenant_id, workflow, queued[0]["version"])
        if limit > 1:
            active, queued = await uow.workflows.concurrency_slots(
                tenant_id, workflow, value, limit
            )
        chosen = set(may_start(limit, active, [q["id"] for q in queued]))
        return self._start_rows(tenant_id, queued, chosen, self._clock.now())

    async def _write(self, uow: UnitOfWork, batch: list[Pending]) -> None:
        workflows = uow.workflows
        await workflows.add_runs(
            [
                {**p.new_run, "status": RunStatus.QUEUED.value} if p.queued else p.new_run
                for p in batch
                if p.new_run is not None
            ]
        )
        await workflows.delete_tasks([p.consumed.id for p in batch if p.consumed is not None])
        await workflows.update_runs([(p.run["id"], p.values) for p in batch])
        moved = [p for p in batch if not p.queued]  # a held-back start writes no history
        await workflows.add_history([(p.run["id"], p.transition.events) for p in moved])
        for pending in moved:
            if touches_waits(pending.transition) and not pending.transition.finished:
                waits = event_waits(pending.state, pending.transition)
                await workflows.set_waits(pending.run["tenant_id"], pending.run["id"], waits)
        await workflows.add_tasks([row for p in batch for row in p.rows])
        for pending in moved:
            await self._spawn(uow, pending)
        finished = [p for p in moved if p.transition.finished]
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
            if pending.queued:
                if pending.new_run is not None:  # who started it, and that it waits
                    by_log.setdefault(run["tenant_id"], []).append((pending.ctx, _queued(run)))
                continue
            definition_hash = None
            if pending.transition.finished:
                definition_hash = await self._definitions.content_hash(
                    run["tenant_id"], run["workflow"], run["version"]
                )
            for event in audit_events(run, pending.transition, definition_hash):
                by_log.setdefault(run["tenant_id"], []).append((pending.ctx, event))
            if pending.waits:  # that it waits at its `from` step, as a queued start is
                queued = _queued(run, pending.state.slot_step)
                by_log.setdefault(run["tenant_id"], []).append((pending.ctx, queued))
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
        if transition.finished and not pending.queued and pending.status is not None:
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


def _hold(pending: Pending) -> None:
    """The run may not start now: written (or kept) queued, without the transition."""
    pending.queued = True
    pending.rows, pending.local = [], []
    pending.status = RunStatus.QUEUED
    pending.values = {"status": RunStatus.QUEUED.value, "updated_at": pending.now}


def _wait_at_step(pending: Pending) -> None:
    """The run reached its `from` step and finds no free slot: its transition is written
    (it is queued at the step, SlotRequested), without the task taking the slot."""
    pending.waits = True
    pending.rows = [row for row in pending.rows if row["kind"] != "slot"]
    pending.local = [task for task in pending.local if task.kind != "slot"]


def _queued(run: dict[str, Any], step: str | None = None) -> AuditEvent:
    details = {
        "workflow": run["workflow"],
        "version": run["version"],
        "concurrency_key": run["concurrency_key"],
    }
    if step is not None:  # waiting at its `from` step (it has run until there)
        details["step"] = step
    return AuditEvent("workflow.run.queue", "workflow_run", run["id"], details=details)


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
