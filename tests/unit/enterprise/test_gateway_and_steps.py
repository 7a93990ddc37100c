"""The enterprise gateway and the erp.* steps on a fake ERP (no network): names checked
before a call goes out, the breaker per connection, clients dropped when a connection
changes, profile operations planned and their results mapped, literal inputs checked at
publish time."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import pytest

from connectors.enterprise.profiles import builtin_profile
from hub.domain.enterprise import CircuitOpen, Connection, EntityType, ErpUnavailable
from hub.domain.errors import NotFound, ValidationFailed
from hub.engine.activities import ActivityContext, ActivityRegistry, literal_view
from hub.ports.enterprise import EntityQuery
from hub.services.enterprise.activities import ErpStepError, register
from hub.services.enterprise.gateway import EnterpriseGateway
from tests.fakes import FakeErp, erp_metadata

STOCK = EntityType(
    "MaterialStockType",
    ("Material", "Plant"),
    {
        "Material": "Edm.String",
        "Plant": "Edm.String",
        "Quantity": "Edm.Decimal",
        "Unit": "Edm.String",
    },
)
ORDERS = EntityType(
    "ProductionOrderType", ("ID",), {"ID": "Edm.String", "Quantity": "Edm.Decimal"}, etag=True
)
META = erp_metadata(MaterialStock=STOCK, ProductionOrders=ORDERS)
DATA = {
    "MaterialStock": [{"Material": "M1", "Plant": "1000", "Quantity": 1200, "Unit": "PC"}],
    "ProductionOrders": [{"ID": "1000001", "Quantity": 100}],
}


def synchronously(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.connections = {("t1", "erp"): Connection("t1", "erp", "http://erp.test/odata/")}
        self.clients: list[FakeErp] = []
        self.gateway = EnterpriseGateway(
            self.load, self.connect, seconds=lambda: self.now, failure_threshold=3, cooldown_s=30
        )

    async def load(self, tenant_id: str, name: str) -> Connection:
        found = self.connections.get((tenant_id, name))
        if found is None:
            raise NotFound(f"connection {name!r} not found")
        return found

    def connect(self, connection: Connection) -> FakeErp:
        self.clients.append(FakeErp(META, DATA))
        return self.clients[-1]


@pytest.fixture
def world() -> World:
    return World()


@synchronously
async def test_unknown_names_fail_before_any_request(world: World) -> None:
    gateway = world.gateway
    with pytest.raises(NotFound, match="Nope"):
        await gateway.query("t1", "erp", EntityQuery("Nope"))
    with pytest.raises(ValidationFailed) as bad:
        await gateway.query("t1", "erp", EntityQuery("MaterialStock", select=("Colour",)))
    assert [p.field for p in bad.value.problems] == ["select[0]"]
    with pytest.raises(ValidationFailed):
        await gateway.read("t1", "erp", "MaterialStock", {"Material": "M1"})  # half a key
    with pytest.raises(NotFound):
        await gateway.query("t2", "erp", EntityQuery("MaterialStock"))  # not t2's
    assert world.clients[0].calls == ["metadata"]  # only the metadata was read


@synchronously
async def test_breaker_opens_after_failures_and_closes_after_cooldown(world: World) -> None:
    gateway = world.gateway
    await gateway.metadata("t1", "erp")
    erp = world.clients[0]
    erp.down = True
    for _ in range(3):
        with pytest.raises(ErpUnavailable):
            await gateway.read("t1", "erp", "ProductionOrders", "1000001")
    calls = len(erp.calls)
    with pytest.raises(CircuitOpen) as held:
        await gateway.read("t1", "erp", "ProductionOrders", "1000001")
    assert len(erp.calls) == calls  # the ERP was not called
    assert held.value.retry_after == pytest.approx(30)
    assert (await gateway.health("t1", "erp")).circuit == "open"

    world.now = 31.0  # half-open: one call goes through; it succeeds and closes
    erp.down = False
    item = await gateway.read("t1", "erp", "ProductionOrders", "1000001")
    assert item["Quantity"] == 100
    assert (await gateway.health("t1", "erp")).circuit == "closed"


@synchronously
async def test_a_changed_connection_gets_a_new_client(world: World) -> None:
    gateway = world.gateway
    await gateway.metadata("t1", "erp")
    world.connections[("t1", "erp")] = replace(world.connections[("t1", "erp")], revision=2)
    gateway.forget("t1", "erp")
    await gateway.metadata("t1", "erp")
    assert len(world.clients) == 2
    await gateway.close()
    assert all(client.closed for client in world.clients)


def _context() -> ActivityContext:
    return ActivityContext(tenant="t1", workflow="w", run_id="r1", step_id="s", attempt=1)


@synchronously
async def test_steps_report_typed_failures(world: World) -> None:
    registry = ActivityRegistry()
    register(registry, world.gateway, builtin_profile)
    get, update = registry.get("erp.get"), registry.get("erp.update")
    read = await get(
        _context(), {"connection": "erp", "entity_set": "ProductionOrders", "key": "1000001"}
    )
    assert read["etag"] == 'W/"1"' and read["item"]["ID"] == "1000001"
    step = {"connection": "erp", "entity_set": "ProductionOrders", "key": "1000001"}
    await update(_context(), {**step, "data": {"Quantity": 5}, "etag": read["etag"]})
    with pytest.raises(ErpStepError) as stale:
        await update(_context(), {**step, "data": {"Quantity": 6}, "etag": read["etag"]})
    assert (stale.value.error_type, stale.value.retryable) == ("PreconditionFailed", False)
    with pytest.raises(ErpStepError) as missing:
        await get(_context(), {"connection": "gone", "entity_set": "ProductionOrders", "key": "1"})
    assert missing.value.error_type == "NotFound"


@synchronously
async def test_a_profile_operation_is_planned_and_its_result_mapped(world: World) -> None:
    world.connections[("t1", "erp")] = replace(
        world.connections[("t1", "erp")], profile="sample_erp"
    )
    registry = ActivityRegistry()
    register(registry, world.gateway, builtin_profile)
    operation = registry.get("erp.operation")
    stock = await operation(
        _context(),
        {"connection": "erp", "operation": "check_inventory",
         "params": {"material_id": "M1", "plant": "1000"}},
    )  # fmt: skip
    assert stock["available_quantity"] == 1200 and stock["plant"] == "1000"
    with pytest.raises(ErpStepError) as unknown:
        await operation(_context(), {"connection": "erp", "operation": "teleport"})
    assert unknown.value.error_type == "NotFound"
    with pytest.raises(ErpStepError) as missing:
        await operation(
            _context(), {"connection": "erp", "operation": "check_inventory", "params": {}}
        )
    assert missing.value.error_type == "InvalidRequest"


@pytest.mark.parametrize(
    ("activity", "literal", "fields"),
    [
        ("erp.query", {"entity_set": "X", "top": "ten"}, {"connection", "top"}),
        ("erp.get", {"connection": "c", "entity_set": "X"}, {"key"}),
        ("erp.update", {"connection": "c", "entity_set": "X", "key": 1, "data": []}, {"data"}),
        ("erp.batch", {"connection": "c", "changes": [], "colour": 1}, {"changes", "colour"}),
        ("erp.operation", {"connection": "c"}, {"operation"}),
        ("erp.query", {"connection": "${input.c}", "entity_set": "X", "top": "${input.n}"}, set()),
        ("erp.get", "${input.spec}", set()),
    ],
)
def test_literal_inputs_are_checked_at_publish(
    activity: str, literal: Any, fields: set[str]
) -> None:
    registry = ActivityRegistry()
    register(registry, EnterpriseGateway(World().load, World().connect), builtin_profile)
    check = registry.input_validators()[activity]
    assert {p.field for p in check(literal_view(literal))} == fields
