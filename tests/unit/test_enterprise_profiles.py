"""ERP operation profiles: the shipped ones load and plan; bad ones name their problems."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.enterprise.profiles import BUILTIN_PROFILES, builtin_profile
from hub.domain.enterprise_profiles import ErpCall, load_profile, odata_literal, plan, result
from hub.domain.errors import NotFound, ValidationFailed

OPERATIONS = {
    "create_sales_order", "check_inventory", "customer_credit", "create_maintenance_request",
    "list_released_production_orders", "confirm_production_order", "read_material_stock",
    "read_production_order", "read_order_components", "request_materials",
    "complete_production_order", "post_goods_receipt",
}  # fmt: skip

PARAMS: dict[str, dict[str, Any]] = {
    "create_sales_order": {
        "customer_id": "17100001",
        "order_id": "SO-1",
        "items": [{"item_no": 10, "material": "TG11", "quantity": 2, "unit": "pc"}],
    },
    "check_inventory": {"material_id": "TG11", "plant": "1710"},
    "customer_credit": {"customer_id": "17100001"},
    "create_maintenance_request": {"equipment": "PUMP-7", "description": "Leak", "priority": 1},
    "list_released_production_orders": {"plant": "1710"},
    "confirm_production_order": {
        "order_id": "1000001",
        "yield_quantity": 95,
        "scrap_quantity": 5,
        "started_at": "2024-03-01T08:00:00Z",
        "finished_at": "2024-03-01T10:00:00Z",
        "reference": "run-1:confirm:7",
    },
    "read_material_stock": {"material_id": "TG11", "plant": "1710"},
    "read_production_order": {"order_id": "1000101"},
    "read_order_components": {"order_id": "1000101"},
    "request_materials": {
        "order_id": "1000102",
        "material": "RM-30",
        "plant": "1710",
        "quantity": 100,
        "reference": "run-1:materials:RM-30",
    },
    "complete_production_order": {
        "order_id": "1000101",
        "yield_quantity": 95,
        "scrap_quantity": 5,
        "etag": 'W/"3"',
    },
    "post_goods_receipt": {"material": "FG-100", "plant": "1710", "quantity": 95},
}


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_each_shipped_profile_loads_with_every_operation(name: str) -> None:
    profile = builtin_profile(name)
    assert set(profile.operations) == OPERATIONS
    for operation in profile.operations.values():
        call = plan(operation, PARAMS[operation.name])
        assert call.kind == operation.kind and call.operation == operation.name


def test_sample_erp_plans() -> None:
    profile = builtin_profile("sample_erp")
    calls = {name: plan(profile.operation(name), params) for name, params in PARAMS.items()}
    assert calls["create_sales_order"] == ErpCall(
        "create_sales_order",
        "create",
        None,
        entity_set="SalesOrders",
        body={
            "ID": "SO-1",
            "CustomerID": "17100001",
            "Items": [{"ItemNo": 10, "Material": "TG11", "Quantity": 2, "Unit": "PC"}],
        },
    )
    assert calls["check_inventory"].filter == "Material eq 'TG11' and Plant eq '1710'"
    assert calls["customer_credit"].key == {"ID": "17100001"}
    assert calls["read_material_stock"].key == {"Material": "TG11", "Plant": "1710"}
    assert calls["create_maintenance_request"].body == {
        "Equipment": "PUMP-7", "Description": "Leak", "Priority": 1,
    }  # fmt: skip
    released = calls["list_released_production_orders"]
    assert (released.entity_set, released.filter, released.orderby) == (
        "ProductionOrders",
        "Plant eq '1710' and Status eq 'RELEASED'",
        ("ScheduledStart asc",),
    )
    assert calls["confirm_production_order"].body == {
        "OrderID": "1000001",
        "Yield": 95,
        "Scrap": 5,
        "StartedAt": "2024-03-01T08:00:00+00:00",
        "FinishedAt": "2024-03-01T10:00:00+00:00",
        "ClientReference": "run-1:confirm:7",
    }


def test_s4hana_plans_use_sap_names() -> None:
    profile = builtin_profile("s4hana")
    order = plan(profile.operation("create_sales_order"), PARAMS["create_sales_order"])
    assert (order.service, order.entity_set) == ("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert order.body is not None and order.body["SoldToParty"] == "17100001"
    assert order.body["to_Item"] == [
        {"Material": "TG11", "RequestedQuantity": "2.000", "RequestedQuantityUnit": "PC"}
    ]
    stock = plan(profile.operation("check_inventory"), PARAMS["check_inventory"])
    assert stock.entity_set == "A_MatlStkInAcctMod"
    assert stock.filter == "Material eq 'TG11' and Plant eq '1710' and InventoryStockType eq '01'"
    credit = plan(profile.operation("customer_credit"), PARAMS["customer_credit"])
    assert credit.key == {"BusinessPartner": "17100001", "CreditSegment": "1000"}
    confirm = plan(
        profile.operation("confirm_production_order"), PARAMS["confirm_production_order"]
    )
    assert confirm.entity_set == "ProdnOrdConf2"
    assert confirm.body is not None
    assert confirm.body["ConfirmationYieldQuantity"] == "95.000"
    assert confirm.body["ConfirmedExecutionStartDate"] == "/Date(1709280000000)/"
    released = plan(profile.operation("list_released_production_orders"), {"plant": "1710"})
    assert released.service == "API_PRODUCTION_ORDER_2_SRV"
    assert released.filter == "ProductionPlant eq '1710' and OrderIsReleased eq 'X'"


def test_results_map_the_answer_back() -> None:
    sample, s4 = builtin_profile("sample_erp"), builtin_profile("s4hana")
    answer = {"items": [{"ID": "4711", "Material": "M", "Plant": "P1", "Quantity": "5.000",
                         "Unit": "PC", "Status": "RELEASED",
                         "ScheduledStart": "2024-03-01T06:00:00Z"}]}  # fmt: skip
    orders = result(sample.operation("list_released_production_orders"), answer)
    assert orders == {"orders": [{"order_id": "4711", "material": "M", "plant": "P1",
                                  "quantity": 5, "unit": "PC",
                                  "scheduled_start": "2024-03-01T06:00:00+00:00"}]}  # fmt: skip
    assert result(sample.operation("check_inventory"), {"items": []}) == {"available_quantity": 0}
    credit = {"BusinessPartner": "1", "CreditLimitAmount": "1000.00",
              "CreditExposureAmount": "250.5", "CreditSegmentCurrency": "EUR",
              "CreditAccountIsBlocked": True}  # fmt: skip
    assert result(s4.operation("customer_credit"), credit) == {
        "customer_id": "1", "credit_limit": 1000.0, "outstanding_balance": 250.5,
        "currency": "EUR", "credit_status": "BLOCKED",
    }  # fmt: skip
    conf = {"ConfirmationGroup": "100", "ConfirmationCount": "2", "OrderID": "1000001"}
    assert result(s4.operation("confirm_production_order"), conf) == {
        "confirmation_id": "100/2",
        "order_id": "1000001",
    }


def test_plan_names_missing_and_unknown_params() -> None:
    operation = builtin_profile("sample_erp").operation("check_inventory")
    with pytest.raises(ValidationFailed) as caught:
        plan(operation, {"material_id": "M", "colour": "red"})
    assert {p.field for p in caught.value.problems} == {"params.colour", "params.plant"}
    with pytest.raises(NotFound):
        builtin_profile("sample_erp").operation("launch_rocket")
    with pytest.raises(NotFound):
        builtin_profile("nope")


def test_bad_profiles_name_every_problem() -> None:
    bad = {
        "name": "other",
        "colour": "red",
        "operations": {
            "Bad-Name": {"kind": "get"},
            "a": {"kind": "fetch"},
            "b": {"kind": "get", "entity_set": "X"},
            "c": {
                "kind": "query",
                "entity_set": "X",
                "key": {"fields": [{"target": "K", "value": 1}]},
            },
            "d": {
                "kind": "query",
                "entity_set": "X Y",
                "filter": {"fields": [{"target": "a.b", "path": "$.p", "transform": "uppr"}]},
                "filter_ops": {"a": "like"},
                "orderby": ["A sideways"],
                "top": 0,
                "params": {"p": {"required": "yes"}},
            },
            "e": {
                "kind": "update",
                "entity_set": "X",
                "key": {"fields": [{"target": "K", "value": 1}]},
                "body": {"fields": [{"target": "A", "value": 1}]},
                "etag_param": "etag",
            },
            "f": {"kind": "call"},
        },
    }
    with pytest.raises(ValidationFailed) as caught:
        load_profile(bad, "mine")
    fields = {p.field for p in caught.value.problems}
    assert fields == {
        "name",
        "colour",
        "operations.Bad-Name",
        "operations.a.kind",
        "operations.b.key",
        "operations.c.key",
        "operations.d.entity_set",
        "operations.d.filter.fields[0].transform",
        "operations.d.filter_ops.a",
        "operations.d.orderby[0]",
        "operations.d.top",
        "operations.d.params.p.required",
        "operations.e.etag_param",
        "operations.f.function",
    }
    with pytest.raises(ValidationFailed, match="operations"):
        load_profile({"operations": {}}, "x")
    with pytest.raises(ValidationFailed, match="must be a mapping"):
        load_profile("operations: {}", "x")


def test_key_values_and_literals() -> None:
    profile = load_profile(
        {
            "operations": {
                "g": {
                    "kind": "get",
                    "entity_set": "X",
                    "params": {"k": {}},
                    "key": {"fields": [{"target": "K", "path": "$.k"}]},
                }
            }
        },
        "x",
    )
    assert plan(profile.operation("g"), {"k": 7}).key == {"K": 7}
    with pytest.raises(ValidationFailed, match=r"key\.K"):
        plan(profile.operation("g"), {"k": {"nested": 1}})
    assert odata_literal("O'Neil") == "'O''Neil'"
    assert [odata_literal(v) for v in (None, True, 3, 2.5)] == ["null", "true", "3", "2.5"]
