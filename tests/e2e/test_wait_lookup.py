"""An event finds the waits it may wake by key, through an index, only in its own tenant
(issue 13, item 5): same matching as before (exact topics, `+`, `#`, named levels, match
filters), at a cost that does not grow with the tenant's other waits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, insert, select, text

from hub.bootstrap import Hub
from hub.domain.ids import new_id
from hub.engine.topics import match_topic, wait_key
from hub.store import migrate
from hub.store.database import create_engine
from hub.store.tables.core import workflow_waits
from tests.conftest import World
from tests.support import services
from tests.support.workflow_helpers import emit, history, publish, start, wait_for

A, B = "tenant-a", "tenant-b"
TOPIC = "areas/north/ack"
FILTERS = {  # step -> filter; * marks those that match TOPIC
    "exact*": TOPIC,
    "plus*": "areas/+/ack",
    "named*": "areas/{area}/ack",
    "all*": "#",
    "below*": "areas/#",
    "parent*": "areas/north/ack/#",  # '#' also matches its parent level
    "sibling": "areas/south/ack",
    "child": "areas/north/ack/more",
    "parent": "areas/north",
    "deeper": "areas/+/ack/+",
}


async def _set(hub: Hub, tenant: str, run: str, waits: dict[str, str]) -> None:
    async with hub.uow(write=True) as uow:
        await uow.workflows.set_waits(tenant, run, {s: (t, None) for s, t in waits.items()})
        await uow.commit()


async def _lookup(hub: Hub, tenant: str, topics: list[str]) -> list[Any]:
    async with hub.uow() as uow:
        return await uow.workflows.event_waits(tenant, topics)


async def _noise(hub: Hub, tenant: str, count: int) -> None:
    """`count` waits of `tenant` on other topics, half of them wildcard filters."""
    rows = [
        {
            "run_id": new_id(),
            "step": "hear",
            "tenant_id": tenant,
            "topic": topic,
            "topic_key": wait_key(topic),
        }
        for i in range(count)
        for topic in [f"other/{i}/ack" if i % 2 else f"other/{i}/+"]
    ]
    async with hub.engine.begin() as conn:
        await conn.execute(insert(workflow_waits), rows)


def test_an_event_finds_its_tenant_s_matching_waits_and_no_other(hub: Hub) -> None:
    async def scenario() -> tuple[list[Any], list[Any]]:
        await _set(hub, A, "run-a", FILTERS)
        await _set(hub, B, "run-b", FILTERS)  # the same filters in another tenant
        await _noise(hub, A, 200)
        return await _lookup(hub, A, [TOPIC]), await _lookup(hub, A, ["nothing/here"])

    found, none = asyncio.run(scenario())
    assert {w.tenant_id for w in found} == {A}
    woken = {w.step for w in found if match_topic(w.topic, TOPIC) is not None}
    assert woken == {step for step in FILTERS if step.endswith("*")}
    # filters filed under other keys are not even read
    assert not {"sibling", "child", "parent"} & {w.step for w in found}
    assert {w.step for w in none} == {"all*"}  # '#' may match anything


def test_a_burst_finds_the_waits_of_all_its_topics_in_one_statement(hub: Hub) -> None:
    topics = [f"tenants/a/devices/d/tags/t{i}" for i in range(1200)]

    async def scenario() -> list[Any]:
        await _set(hub, A, "run-a", {"first": topics[0], "last": topics[-1], "no": "x/y"})
        async with hub.uow() as uow:
            seen = _statements(hub)
            found = await uow.workflows.event_waits(A, topics)
        assert len(seen) == 1  # no parameter limit splits it, whatever the burst's size
        return found

    assert sorted(w.step for w in asyncio.run(scenario())) == ["first", "last"]


def _statements(hub: Hub) -> list[tuple[str, Any]]:
    """Statements reading workflow_waits on the engine reads go through, from now on."""
    engine = hub.uow.inline.read if hub.uow.inline is not None else hub.engine.sync_engine
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
        if "FROM workflow_waits" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_the_lookup_searches_the_index(hub: Hub) -> None:
    async def lookup() -> tuple[list[tuple[str, Any]], str]:
        await _noise(hub, A, 500)
        await _noise(hub, B, 500)
        seen = _statements(hub)
        await _lookup(hub, A, [TOPIC, "other/7/ack"])
        read = list(seen)
        postgres = hub.uow.inline is None
        return read, await _postgres_plan(hub, *read[0]) if postgres else ""

    [(statement, params)], postgres_plan = asyncio.run(lookup())
    if hub.uow.inline is not None:  # SQLite
        with hub.uow.inline.read.connect() as conn:
            plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
        reads = [step for step in plan if "workflow_waits" in step]
        assert reads == [
            "SEARCH workflow_waits USING INDEX ix_workflow_waits_topic_key_tenant_id "
            "(topic_key=? AND tenant_id=?)"
        ], plan
    else:
        assert "ix_workflow_waits_topic_key_tenant_id" in postgres_plan, postgres_plan
        assert "Index Cond: (((topic_key)::text = ANY" in postgres_plan, postgres_plan
        assert "tenant_id)::text =" in postgres_plan, postgres_plan


async def _postgres_plan(hub: Hub, statement: str, params: Any) -> str:
    async with hub.engine.connect() as conn:
        # a test-sized table is read whole by choice; the question is whether the index
        # can answer the condition on both columns
        await conn.exec_driver_sql("SET enable_seqscan = off")
        rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", params)
        return "\n".join(r[0] for r in rows)


# --- end to end ---

WAITER = """
name: waiter
version: 1.0.0
start: hear
steps:
  hear: {type: wait, event: "%s", timeout: 60s, next: done}
  done: {type: end, output: "${steps.hear.output}"}
"""


def _noise_in(world: World, hub: Hub, tenant: str, count: int) -> None:
    with world.client.portal() as portal:
        tenant_id = portal.call(hub.tenants.get, tenant).id
        portal.call(_noise, hub, tenant_id, count)


def test_an_event_wakes_the_run_among_thousands_of_other_waits(world: World, hub: Hub) -> None:
    client, eng, g_eng = world.client, world.as_("acme-engineer"), world.as_("globex-engineer")
    publish(client, eng, WAITER % "areas/${input.area}/ack")
    publish(client, g_eng, WAITER % "areas/${input.area}/ack", "globex")
    mine = start(client, eng, "waiter", {"area": "north"})
    theirs = start(client, g_eng, "waiter", {"area": "north"}, tenant="globex")
    _noise_in(world, hub, "acme", 3000)
    _noise_in(world, hub, "globex", 1000)
    wait_for(client, eng, mine["id"], ("waiting",))
    wait_for(client, g_eng, theirs["id"], ("waiting",), tenant="globex")

    emit(client, hub, "areas/south/ack", {"by": "wrong area"})
    emit(client, hub, "areas/north/ack", {"by": "dana"})
    done = wait_for(client, eng, mine["id"])
    assert done["output"] == {"topic": "areas/north/ack", "payload": {"by": "dana"}}
    signals = [e for e in history(client, eng, mine["id"]) if e["type"] == "SignalReceived"]
    assert len(signals) == 1
    # the other tenant's run on the same topic never heard acme's event
    still = client.get(f"/api/v1/tenants/globex/runs/{theirs['id']}", headers=g_eng).json()
    assert still["status"] == "waiting"


def test_wildcard_waits_wake_as_before(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_("acme-engineer")
    publish(client, eng, WAITER % "areas/${input.area}/#")
    _noise_in(world, hub, "acme", 1000)
    parent = start(client, eng, "waiter", {"area": "north"})
    below = start(client, eng, "waiter", {"area": "east"})
    for run in (parent, below):
        wait_for(client, eng, run["id"], ("waiting",))

    emit(client, hub, "areas/north", "parent level")  # '#' matches its parent too
    emit(client, hub, "areas/east/sensors/3/alarm", "deep")
    assert wait_for(client, eng, parent["id"])["output"]["payload"] == "parent level"
    assert wait_for(client, eng, below["id"])["output"]["topic"] == "areas/east/sensors/3/alarm"


def test_a_telemetry_burst_wakes_a_wait_with_a_match(world: World, hub: Hub) -> None:
    client, eng = world.client, world.as_("acme-engineer")
    publish(
        client,
        eng,
        """
name: high-pressure
version: 1.0.0
start: hear
steps:
  hear:
    type: wait
    event: "tenants/acme/devices/press/tags/+"
    match: {tag: pressure, value: 9}
    timeout: 60s
    next: done
  done: {type: end, output: "${steps.hear.output}"}
""",
    )
    run = start(client, eng, "high-pressure")
    wait_for(client, eng, run["id"], ("waiting",))
    samples = [
        (f"tenants/acme/devices/press/tags/{tag}", {"tag": tag, "value": value})
        for value in range(10)
        for tag in ("pressure", "flow")
    ]
    with client.portal() as portal:
        tenant_id = portal.call(hub.tenants.get, "acme").id
        topics = {topic for topic, _ in samples}
        portal.call(lambda: hub.bus.publish_many(tenant_id, samples, topics=topics))
    done = wait_for(client, eng, run["id"])
    assert done["output"]["payload"] == {"tag": "pressure", "value": 9}


# --- migration 0012: existing waits get their keys ---


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    admin = os.environ.get("HUB_TEST_DATABASE_URL")
    if not admin:
        yield f"sqlite+aiosqlite:///{tmp_path / 'mig.db'}"
        return
    with services.scratch_postgres("hub_waits_mig", admin_url=admin) as url:
        yield url


async def _sql(url: str, statement: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


def test_migration_0012_keys_the_waits_stored_before_it(scratch_url: str) -> None:
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "0010")
    topics = {"r1": "areas/north/ack", "r2": "areas/+/ack", "r3": "#", "r4": "a" * 400}
    for run, topic in topics.items():
        asyncio.run(
            _sql(
                scratch_url,
                text(
                    "INSERT INTO workflow_waits (run_id, step, tenant_id, topic) "
                    "VALUES (:r, 'hear', 't', :topic)"
                ).bindparams(r=run, topic=topic),
            )
        )
    command.upgrade(config, "head")
    keys = asyncio.run(
        _sql(scratch_url, select(workflow_waits.c.run_id, workflow_waits.c.topic_key))
    )
    assert dict(keys) == {run: wait_key(topic) for run, topic in topics.items()}
    command.downgrade(config, "0010")
    columns = asyncio.run(_sql(scratch_url, text("SELECT * FROM workflow_waits")))
    assert len(columns) == 4 and len(columns[0]) == 5  # topic_key is gone, the waits stay
