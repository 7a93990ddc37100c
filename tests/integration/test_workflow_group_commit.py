"""Group-committed transitions (hub/services/workflows/commits.py): many runs' transitions
share a transaction, yet each stays atomic, a transition that no longer applies is turned
back without writing, and a bad one fails alone."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from hub.bootstrap import Hub
from hub.domain.audit import SYSTEM
from hub.domain.tenancy import Tenant
from hub.services.audit.export import verify_log
from hub.services.audit.log import AuditLogRef
from hub.services.workflows.service import StartRun

THREE_STEPS: dict[str, Any] = {
    "name": "three",
    "version": "1.0.0",
    "start": "a",
    "steps": {
        "a": {"type": "activity", "activity": "noop", "input": {"n": "${input.n}"}, "next": "b"},
        "b": {"type": "activity", "activity": "noop", "input": "${steps.a.output}", "next": "c"},
        "c": {"type": "activity", "activity": "noop", "input": "${steps.b.output}", "next": "e"},
        "e": {"type": "end", "output": "${steps.c.output}"},
    },
}
SIGNALLED: dict[str, Any] = {
    "name": "signalled",
    "version": "1.0.0",
    "start": "w",
    "steps": {
        "w": {"type": "wait", "signal": "go", "next": "e"},
        "e": {"type": "end", "output": "${input}"},
    },
}


async def _finished(hub: Hub, tenant: Tenant, count: int) -> list[dict[str, Any]]:
    for _ in range(2000):
        runs, _cursor = await hub.workflows.runs(tenant, None, None, None, 500)
        if sum(r["status"] in ("completed", "failed", "cancelled") for r in runs) >= count:
            return runs
        await asyncio.sleep(0.01)
    raise AssertionError("runs did not finish")


async def _many_runs_at_once(hub: Hub) -> None:
    await hub.start(run_workers=True)
    try:
        tenant = await hub.tenants.create("gc", "Group commit", SYSTEM)
        await hub.workflows.publish(tenant, THREE_STEPS, SYSTEM)
        async with hub.uow() as uow:
            before = await uow.audit.size(tenant.id)
        starts = [
            hub.workflows.start(tenant, StartRun("three", {"n": i}), SYSTEM) for i in range(60)
        ]
        await asyncio.gather(*starts)
        runs = await _finished(hub, tenant, 60)
        assert sorted(r["output"]["n"] for r in runs) == list(range(60))
        assert {r["status"] for r in runs} == {"completed"}
        for run in runs:  # each run's history is whole and in order
            events = await hub.workflows.history(tenant, run["id"])
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            done = [e["step"] for e in events if e["type"] == "ActivityCompleted"]
            assert done == ["a", "b", "c"]
        report = await verify_log(hub.uow, hub.audit, AuditLogRef(tenant.id, "gc"))
        assert report.ok
        async with hub.uow() as uow:
            entries = await uow.audit.size(tenant.id)
        assert entries == before + 2 * 60  # each run's start and its completion
    finally:
        await hub.close()


def test_many_runs_share_transactions_and_each_keeps_its_whole_history(hub: Hub) -> None:
    asyncio.run(_many_runs_at_once(hub))


async def _signals_racing(hub: Hub) -> None:
    await hub.start(run_workers=True)
    try:
        tenant = await hub.tenants.create("gc", "Group commit", SYSTEM)
        await hub.workflows.publish(tenant, SIGNALLED, SYSTEM)
        run, _ = await hub.workflows.start(tenant, StartRun("signalled", {"x": 1}), SYSTEM)
        # Two signals for one run, ready in the same turn: they land in one batch, where
        # the second finds its run moved by the first and is taken again on top of it.
        await asyncio.gather(
            hub.workflows.signal(tenant, run["id"], "early", {"k": 1}, SYSTEM),
            hub.workflows.signal(tenant, run["id"], "other", {"k": 2}, SYSTEM),
        )
        events = await hub.workflows.history(tenant, run["id"])
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        received = Counter(e["type"] for e in events)["SignalReceived"]
        assert received == 2
    finally:
        await hub.close()


def test_two_transitions_of_one_run_in_one_batch_are_both_applied_in_turn(hub: Hub) -> None:
    asyncio.run(_signals_racing(hub))


async def _a_duplicate_among_many(hub: Hub) -> None:
    await hub.start(run_workers=False)
    try:
        tenant = await hub.tenants.create("gc", "Group commit", SYSTEM)
        await hub.workflows.publish(tenant, THREE_STEPS, SYSTEM)
        keyed = StartRun("three", {"n": 0}, idempotency_key="only-once")
        others = [StartRun("three", {"n": i}) for i in range(1, 20)]
        results = await asyncio.gather(
            *(hub.workflows.start(tenant, s, SYSTEM) for s in [keyed, *others, keyed])
        )
        created = [made for _, made in results]
        assert created.count(False) == 1  # the replay of the key, not a failure of its batch
        assert results[0][0]["id"] == results[-1][0]["id"]
        runs, _ = await hub.workflows.runs(tenant, None, None, None, 500)
        assert len(runs) == 20
    finally:
        await hub.close()


def test_a_bad_transition_fails_alone_and_its_batch_is_written(hub: Hub) -> None:
    asyncio.run(_a_duplicate_among_many(hub))
