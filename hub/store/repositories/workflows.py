"""Rows of the workflow engine: definitions, runs, history, tasks and user tasks."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import (
    ARRAY,
    String,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import BindParameter

from hub.domain.ids import time_ordered_floor
from hub.engine.history import Event, EventType
from hub.engine.topics import event_keys, wait_key
from hub.store.inline import StoreConnection
from hub.store.results import plain_rows
from hub.store.tables.core import (
    ACTIVE_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    LIVE_RUN_STATUSES,
    LIVE_RUNS,
    user_tasks,
    workflow_cron_marks,
    workflow_definitions,
    workflow_events,
    workflow_runs,
    workflow_tasks,
    workflow_waits,
)

_JSON_COLUMNS = frozenset({"output", "current_steps"})


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class SqlWorkflows:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    # --- definitions ---

    async def add_definition(
        self,
        tenant_id: str,
        name: str,
        version: str,
        parts: tuple[int, int, int],
        body: dict[str, Any],
        at: datetime,
        by: str,
    ) -> None:
        await self._conn.execute(
            insert(workflow_definitions).values(
                tenant_id=tenant_id,
                name=name,
                version=version,
                major=parts[0],
                minor=parts[1],
                patch=parts[2],
                body=_dump(body),
                created_at=at,
                created_by=by,
            )
        )

    async def definition_versions(self, tenant_id: str, name: str) -> list[str]:
        d = workflow_definitions.c
        query = (
            select(d.version)
            .where(d.tenant_id == tenant_id, d.name == name)
            .order_by(d.major, d.minor, d.patch)
        )
        return list((await self._conn.execute(query)).scalars())

    async def published_versions(self, tenant_id: str) -> dict[str, list[str]]:
        """Every workflow of the tenant and its published versions, oldest first."""
        d = workflow_definitions.c
        query = (
            select(d.name, d.version)
            .where(d.tenant_id == tenant_id)
            .order_by(d.name, d.major, d.minor, d.patch)
        )
        found: dict[str, list[str]] = {}
        for row in await self._conn.execute(query):
            found.setdefault(row.name, []).append(row.version)
        return found

    async def definition(self, tenant_id: str, name: str, version: str) -> dict[str, Any] | None:
        d = workflow_definitions.c
        query = select(d.body).where(d.tenant_id == tenant_id, d.name == name, d.version == version)
        body = (await self._conn.execute(query)).scalar()
        return json.loads(body) if body else None

    async def latest_definitions(self, tenant_id: str) -> list[dict[str, Any]]:
        d = workflow_definitions.c
        query = (
            select(d.name, d.version, d.body, d.created_at)
            .where(d.tenant_id == tenant_id)
            .order_by(d.name, d.major, d.minor, d.patch)
        )
        latest: dict[str, dict[str, Any]] = {}
        for row in await self._conn.execute(query):
            latest[row.name] = {
                "name": row.name,
                "version": row.version,
                "body": json.loads(row.body),
                "created_at": row.created_at,
            }
        return list(latest.values())

    async def all_latest(self) -> list[tuple[str, dict[str, Any]]]:
        """(tenant id, body) of the newest version of every workflow of every tenant."""
        d = workflow_definitions.c
        query = select(d.tenant_id, d.name, d.body).order_by(
            d.tenant_id, d.name, d.major, d.minor, d.patch
        )
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in await self._conn.execute(query):
            latest[(row.tenant_id, row.name)] = json.loads(row.body)
        return [(tenant, body) for (tenant, _), body in latest.items()]

    # --- runs ---

    async def add_run(self, row: dict[str, Any]) -> None:
        await self.add_runs([row])

    async def add_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self._conn.execute(
                insert(workflow_runs),
                [
                    {
                        **row,
                        "input": _dump(row["input"]),
                        "current_steps": "[]",
                        "concurrency_key": row.get("concurrency_key"),
                        "concurrency_since": row.get("concurrency_since"),
                    }
                    for row in rows
                ],
            )

    async def run(self, tenant_id: str | None, run_id: str) -> dict[str, Any] | None:
        query = select(workflow_runs).where(workflow_runs.c.id == run_id)
        if tenant_id is not None:
            query = query.where(workflow_runs.c.tenant_id == tenant_id)
        row = (await self._conn.execute(query)).first()
        return _run(row) if row else None

    async def run_by_key(self, tenant_id: str, key: str) -> dict[str, Any] | None:
        r = workflow_runs.c
        query = select(workflow_runs).where(r.tenant_id == tenant_id, r.idempotency_key == key)
        row = (await self._conn.execute(query)).first()
        return _run(row) if row else None

    async def runs(
        self,
        tenant_id: str,
        status: str | None,
        workflow: str | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        r = workflow_runs.c
        query = (
            select(workflow_runs).where(r.tenant_id == tenant_id).order_by(r.id.desc()).limit(limit)
        )
        if status:
            query = query.where(r.status == status)
        if workflow:
            query = query.where(r.workflow == workflow)
        if after:
            query = query.where(r.id < after)
        return [_run(row) for row in await self._conn.execute(query)]

    async def update_run(self, run_id: str, expected_seq: int, **values: Any) -> bool:
        """Move the projection on; False when another writer appended first."""
        for key in ("output", "current_steps"):
            if key in values:
                values[key] = _dump(values[key])
        result = await self._conn.execute(
            update(workflow_runs)
            .where(
                workflow_runs.c.id == run_id,
                workflow_runs.c.next_seq == expected_seq,
            )
            .values(**values)
        )
        return result.rowcount == 1

    async def count_live(self) -> list[tuple[str, str, str, int]]:
        """(tenant, workflow, status, count) of the runs not finished: one pass over a
        partial index holding only those, so the cost follows the runs in flight."""
        r = workflow_runs.c
        query = (
            select(r.tenant_id, r.workflow, r.status, func.count())
            .where(LIVE_RUNS)
            .group_by(r.tenant_id, r.workflow, r.status)
        )
        return [(a, b, c, int(n)) for a, b, c, n in plain_rows(await self._conn.execute(query))]

    async def count_by_status(self, tenant_id: str) -> dict[str, int]:
        """The tenant's runs by status, counted within the (tenant, status, id) index."""
        r = workflow_runs.c
        query = select(r.status, func.count()).where(r.tenant_id == tenant_id).group_by(r.status)
        return {status: int(n) for status, n in plain_rows(await self._conn.execute(query))}

    async def purge_finished(self, updated_before: datetime, batch: int) -> int:
        """Delete up to `batch` runs finished before `updated_before` with their history,
        tasks, event waits and user tasks (never audit entries); how many went.

        Run ids begin with their creation time and a run is updated after it is created,
        so only ids older than the cutoff are read: the cost follows the runs to delete
        (and old runs still kept), not the history. A run whose parent is still running
        stays (the parent reads its child's outcome), and so does one with a child still
        running (a finishing child gives its parent a task)."""
        r = workflow_runs.c
        parent, child = workflow_runs.alias("parent"), workflow_runs.alias("child")
        query = (
            select(r.id)
            .where(
                r.id < time_ordered_floor(updated_before),
                r.status.in_(FINISHED_RUN_STATUSES),
                r.updated_at < updated_before,
                ~exists().where(
                    parent.c.id == r.parent_run_id, parent.c.status.in_(LIVE_RUN_STATUSES)
                ),
                ~exists().where(
                    child.c.parent_run_id == r.id, child.c.status.in_(LIVE_RUN_STATUSES)
                ),
            )
            .order_by(r.id)
            .limit(batch)
        )
        ids: list[str] = list((await self._conn.execute(query)).scalars())
        if ids:
            for table in (workflow_events, workflow_tasks, workflow_waits, user_tasks):
                await self._conn.execute(delete(table).where(table.c.run_id.in_(ids)))
            await self._conn.execute(delete(workflow_runs).where(r.id.in_(ids)))
        return len(ids)

    # --- concurrency keys ---

    async def lock_concurrency_keys(self, keys: Sequence[tuple[str, str, str]]) -> None:
        """Serialise, until commit, the transactions deciding about the runs of these
        (tenant, workflow, key)s: on PostgreSQL a transaction-scoped advisory lock per key
        (taken in one order, so two transactions never deadlock on them); SQLite's write
        lock (BEGIN IMMEDIATE) already holds every other writer off."""
        if self._conn.dialect.name != "postgresql":
            return
        for lock_id in sorted({_key_lock_id(*key) for key in keys}):
            await self._conn.execute(_ADVISORY_LOCK, {"id": lock_id})

    async def concurrency_slots(
        self, tenant_id: str, workflow: str, key: str, queued_limit: int
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The key's runs holding a slot (their ids), and its first `queued_limit` queued
        runs in queue order, (concurrency_since, id): id, version, priority, whether it
        has a history (it waits at its `from` step, else it was never started) and
        whether a start (or slot) task is already there for it. Read through
        ix_workflow_runs_concurrency."""
        params = {"tenant": tenant_id, "workflow": workflow, "key": key}
        active: list[str] = list((await self._conn.execute(_ACTIVE_OF_KEY, params)).scalars())
        rows = await self._conn.execute(_QUEUED_OF_KEY, {**params, "limit": queued_limit})
        queued = [
            {
                "id": r.id,
                "version": r.version,
                "priority": r.priority,
                "at_step": r.next_seq > 1,
                "started": bool(r.started),
            }
            for r in rows
        ]
        return active, queued

    async def queued_keys(self, limit: int) -> list[tuple[str, str, str]]:
        """(tenant, workflow, key) of up to `limit` keys that have queued runs."""
        r = workflow_runs.c
        query = (
            select(r.tenant_id, r.workflow, r.concurrency_key)
            .where(r.status == "queued", r.concurrency_key.is_not(None))
            .distinct()
            .limit(limit)
        )
        return [(a, b, c) for a, b, c in plain_rows(await self._conn.execute(query))]

    # --- history ---

    async def add_events(self, run_id: str, events: Sequence[Event]) -> None:
        if events:
            await self._conn.execute(
                insert(workflow_events),
                [
                    {
                        "run_id": run_id,
                        "seq": e.seq,
                        "type": e.type.value,
                        "step": e.step,
                        "data": _dump(e.data),
                        "ts": e.ts,
                    }
                    for e in events
                ],
            )

    async def events(self, run_id: str) -> list[Event]:
        e = workflow_events.c
        query = select(workflow_events).where(e.run_id == run_id).order_by(e.seq)
        return [
            Event(EventType(r.type), r.step, json.loads(r.data), r.ts, r.seq)
            for r in await self._conn.execute(query)
        ]

    # --- tasks ---

    async def add_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self._conn.execute(insert(workflow_tasks), list(rows))

    async def candidates(self, now: datetime, limit: int) -> list[Any]:
        t, r = workflow_tasks.c, workflow_runs.c
        query = (
            select(t.id, t.tenant_id, t.run_id, t.kind, t.step, t.attempt, t.priority, t.due_at)
            .join_from(workflow_tasks, workflow_runs, t.run_id == r.id)
            .where(
                t.due_at <= now,
                or_(t.lease_until.is_(None), t.lease_until < now),
                # a suspended run holds its work, but an order to cancel it goes through
                or_(r.status != "suspended", t.kind == "cancel"),
            )
            .order_by(t.priority.desc(), t.due_at)
            .limit(limit)
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=workflow_tasks)
        return list(await self._conn.execute(query))

    async def lease(self, task_ids: Sequence[str], owner: str, until: datetime) -> None:
        await self._conn.execute(
            update(workflow_tasks)
            .where(workflow_tasks.c.id.in_(list(task_ids)))
            .values(lease_owner=owner, lease_until=until)
        )

    async def finish_task(self, task_id: str, owner: str) -> bool:
        """Delete a task this worker still holds; False when its lease was taken over."""
        result = await self._conn.execute(
            delete(workflow_tasks).where(
                workflow_tasks.c.id == task_id, workflow_tasks.c.lease_owner == owner
            )
        )
        return result.rowcount == 1

    async def drop_run_tasks(self, run_id: str) -> None:
        await self._conn.execute(delete(workflow_tasks).where(workflow_tasks.c.run_id == run_id))

    async def release_leases(self, owner_prefix: str) -> None:
        await self._conn.execute(
            update(workflow_tasks)
            .where(
                workflow_tasks.c.lease_owner.like(f"{owner_prefix}%"),
            )
            .values(lease_owner=None, lease_until=None)
        )

    async def release_task(self, task_id: str, owner: str) -> None:
        """Give back a task this worker holds, untouched, for any worker to take later."""
        t = workflow_tasks.c
        await self._conn.execute(
            update(workflow_tasks)
            .where(t.id == task_id, t.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def next_due(self) -> datetime | None:
        """When the next unleased task that may run falls due (expired leases are found by
        polling; a suspended run's tasks wait for its resume, which wakes the worker)."""
        t, r = workflow_tasks.c, workflow_runs.c
        query = (
            select(func.min(t.due_at))
            .join_from(workflow_tasks, workflow_runs, t.run_id == r.id)
            .where(t.lease_owner.is_(None), or_(r.status != "suspended", t.kind == "cancel"))
        )
        return (await self._conn.execute(query)).scalar()

    # --- event waits ---

    async def set_waits(
        self, tenant_id: str, run_id: str, waits: dict[str, tuple[str, Any]]
    ) -> None:
        """Make the run's event waits exactly `waits` (step -> topic filter, match or None)."""
        await self._conn.execute(delete(workflow_waits).where(workflow_waits.c.run_id == run_id))
        if waits:
            await self._conn.execute(
                insert(workflow_waits),
                [
                    {
                        "run_id": run_id,
                        "step": step,
                        "tenant_id": tenant_id,
                        "topic": topic,
                        "topic_key": wait_key(topic),
                        "match": None if match is None else _dump(match),
                    }
                    for step, (topic, match) in waits.items()
                ],
            )

    async def event_waits(self, tenant_id: str, topics: Iterable[str]) -> list[Any]:
        """The tenant's waits whose filter may match one of `topics`: those stored under
        one of the topics' keys, found through the index whatever the tenant's other
        waits. The caller matches them with match_topic."""
        keys = list(frozenset().union(*map(event_keys, topics)))
        dialect = self._conn.dialect.name
        params = {"values": _one_of_value(keys, dialect), "tenant": tenant_id}
        return list(await self._conn.execute(_event_waits_query(dialect), params))

    # --- cron marks ---

    async def cron_mark(self, tenant_id: str, workflow: str, index: int) -> datetime | None:
        m = workflow_cron_marks.c
        query = select(m.last_fired).where(
            m.tenant_id == tenant_id, m.workflow == workflow, m.trigger == index
        )
        return (await self._conn.execute(query)).scalar()

    async def set_cron_mark(
        self, tenant_id: str, workflow: str, index: int, slot: datetime, previous: datetime | None
    ) -> None:
        m = workflow_cron_marks.c
        if previous is None:
            await self._conn.execute(
                insert(workflow_cron_marks).values(
                    tenant_id=tenant_id, workflow=workflow, trigger=index, last_fired=slot
                )
            )
        else:
            await self._conn.execute(
                update(workflow_cron_marks)
                .where(
                    m.tenant_id == tenant_id,
                    m.workflow == workflow,
                    m.trigger == index,
                )
                .values(last_fired=slot)
            )

    # --- user tasks ---

    async def add_user_task(self, row: dict[str, Any]) -> None:
        await self._conn.execute(
            insert(user_tasks).values(
                **{
                    **row,
                    "form": _dump(row["form"]),
                    "candidate_groups": _dump(row["candidate_groups"]),
                }
            )
        )

    async def user_task(self, tenant_id: str, task_id: str) -> dict[str, Any] | None:
        u = user_tasks.c
        row = (
            await self._conn.execute(
                select(user_tasks).where(u.tenant_id == tenant_id, u.id == task_id)
            )
        ).first()
        return _user_task(row) if row else None

    async def user_tasks(
        self,
        tenant_id: str,
        *,
        status: str | None,
        user: str | None,
        groups: Sequence[str],
        limit: int,
    ) -> list[dict[str, Any]]:
        u = user_tasks.c
        query = select(user_tasks).where(u.tenant_id == tenant_id).order_by(u.created_at)
        if status:
            query = query.where(u.status == status)
        if user is not None:
            mine = [u.assignee == user, u.claimed_by == user]
            mine += [u.candidate_groups.like(f'%"{g}"%') for g in groups]
            query = query.where(or_(*mine))
        return [_user_task(r) for r in await self._conn.execute(query.limit(limit))]

    async def update_user_task(
        self, task_id: str, expect_status: Sequence[str], **values: Any
    ) -> bool:
        if "values" in values:
            values["values"] = _dump(values["values"])
        result = await self._conn.execute(
            update(user_tasks)
            .where(
                and_(user_tasks.c.id == task_id, user_tasks.c.status.in_(list(expect_status))),
            )
            .values(**values)
        )
        return result.rowcount == 1

    async def cancel_user_tasks(self, run_id: str) -> None:
        await self._conn.execute(
            update(user_tasks)
            .where(
                user_tasks.c.run_id == run_id,
                user_tasks.c.status.in_(["open", "claimed"]),
            )
            .values(status="cancelled")
        )

    # --- transitions written together (one transaction for many runs' transitions) ---

    async def lock_task_owners(self, task_ids: Sequence[str]) -> dict[str, str | None]:
        """Who holds each task; on PostgreSQL the rows stay locked until commit (taken in
        id order, the order every batch takes them in, so two batches never deadlock)."""
        if not task_ids:
            return {}
        query = _locked(_TASK_OWNERS, self._conn.dialect.name)
        rows = await self._conn.execute(query, {"ids": sorted(task_ids)})
        return {row.id: row.lease_owner for row in rows}

    async def lock_run_seqs(self, run_ids: Sequence[str]) -> dict[str, int]:
        """Each run's next history seq, locked like `lock_task_owners`."""
        if not run_ids:
            return {}
        query = _locked(_RUN_SEQS, self._conn.dialect.name)
        rows = await self._conn.execute(query, {"ids": sorted(run_ids)})
        return {row.id: row.next_seq for row in rows}

    async def delete_tasks(self, task_ids: Sequence[str]) -> None:
        if task_ids:
            await self._conn.execute(_DELETE_TASKS, {"ids": list(task_ids)})

    async def update_runs(self, updates: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Move many runs' projections on (their seqs already checked under lock): one
        statement per shape of update, however many runs."""
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for run_id, values in updates:
            row = {f"v_{k}": _dump(v) if k in _JSON_COLUMNS else v for k, v in values.items()}
            row["v_id"] = run_id
            shapes.setdefault(tuple(sorted(values)), []).append(row)
        for columns, rows in shapes.items():
            await self._conn.execute(_run_update(columns), rows)

    async def add_history(self, histories: Sequence[tuple[str, Sequence[Event]]]) -> None:
        """Append many runs' events in one statement."""
        rows = [
            {
                "run_id": run_id,
                "seq": e.seq,
                "type": e.type.value,
                "step": e.step,
                "data": _dump(e.data),
                "ts": e.ts,
            }
            for run_id, events in histories
            for e in events
        ]
        if rows:
            await self._conn.execute(insert(workflow_events), rows)

    async def close_runs(self, run_ids: Sequence[str]) -> None:
        """Finished runs hold no tasks, no event waits and no open user tasks."""
        if not run_ids:
            return
        ids = list(run_ids)
        await self._conn.execute(delete(workflow_tasks).where(workflow_tasks.c.run_id.in_(ids)))
        await self._conn.execute(delete(workflow_waits).where(workflow_waits.c.run_id.in_(ids)))
        await self._conn.execute(
            update(user_tasks)
            .where(user_tasks.c.run_id.in_(ids), user_tasks.c.status.in_(["open", "claimed"]))
            .values(status="cancelled")
        )


def _run(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["input"] = json.loads(data["input"])
    data["output"] = json.loads(data["output"]) if data["output"] else None
    data["current_steps"] = json.loads(data["current_steps"])
    return data


def _user_task(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["form"] = json.loads(data["form"])
    data["candidate_groups"] = json.loads(data["candidate_groups"])
    data["values"] = json.loads(data["values"]) if data["values"] else None
    return data


# Statements of the transition path, built once: building a statement (coercing each
# operand) costs several times what SQLite takes to run it.
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_TASK_OWNERS = (
    select(workflow_tasks.c.id, workflow_tasks.c.lease_owner)
    .where(workflow_tasks.c.id.in_(_IDS))
    .order_by(workflow_tasks.c.id)
)
_RUN_SEQS = (
    select(workflow_runs.c.id, workflow_runs.c.next_seq)
    .where(workflow_runs.c.id.in_(_IDS))
    .order_by(workflow_runs.c.id)
)
_DELETE_TASKS = delete(workflow_tasks).where(workflow_tasks.c.id.in_(_IDS))
_ADVISORY_LOCK = select(func.pg_advisory_xact_lock(bindparam("id")))


def _of_key(status: Any) -> Any:
    r = workflow_runs.c
    return and_(
        status,
        r.tenant_id == bindparam("tenant"),
        r.workflow == bindparam("workflow"),
        r.concurrency_key == bindparam("key"),
    )


# A run of a `from` definition that has not reached its step is active but holds no
# slot (its concurrency_since is NULL).
_ACTIVE_OF_KEY = select(workflow_runs.c.id).where(
    _of_key(workflow_runs.c.status.in_(ACTIVE_RUN_STATUSES)),
    workflow_runs.c.concurrency_since.is_not(None),
)
_QUEUED_OF_KEY = (
    select(
        workflow_runs.c.id,
        workflow_runs.c.version,
        workflow_runs.c.priority,
        workflow_runs.c.next_seq,
        exists()
        .where(
            workflow_tasks.c.run_id == workflow_runs.c.id,
            workflow_tasks.c.kind.in_(("start", "slot")),
        )
        .label("started"),
    )
    .where(_of_key(workflow_runs.c.status == "queued"))
    .order_by(workflow_runs.c.concurrency_since, workflow_runs.c.id)
    .limit(bindparam("limit"))
)


def _key_lock_id(tenant_id: str, workflow: str, key: str) -> int:
    """A signed 64-bit advisory lock id for one key (a collision only serialises two
    keys' decisions a little more)."""
    digest = sha256(
        f"workflow-concurrency\x1f{tenant_id}\x1f{workflow}\x1f{key}".encode(
            "utf-8", "surrogatepass"
        )
    )
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


@functools.cache
def _locked(query: Any, dialect: str) -> Any:
    """`query`, taking row locks where the database has them (PostgreSQL)."""
    return query.with_for_update() if dialect == "postgresql" else query


@functools.lru_cache(maxsize=64)
def _run_update(columns: tuple[str, ...]) -> Any:
    return (
        update(workflow_runs)
        .where(workflow_runs.c.id == bindparam("v_id"))
        .values({c: bindparam(f"v_{c}") for c in columns})
    )


@functools.cache
def _event_waits_query(dialect: str) -> Any:
    w = workflow_waits.c
    among = _one_of(w.topic_key, dialect)
    return select(workflow_waits).where(among, w.tenant_id == bindparam("tenant"))


def _one_of(column: Any, dialect: str) -> Any:
    """`column` is one of the values bound as `values` (see `_one_of_value`), all in one
    bound value (an array on PostgreSQL, a JSON array on SQLite): a burst's thousands of
    topics take one statement, whose text does not change with their number (no bound
    parameter limit, one prepared statement)."""
    if dialect == "postgresql":
        return column == any_(bindparam("values", type_=ARRAY(String)))
    listed = func.json_each(bindparam("values")).table_valued("value")
    return column.in_(select(listed.c.value))


def _one_of_value(values: list[str], dialect: str) -> Any:
    """What `_one_of`'s `values` parameter takes on `dialect`."""
    return values if dialect == "postgresql" else _dump(values)
