"""Retention of finished runs (HUB_RUN_RETENTION_DAYS): a run finished longer ago than the
retention goes with its history, tasks and user tasks; recent and running runs stay, a
finished child stays while its parent runs, and the audit log keeps every entry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hub.bootstrap import Hub
from hub.services.audit.export import verify_log
from hub.services.audit.log import AuditLogRef
from hub.services.workflows.retention import RunRetention
from hub.store.tables.core import user_tasks, workflow_events, workflow_tasks, workflow_waits
from tests.conftest import World
from tests.support.waiting import eventually
from tests.support.workflow_helpers import FixedClock, publish, start, wait_for

ENGINEER = "acme-engineer"
RUNS = "/api/v1/tenants/acme/runs"
DAYS = 30
QUICK = """
name: quick
version: 1.0.0
start: a
steps:
  a: {type: activity, activity: noop, next: done}
  done: {type: end}
"""
ASK = """
name: ask
version: 1.0.0
start: ask
steps:
  ask: {type: user_task, title: Approve, form: [{id: ok, type: boolean}], next: done}
  done: {type: end}
"""
HOLD = """
name: hold
version: 1.0.0
start: hold
steps:
  hold: {type: wait, signal: go, timeout: 1h, on_timeout: done, next: done}
  done: {type: end}
"""
PARENT = """
name: parent
version: 1.0.0
start: call
steps:
  call: {type: subworkflow, workflow: "quick@^1", next: hold}
  hold: {type: wait, signal: go, timeout: 1h, on_timeout: done, next: done}
  done: {type: end}
"""


def _purge(world: World, hub: Hub, at: datetime) -> int:
    with world.client.portal() as portal:
        return int(portal.call(RunRetention(hub.uow, FixedClock(at), DAYS, batch=2).purge))


def _rows(world: World, hub: Hub, run_id: str) -> dict[str, int]:
    """How many rows of each kind the run holds."""

    async def count() -> dict[str, int]:
        async with hub.uow() as uow:
            conn = uow.workflows._conn
            found = {}
            for table in (workflow_events, workflow_tasks, workflow_waits, user_tasks):
                query = select(func.count()).where(table.c.run_id == run_id)
                found[table.name] = int((await conn.execute(query)).scalar())
            found["run"] = int(await uow.workflows.run(None, run_id) is not None)
            return found

    with world.client.portal() as portal:
        return portal.call(count)


def _updated_at(world: World, run_id: str) -> datetime:
    found = world.client.get(f"{RUNS}/{run_id}", headers=world.as_(ENGINEER)).json()
    return datetime.fromisoformat(found["updated_at"])


def _audit(world: World, hub: Hub) -> tuple[int, bool]:
    """The tenant's audit entries and whether its log still verifies."""

    async def check() -> tuple[int, bool]:
        tenant = await hub.tenants.get("acme")
        assert tenant is not None
        async with hub.uow() as uow:
            entries = await uow.audit.scan(tenant.id, 0, 100_000)
        report = await verify_log(hub.uow, hub.audit, AuditLogRef(tenant.id, tenant.slug))
        return len(entries), report.ok

    with world.client.portal() as portal:
        return portal.call(check)


def _finished(world: World, workflow: str) -> dict[str, Any]:
    client, eng = world.client, world.as_(ENGINEER)
    run = start(client, eng, workflow)
    return wait_for(client, eng, run["id"])


def test_runs_finished_before_the_retention_go_with_their_rows(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    for text in (QUICK, ASK, HOLD):
        assert publish(client, eng, text).status_code == 201
    holding = start(client, eng, "hold")
    wait_for(client, eng, holding["id"], ("waiting",))
    asked = start(client, eng, "ask")
    wait_for(client, eng, asked["id"], ("waiting",))
    assert client.post(f"{RUNS}/{asked['id']}/cancel", headers=eng).status_code == 200
    assert wait_for(client, eng, asked["id"])["status"] == "cancelled"
    old = _finished(world, "quick")
    recent = _finished(world, "quick")
    assert _rows(world, hub, asked["id"])["user_tasks"] == 1
    entries = _audit(world, hub)[0]

    # the cutoff falls between the two quick runs' last updates
    first, last = _updated_at(world, old["id"]), _updated_at(world, recent["id"])
    assert first < last
    removed = _purge(world, hub, first + (last - first) / 2 + timedelta(days=DAYS))

    assert removed == 2  # in batches of two: a second, empty one ends the purge
    for gone in (asked, old):
        assert client.get(f"{RUNS}/{gone['id']}", headers=eng).status_code == 404
        assert set(_rows(world, hub, gone["id"]).values()) == {0}
    for kept in (recent, holding):
        assert _rows(world, hub, kept["id"])["run"] == 1
        assert _rows(world, hub, kept["id"])["workflow_events"] > 0
    assert _audit(world, hub) == (entries, True)  # every entry stays; the log verifies
    # the run that was waiting still runs
    assert (
        client.post(f"{RUNS}/{holding['id']}/signals/go", json={}, headers=eng).status_code == 200
    )
    assert wait_for(client, eng, holding["id"])["status"] == "completed"


def test_a_finished_child_stays_while_its_parent_runs(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    for text in (QUICK, PARENT):
        assert publish(client, eng, text).status_code == 201
    parent = start(client, eng, "parent")
    eventually(
        lambda: (
            client.get(f"{RUNS}/{parent['id']}", headers=eng).json()["current_steps"] == ["hold"]
        )
    )
    child = client.get(f"{RUNS}?workflow=quick", headers=eng).json()["items"][0]
    assert (child["parent_run_id"], child["status"]) == (parent["id"], "completed")
    far = _updated_at(world, child["id"]) + timedelta(days=10 * DAYS)

    assert _purge(world, hub, far) == 0
    assert client.post(f"{RUNS}/{parent['id']}/signals/go", json={}, headers=eng).status_code == 200
    assert wait_for(client, eng, parent["id"])["status"] == "completed"  # not broken
    assert _purge(world, hub, far) == 2
    assert client.get(f"{RUNS}/{child['id']}", headers=eng).status_code == 404


def test_retention_zero_keeps_every_run(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    publish(client, eng, QUICK)
    run = _finished(world, "quick")
    keep = RunRetention(hub.uow, FixedClock(_updated_at(world, run["id"]) + timedelta(days=999)), 0)
    with client.portal() as portal:
        assert portal.call(keep.purge) == 0
        portal.call(keep.start)
        assert keep._task is None  # no loop runs at all
    assert _rows(world, hub, run["id"])["run"] == 1
