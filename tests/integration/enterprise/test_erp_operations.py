"""Every operation of the sample_erp profile (connectors/enterprise/profiles/sample_erp.yaml)
through the hub's own stack, `run_operation` over an EnterpriseGateway and the OData
client, against the real sample ERP, V4 and V2: the production-control flow (released
orders of a line and what changed since a moment, components against stock, material
requests and confirmations refused a second time for the same reference, completion
guarded by the order's ETag, goods receipts) and the operations before it.

The sample ERP is shared by the session: tests read the seeded LINE1 orders (1000101,
all components in stock; 1000102, short of RM-30) but write only orders, materials and
references of their own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import pytest

from connectors.enterprise.profiles import builtin_profile
from hub.domain.enterprise import ErpConflict, PreconditionFailed
from hub.domain.enterprise_profiles import plan
from hub.ports.enterprise import EntityQuery
from hub.services.enterprise.gateway import EnterpriseGateway
from hub.services.enterprise.operations import run_operation
from tests.integration.enterprise.test_enterprise_gateway import gateway as connection_gateway
from tests.integration.enterprise.test_odata_client import (
    TENANT,
    VERSIONS,
    run,
    unique,
)
from tests.support.erp import SampleErp

PROFILE = "sample_erp"
LINE = "LINE1"
SUFFICIENT, SHORT = "1000101", "1000102"  # seeded released LINE1 orders
WAIT_S = 10.0
# The operations the tests below run: the last test checks the profile has no other.
EXERCISED = {
    "list_released_production_orders", "read_production_order", "read_order_components",
    "check_inventory", "request_materials", "confirm_production_order",
    "complete_production_order", "post_goods_receipt", "read_material_stock",
    "customer_credit", "create_maintenance_request", "create_sales_order",
}  # fmt: skip

Op = Callable[..., Awaitable[Any]]


@pytest.fixture
def erp(sample_erp: SampleErp) -> Iterator[SampleErp]:
    sample_erp.reset()
    yield sample_erp
    sample_erp.reset()


def gateway(erp: SampleErp, version: str) -> AbstractAsyncContextManager[EnterpriseGateway]:
    return connection_gateway(erp, version, profile=PROFILE)


def operations(hub: EnterpriseGateway) -> Op:
    """`await op(name, **params)`: the profile's operation on the connection, each call
    with an idempotency key of its own (as each step of a run has)."""

    async def op(name: str, **params: Any) -> Any:
        spec = {"connection": "erp", "operation": name, "params": params}
        key = f"test:{name}:{uuid.uuid4().hex}"
        return await run_operation(hub, builtin_profile, TENANT, spec, idempotency_key=key)

    return op


async def released_order(hub: EnterpriseGateway, work_center: str, quantity: int = 10) -> str:
    """A released order of the test's own on a line of its own."""
    order_id = unique("T", 12)
    await hub.create(
        TENANT,
        "erp",
        "ProductionOrders",
        {
            "ID": order_id,
            "Material": "FG-100",
            "Plant": "1000",
            "WorkCenter": work_center,
            "Quantity": quantity,
            "Status": "RELEASED",
            "ScheduledStart": "2025-03-06T06:00:00Z",
        },
    )
    return order_id


def ids(listed: dict[str, Any]) -> list[str]:
    return [order["order_id"] for order in listed["orders"]]


# --- released orders ----------------------------------------------------------------


@VERSIONS
def test_released_orders_of_a_line_earliest_first_with_their_etags(
    erp: SampleErp, version: str
) -> None:
    async def go() -> None:
        async with gateway(erp, version) as hub:
            op = operations(hub)
            listed = await op("list_released_production_orders", work_center=LINE)
            orders = {order["order_id"]: order for order in listed["orders"]}
            assert {SUFFICIENT, SHORT} <= set(orders)
            assert ids(listed).index(SUFFICIENT) < ids(listed).index(SHORT)  # earlier start
            first = orders[SUFFICIENT]
            assert {k: first[k] for k in ("material", "plant", "quantity", "unit")} == {
                "material": "FG-100", "plant": "1000", "quantity": 100, "unit": "PC",
            }  # fmt: skip
            assert first["work_center"] == LINE
            assert first["scheduled_start"] == "2025-03-05T06:00:00+00:00"
            assert first["etag"].startswith('W/"')
            datetime.fromisoformat(first["changed_at"])
            assert all(order["work_center"] == LINE for order in listed["orders"])
            assert "1000002" not in orders  # released, but on no line

            of_plant = await op("list_released_production_orders", plant="1000")
            assert {SUFFICIENT, SHORT, "1000002"} <= set(ids(of_plant))
            assert "1000005" not in ids(of_plant)  # plant 2000
            both = await op("list_released_production_orders", plant="2000", work_center=LINE)
            assert both == {"orders": []}

    run(go())


@VERSIONS
def test_changed_since_gives_the_orders_changed_after_the_marker(
    erp: SampleErp, version: str
) -> None:
    line = unique("L", 8)

    async def go() -> None:
        async with gateway(erp, version) as hub:
            op = operations(hub)
            early = await op(
                "list_released_production_orders",
                work_center=LINE,
                changed_since="2000-01-01T00:00:00Z",
            )
            assert {SUFFICIENT, SHORT} <= set(ids(early))
            assert await op(
                "list_released_production_orders",
                work_center=LINE,
                changed_since="2999-01-01T00:00:00+00:00",
            ) == {"orders": []}

            order_id = await released_order(hub, line)
            [order] = (await op("list_released_production_orders", work_center=line))["orders"]
            marker = order["changed_at"]
            unchanged = await op(
                "list_released_production_orders", work_center=line, changed_since=marker
            )
            assert unchanged == {"orders": []}  # gt: not the change the marker came from

            # A change of the order (here a confirmation) moves modifiedAt past the marker;
            # it has millisecond resolution, so change again until it has moved.
            deadline = time.monotonic() + WAIT_S
            changed: list[dict[str, Any]] = []
            while not changed:
                assert time.monotonic() < deadline, "modifiedAt did not move"
                await op(
                    "confirm_production_order",
                    order_id=order_id,
                    yield_quantity=1,
                    reference=unique("chg-", 40),
                )
                listed = await op(
                    "list_released_production_orders", work_center=line, changed_since=marker
                )
                changed = listed["orders"]
            assert [o["order_id"] for o in changed] == [order_id]
            assert changed[0]["etag"] != order["etag"]
            assert datetime.fromisoformat(changed[0]["changed_at"]) > datetime.fromisoformat(marker)

    run(go())


# --- the order, its components and stock --------------------------------------------


@VERSIONS
def test_an_order_its_components_and_their_stock_sufficient_and_short(
    erp: SampleErp, version: str
) -> None:
    async def go() -> dict[str, list[tuple[str, float, float]]]:
        async with gateway(erp, version) as hub:
            op = operations(hub)
            order = await op("read_production_order", order_id=SUFFICIENT)
            assert {k: v for k, v in order.items() if k != "etag"} == {
                "order_id": SUFFICIENT, "material": "FG-100", "plant": "1000",
                "quantity": 100, "unit": "PC", "status": "RELEASED", "work_center": LINE,
                "confirmed_yield": 0, "confirmed_scrap": 0,
            }  # fmt: skip
            assert order["etag"].startswith('W/"')

            stock: dict[str, list[tuple[str, float, float]]] = {}
            for order_id in (SUFFICIENT, SHORT):
                parts = (await op("read_order_components", order_id=order_id))["components"]
                stock[order_id] = []
                for part in parts:
                    found = await op(
                        "check_inventory", material_id=part["material"], plant=part["plant"]
                    )
                    stock[order_id].append(
                        (part["material"], part["required_quantity"], found["available_quantity"])
                    )
            first = await op("read_order_components", order_id=SUFFICIENT)
            assert first == {
                "components": [
                    {"material": "RM-10", "plant": "1000", "required_quantity": 200, "unit": "PC"},
                    {"material": "RM-20", "plant": "1000", "required_quantity": 50, "unit": "KG"},
                ]
            }
            assert await op("read_order_components", order_id="1000001") == {"components": []}
            return stock

    stock = run(go())
    assert all(available >= needed for _, needed, available in stock[SUFFICIENT])
    short = [material for material, needed, available in stock[SHORT] if available < needed]
    assert short == ["RM-30"]


# --- writes refused a second time -----------------------------------------------------


@VERSIONS
def test_request_materials_twice_with_one_reference_is_a_conflict(
    erp: SampleErp, version: str
) -> None:
    reference = unique("run-1:materials:", 60)

    async def go() -> None:
        async with gateway(erp, version) as hub:
            op = operations(hub)
            request = {"order_id": SHORT, "material": "RM-30", "plant": "1000", "quantity": 100}
            first = await op("request_materials", **request, reference=reference)
            assert first["status"] == "OPEN" and first["request_id"]
            with pytest.raises(ErpConflict) as again:
                await op("request_materials", **request, reference=reference)
            assert again.value.code == "DUPLICATE_CLIENT_REFERENCE"
            assert again.value.http_status == 409 and not again.value.retryable
            other = await op("request_materials", **request, reference=reference + "-2")
            assert other["request_id"] != first["request_id"]
            found = await hub.query(
                TENANT,
                "erp",
                EntityQuery("MaterialRequests", filter=f"ClientReference eq '{reference}'"),
            )
            assert [row["ID"] for row in found.items] == [first["request_id"]]
            assert found.items[0]["Quantity"] == 100 and found.items[0]["OrderID"] == SHORT

    run(go())


@VERSIONS
def test_confirm_once_per_reference_then_complete_with_the_order_etag(
    erp: SampleErp, version: str
) -> None:
    line = unique("L", 8)
    reference = unique("run-1:confirm:", 60)

    async def go() -> None:
        async with gateway(erp, version) as hub:
            op = operations(hub)
            order_id = await released_order(hub, line, quantity=10)
            before = await op("read_production_order", order_id=order_id)
            stock = {"material_id": "FG-100", "plant": "1000"}
            stock_before = (await op("check_inventory", **stock))["available_quantity"]
            confirmation = {
                "order_id": order_id,
                "yield_quantity": 8,
                "scrap_quantity": 1,
                "started_at": "2025-03-06T06:00:00Z",
                "finished_at": "2025-03-06T07:30:00Z",
                "reference": reference,
            }
            confirmed = await op("confirm_production_order", **confirmation)
            assert confirmed["order_id"] == order_id and confirmed["confirmation_id"]
            with pytest.raises(ErpConflict) as again:
                await op("confirm_production_order", **confirmation)
            assert again.value.code == "DUPLICATE_CLIENT_REFERENCE"

            after = await op("read_production_order", order_id=order_id)
            assert (after["confirmed_yield"], after["confirmed_scrap"]) == (8, 1)  # once
            # The confirmation received the yield into stock (SAP's automatic goods
            # receipt), once: the refused duplicate moved nothing.
            stock_after = (await op("check_inventory", **stock))["available_quantity"]
            assert stock_after == stock_before + 8
            assert after["etag"] != before["etag"]  # the confirmation changed the order

            with pytest.raises(PreconditionFailed):
                await op(
                    "complete_production_order",
                    order_id=order_id,
                    yield_quantity=8,
                    scrap_quantity=1,
                    etag=before["etag"],
                )
            still = await op("read_production_order", order_id=order_id)
            assert still["status"] == "RELEASED" and still["etag"] == after["etag"]

            completed = await op(
                "complete_production_order",
                order_id=order_id,
                yield_quantity=8,
                scrap_quantity=1,
                etag=still["etag"],
            )
            assert completed["status"] == "COMPLETED"
            assert completed["etag"] not in (None, still["etag"])
            final = await op("read_production_order", order_id=order_id)
            assert (final["status"], final["confirmed_yield"], final["confirmed_scrap"]) == (
                "COMPLETED",
                8,
                1,
            )
            assert final["etag"] == completed["etag"]
            assert ids(await op("list_released_production_orders", work_center=line)) == []
            with pytest.raises(ErpConflict) as late:  # a completed order takes no more
                await op(
                    "confirm_production_order",
                    order_id=order_id,
                    yield_quantity=1,
                    reference=reference + "-late",
                )
            assert late.value.code == "ORDER_COMPLETED"

    run(go())


# --- stock ------------------------------------------------------------------------


@VERSIONS
def test_a_goods_receipt_raises_the_stock(erp: SampleErp, version: str) -> None:
    material = unique("GR-", 20)

    async def go() -> None:
        async with gateway(erp, version) as hub:
            op = operations(hub)
            assert (await op("check_inventory", material_id=material, plant="1000")) == {
                "available_quantity": 0
            }
            received = await op("post_goods_receipt", material=material, plant="1000", quantity=5)
            assert received == {
                "material": material, "plant": "1000", "available_quantity": 5, "unit": "PC",
            }  # fmt: skip
            more = await op("post_goods_receipt", material=material, plant="1000", quantity=2.5)
            assert more["available_quantity"] == 7.5
            stock = await op("check_inventory", material_id=material, plant="1000")
            assert stock["available_quantity"] == 7.5
            read = await op("read_material_stock", material_id=material, plant="1000")
            assert read == {"material_id": material, "plant": "1000", "quantity": 7.5, "unit": "PC"}

    run(go())


# --- the operations before the production flow --------------------------------------


@VERSIONS
def test_credit_maintenance_and_sales_order_operations(erp: SampleErp, version: str) -> None:
    equipment = unique("PUMP-", 20)
    order_id = unique("S", 10)

    async def go() -> None:
        async with gateway(erp, version) as hub:
            op = operations(hub)
            credit = await op("customer_credit", customer_id="C300")
            assert credit == {
                "customer_id": "C300", "name": "Initech Logistics", "credit_limit": 20000,
                "outstanding_balance": 0, "currency": "EUR", "credit_status": "BLOCKED",
            }  # fmt: skip
            request = await op(
                "create_maintenance_request", equipment=equipment, description="Leak", priority=1
            )
            assert request["status"] == "OPEN" and request["request_id"]
            sales = await op(
                "create_sales_order",
                order_id=order_id,
                customer_id="C100",
                items=[{"item_no": 10, "material": "M1", "quantity": 2, "unit": "pc"}],
            )
            assert sales == {
                "sales_order_id": order_id, "status": "OPEN", "net_amount": 0, "currency": "EUR",
            }  # fmt: skip
            read = await hub.read(TENANT, "erp", "SalesOrders", order_id)
            assert read["CustomerID"] == "C100"

    run(go())


def test_the_tests_here_exercise_every_operation_of_the_profile() -> None:
    profile = builtin_profile(PROFILE)
    assert set(profile.operations) == EXERCISED
    # Optional filters stay out of $filter when not given.
    listing = profile.operation("list_released_production_orders")
    assert plan(listing, {}).filter == "Status eq 'RELEASED'"
    assert plan(listing, {"work_center": LINE, "changed_since": "2025-03-01T06:00:00Z"}).filter == (
        "Status eq 'RELEASED' and WorkCenter eq 'LINE1' "
        "and modifiedAt gt '2025-03-01T06:00:00+00:00'"
    )
    complete = plan(
        profile.operation("complete_production_order"),
        {"order_id": "1", "yield_quantity": 8, "scrap_quantity": 1, "etag": 'W/"2"'},
    )
    assert complete.etag == 'W/"2"' and complete.key == {"ID": "1"}
    assert complete.body == {"Status": "COMPLETED", "ConfirmedYield": 8, "ConfirmedScrap": 1}
