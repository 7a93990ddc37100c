"""The run queries whose cost must not grow with stored runs (issue 13, item 5): each page
of the runs list walks an index in order and stops at its limit, the hub_runs gauge reads
only runs in flight, and the retention purge reads only runs older than its cutoff. A
concurrency key's runs are read through their own index, and its lock holds writers off."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.engine.history import RunStatus
from hub.settings import Settings
from hub.store.database import create_engine
from hub.store.repositories.workflows import SqlWorkflows
from hub.store.tables.core import FINISHED_RUN_STATUSES, LIVE_RUN_STATUSES, workflow_runs

TENANT, OTHER = "t" * 32, "o" * 32
STATUSES = ["completed", "completed", "failed", "waiting", "running", "suspended", "cancelled"]
FILTERS = list(itertools.product((None, "waiting"), (None, "wf-1"), (None, "f" * 32)))


def _id(at: datetime) -> str:
    """An id as new_id() makes it at `at` (its first 48 bits are the milliseconds)."""
    return f"{int(at.timestamp() * 1000):012x}{os.urandom(10).hex()}"


def _row(tenant: str, i: int, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": _id(at),
        "tenant_id": tenant,
        "workflow": f"wf-{i % 3}",
        "version": "1.0.0",
        "status": STATUSES[i % len(STATUSES)],
        "priority": 0,
        "input": "{}",
        "output": None,
        "error": None,
        "current_steps": "[]",
        "next_seq": 3,
        "idempotency_key": None,
        "parent_run_id": None,
        "parent_step": None,
        "created_at": at,
        "updated_at": at,
        "concurrency_key": None,
        "concurrency_since": at if extra.get("concurrency_key") else None,
        **extra,
    }


async def _with_store(
    url: str, body: Callable[[AsyncConnection, SqlWorkflows], Awaitable[Any]]
) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await body(conn, SqlWorkflows(conn))
    finally:
        await engine.dispose()


async def _plan(conn: AsyncConnection, call: Callable[[], Awaitable[Any]], nth: int = 0) -> str:
    """The database's plan for the (`nth`) SELECT that `call` runs, as one text."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(conn.sync_engine, "before_cursor_execute", capture)
    try:
        await call()
    finally:
        event.remove(conn.sync_engine, "before_cursor_execute", capture)
    selects = [s for s in seen if s[0].lstrip().upper().startswith("SELECT")]
    statement, parameters = selects[nth]
    if conn.dialect.name == "postgresql":
        # With sorts and full scans priced out, a plan still holding one has no index to use.
        await conn.exec_driver_sql("SET LOCAL enable_sort = off")
        await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
    else:
        rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    return "\n".join(str(row[-1]) for row in rows)


def _sorts(plan: str, dialect: str) -> bool:
    if dialect == "postgresql":
        return any(line.strip().startswith(("Sort", "->  Sort")) for line in plan.splitlines())
    return "USE TEMP B-TREE" in plan


@pytest.mark.parametrize(("status", "workflow", "after"), FILTERS)
def test_a_runs_page_walks_an_index_in_order(
    settings: Settings, status: str | None, workflow: str | None, after: str | None
) -> None:
    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> tuple[str, str]:
        plan = await _plan(conn, lambda: repo.runs(TENANT, status, workflow, after, 51))
        return plan, conn.dialect.name

    plan, dialect = asyncio.run(_with_store(settings.database_url, body))
    assert "ix_workflow_runs_tenant_id_" in plan, plan
    assert not _sorts(plan, dialect), plan


def test_the_gauge_reads_only_runs_in_flight(settings: Settings) -> None:
    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> tuple[str, str]:
        return await _plan(conn, repo.count_live), conn.dialect.name

    plan, dialect = asyncio.run(_with_store(settings.database_url, body))
    assert "ix_workflow_runs_live" in plan, plan
    if dialect == "sqlite":  # the partial index alone: runs in flight, nothing finished
        assert "COVERING INDEX ix_workflow_runs_live" in plan, plan


def test_the_purge_reads_only_runs_older_than_its_cutoff(settings: Settings) -> None:
    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> tuple[str, str]:
        plan = await _plan(conn, lambda: repo.purge_finished(datetime.now(UTC), 10))
        await conn.rollback()
        return plan, conn.dialect.name

    plan, dialect = asyncio.run(_with_store(settings.database_url, body))
    if dialect == "sqlite":
        # every table is searched by a key, none scanned whole
        assert "SCAN" not in plan and "(id<?)" in plan, plan
    else:
        assert "Seq Scan" not in plan and "pk_workflow_runs" in plan, plan


@pytest.mark.parametrize("nth", [0, 1])
def test_a_keys_active_runs_and_queue_are_read_through_their_index(
    settings: Settings, nth: int
) -> None:
    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> tuple[str, str]:
        slots = lambda: repo.concurrency_slots(TENANT, "wf-1", "L1", 5)  # noqa: E731
        return await _plan(conn, slots, nth), conn.dialect.name

    plan, dialect = asyncio.run(_with_store(settings.database_url, body))
    # the active runs may as well be found among the runs in flight (PostgreSQL picks
    # either on a small table); the queue only through the key's index, in its order
    indexes = ("ix_workflow_runs_concurrency", "ix_workflow_runs_live")[: 2 if nth == 0 else 1]
    assert any(index in plan for index in indexes), plan
    assert not _sorts(plan, dialect), plan


def test_the_keys_with_a_queue_are_found_through_the_index(settings: Settings) -> None:
    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> str:
        return await _plan(conn, lambda: repo.queued_keys(10))

    plan = asyncio.run(_with_store(settings.database_url, body))
    assert "ix_workflow_runs_concurrency" in plan, plan


def test_a_keys_queue_in_creation_order_and_its_active_runs(settings: Settings) -> None:
    now = datetime.now(UTC)
    keyed = {"workflow": "wf-1", "concurrency_key": "L1"}
    rows = [
        _row(TENANT, 0, now, status="running", **keyed),
        _row(TENANT, 1, now, status="suspended", **keyed),
        _row(TENANT, 2, now, status="completed", **keyed),
        _row(TENANT, 3, now + timedelta(seconds=2), status="queued", **keyed),
        _row(TENANT, 4, now + timedelta(seconds=1), status="queued", **keyed),
        _row(TENANT, 5, now, status="queued", workflow="wf-1", concurrency_key="L2"),
        _row(TENANT, 6, now, status="queued", workflow="wf-2", concurrency_key="L1"),
        _row(OTHER, 7, now, status="queued", **keyed),
        _row(TENANT, 8, now, status="running", workflow="wf-1"),  # no key
        # a `from` run before its step: running, holding nothing
        _row(TENANT, 9, now, status="running", concurrency_since=None, **keyed),
        # a `from` run waiting at its step since before the queued ones were created: its
        # place is when it reached the step, not when it was created
        _row(TENANT, 10, now + timedelta(seconds=3), status="queued", **keyed)
        | {"concurrency_since": now + timedelta(milliseconds=500)},
    ]

    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> Any:
        await _fill(conn, rows)
        return await repo.concurrency_slots(TENANT, "wf-1", "L1", 5), await repo.queued_keys(10)

    (active, queued), keys = asyncio.run(_with_store(settings.database_url, body))
    assert sorted(active) == sorted(r["id"] for r in rows[:2])
    assert [q["id"] for q in queued] == [rows[10]["id"], rows[4]["id"], rows[3]["id"]]
    assert [q["at_step"] for q in queued] == [True, True, True]  # next_seq 3 in these rows
    assert not any(q["started"] for q in queued)
    assert sorted(keys) == sorted(
        [(TENANT, "wf-1", "L1"), (TENANT, "wf-1", "L2"), (TENANT, "wf-2", "L1"),
         (OTHER, "wf-1", "L1")]
    )  # fmt: skip


def test_a_keys_lock_holds_a_second_writer_until_commit(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite's write lock serialises every writer already")

    async def body() -> list[str]:
        engine = create_engine(settings.database_url)
        seen: list[str] = []
        try:
            async with engine.connect() as first, engine.connect() as second:
                await SqlWorkflows(first).lock_concurrency_keys([(TENANT, "wf", "L1")])
                await second.exec_driver_sql("SET lock_timeout = '200ms'")
                try:
                    await SqlWorkflows(second).lock_concurrency_keys([(TENANT, "wf", "L1")])
                except DBAPIError:
                    seen.append("held")
                await second.rollback()
                await SqlWorkflows(second).lock_concurrency_keys([(TENANT, "wf", "L2")])
                seen.append("other key free")
                await first.commit()
                await SqlWorkflows(second).lock_concurrency_keys([(TENANT, "wf", "L1")])
                seen.append("taken after commit")
                await second.rollback()
        finally:
            await engine.dispose()
        return seen

    assert asyncio.run(body()) == ["held", "other key free", "taken after commit"]


def test_live_statuses_are_the_unfinished_run_statuses() -> None:
    assert set(LIVE_RUN_STATUSES) == {s.value for s in RunStatus if not s.finished}
    assert set(FINISHED_RUN_STATUSES) == {s.value for s in RunStatus if s.finished}


async def _fill(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    for first in range(0, len(rows), 500):
        await conn.execute(insert(workflow_runs), rows[first : first + 500])
    await conn.commit()


def test_paging_returns_every_run_once_newest_first(settings: Settings) -> None:
    now = datetime.now(UTC)
    rows = [_row(TENANT, i, now) for i in range(1200)] + [_row(OTHER, i, now) for i in range(50)]

    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> dict[Any, list[str]]:
        await _fill(conn, rows)
        seen = {}
        for status, workflow in itertools.product((None, "waiting"), (None, "wf-1")):
            ids: list[str] = []
            cursor = None
            while True:  # as the service pages: limit + 1 tells whether more follow
                page = await repo.runs(TENANT, status, workflow, cursor, 51)
                ids += [r["id"] for r in page[:50]]
                if len(page) <= 50:
                    break
                cursor = page[49]["id"]
            seen[(status, workflow)] = ids
        return seen

    seen = asyncio.run(_with_store(settings.database_url, body))
    for (status, workflow), ids in seen.items():
        expected = sorted(
            (
                r["id"]
                for r in rows
                if r["tenant_id"] == TENANT
                and status in (None, r["status"])
                and workflow in (None, r["workflow"])
            ),
            reverse=True,
        )
        assert ids == expected, (status, workflow)
    assert len(seen[(None, None)]) == 1200


def test_counts_of_runs_in_flight_and_of_a_tenant_by_status(settings: Settings) -> None:
    now = datetime.now(UTC)
    rows = [_row(TENANT, i, now) for i in range(70)] + [_row(OTHER, i, now) for i in range(7)]

    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> Any:
        await _fill(conn, rows)
        return await repo.count_live(), await repo.count_by_status(TENANT)

    live, mine = asyncio.run(_with_store(settings.database_url, body))
    expected = Counter(
        (r["tenant_id"], r["workflow"], r["status"])
        for r in rows
        if r["status"] in LIVE_RUN_STATUSES
    )
    assert {(t, w, s): n for t, w, s, n in live} == dict(expected)
    assert mine == dict(Counter(r["status"] for r in rows if r["tenant_id"] == TENANT))


def test_the_purge_removes_old_finished_runs_in_batches(settings: Settings) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    rows = [_row(TENANT, i, old) for i in range(14)] + [_row(TENANT, i, recent) for i in range(7)]
    cutoff = now - timedelta(days=30)

    async def body(conn: AsyncConnection, repo: SqlWorkflows) -> Any:
        await _fill(conn, rows)
        batches = []
        while True:
            removed = await repo.purge_finished(cutoff, 3)
            await conn.commit()
            batches.append(removed)
            if removed < 3:
                break
        left = await repo.runs(TENANT, None, None, None, 100)
        return batches, {r["id"] for r in left}

    batches, left = asyncio.run(_with_store(settings.database_url, body))
    gone = {
        r["id"] for r in rows if r["updated_at"] == old and r["status"] in FINISHED_RUN_STATUSES
    }
    assert sum(batches) == len(gone) == 8 and max(batches) == 3
    assert left == {r["id"] for r in rows} - gone
