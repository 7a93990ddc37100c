"""The production-control pack end to end: the real CAP sample ERP (tests/support/erp.py)
and the plant simulator's production line over Modbus TCP, the hub with its workers.

An order released in the ERP (pushed to POST .../events, or found by the release poller)
starts one run: its materials checked in the ERP, the recipe written to the line's PLC
and verified, the batch started once, the counters monitored, the confirmation posted
once, the order completed with its ETag, a report, the audit entries of every ERP and
PLC write, and a receipt proving the confirmation's audit entry. Then: an order short of
a component (requested in the ERP, confirmed by an operator), a configuration the line
rejects once, a machine fault mid-run, and the order changed in the ERP during the run.

The sample ERP lives for the session: each test makes orders, materials and a work center
of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from audit.receipt import content_hash, verify_receipt
from connectors.plc.plant_sim import LINE_MODBUS_TAGS
from tests.conftest import World
from tests.e2e.chain.test_anchors_api import _rpc
from tests.support.erp import SampleErp, sample_erp  # noqa: F401  (the session fixture)
from tests.support.pack_helpers import eventually
from tests.support.plc_sim import SimThread, running_plant

BASE = "/api/v1/tenants/acme"
PACK = "production-control"
LINE = "L1"
SPEED = 120.0  # units/min of the test recipe, before the simulator's time scale
PLANT = "1000"


# --- the ERP, as the planners and the warehouse use it --------------------------------


class ErpSide:
    """Plain OData V4 calls to the sample ERP (CSRF token fetched once), for the test's
    own orders, stock changes and checks."""

    def __init__(self, erp: SampleErp) -> None:
        self.http = erp.client()
        fetched = self.http.get("", headers={"x-csrf-token": "Fetch"})
        fetched.raise_for_status()
        self.token = fetched.headers["x-csrf-token"]

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"x-csrf-token": self.token, **kwargs.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, response.text
        return response

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.http.get(f"ProductionOrders('{order_id}')")
        response.raise_for_status()
        return dict(response.json())

    def create_order(
        self,
        work_center: str,
        material: str,
        quantity: int,
        components: dict[str, float],
        status: str = "RELEASED",
    ) -> str:
        order_id = "T" + uuid.uuid4().hex[:11]
        self._send(
            "POST",
            "ProductionOrders",
            json={
                "ID": order_id,
                "Material": material,
                "Plant": PLANT,
                "WorkCenter": work_center,
                "Quantity": quantity,
                "Unit": "PC",
                "Status": status,
                "ScheduledStart": "2026-12-03T06:00:00Z",
            },
        )
        for component, required in components.items():
            self._send(
                "POST",
                "ProductionOrderComponents",
                json={
                    "OrderID": order_id,
                    "Material": component,
                    "Plant": PLANT,
                    "RequiredQuantity": required,
                    "Unit": "PC",
                },
            )
        return order_id

    def release(self, order_id: str) -> None:
        path = f"ProductionOrders('{order_id}')/ProductionService.release"
        self._send("POST", path, json={}, headers={"If-Match": "*"})

    def change(self, order_id: str, **fields: Any) -> None:
        self._send("PATCH", f"ProductionOrders('{order_id}')", json=fields,
                   headers={"If-Match": "*"})  # fmt: skip

    def receive(self, material: str, quantity: float) -> None:
        body = {"Material": material, "Plant": PLANT, "Quantity": quantity}
        self._send("POST", "postGoodsMovement", json=body)

    def stock(self, material: str) -> float:
        response = self.http.get(f"MaterialStock(Material='{material}',Plant='{PLANT}')")
        return float(response.json()["Quantity"]) if response.status_code == 200 else 0.0

    def rows(self, entity_set: str, order_id: str) -> list[dict[str, Any]]:
        query = quote(f"OrderID eq '{order_id}'")  # %20, not '+': OData wants no form encoding
        response = self.http.get(f"{entity_set}?$filter={query}")
        response.raise_for_status()
        return list(response.json()["value"])


@pytest.fixture
def erp(sample_erp: SampleErp) -> Iterator[ErpSide]:  # noqa: F811
    sample_erp.reset()
    side = ErpSide(sample_erp)
    try:
        yield side
    finally:
        side.http.close()
        sample_erp.reset()


@contextmanager
def line(time_scale: float) -> Iterator[SimThread]:
    with running_plant(time_scale=time_scale) as sim:
        yield sim


# --- the hub side ------------------------------------------------------------------------


def setup_hub(
    world: World, plant: SimThread, sample: SampleErp, time_scale: float, **params: Any
) -> dict[str, Any]:
    """The line's PLC as device line-1, the ERP connection `cap` (profile sample_erp) and
    the pack installed for a work center of the test's own."""
    client, engineer = world.client, world.as_("acme-engineer")
    device = {
        "name": "line-1",
        "protocol": "modbus",
        "endpoint": plant.sim.modbus_endpoint,
        "poll_interval_ms": 50,
        "tags": LINE_MODBUS_TAGS,
    }
    created = client.post(f"{BASE}/devices", json=device, headers=engineer)
    assert created.status_code == 201, created.text
    connection = {
        "name": "cap",
        "kind": "odata",
        "url": sample.v4_url,
        "version": "v4",
        "auth": {"type": "basic", "username": sample.user, "password": sample.password},
        "profile": "sample_erp",
    }
    made = client.post(f"{BASE}/connections", json=connection, headers=engineer)
    assert made.status_code == 201, made.text
    work_center = "W" + uuid.uuid4().hex[:7].upper()
    material = "FG-" + work_center
    parameters = {
        "line_id": LINE,
        "erp": {"connection": "cap", "plant": PLANT, "work_center": work_center},
        "recipes": {material: {"speed_sp": SPEED, "temperature_sp": 180}},
        "expected_rate": SPEED * time_scale,
        "rate_tolerance": 0.5,
        "monitor_interval_s": 0.5,
        "material_confirmation_due": "PT2H",
        **params,
    }
    installed = client.post(
        f"{BASE}/packs/{PACK}/install",
        json={"parameters": parameters},
        headers=world.as_("acme-tenant_admin"),
    )
    assert installed.status_code == 201, installed.text
    return {"work_center": work_center, "material": material, **parameters}


def stocked_order(erp: ErpSide, setup: dict[str, Any], quantity: int) -> str:
    """A released order of `quantity` for the installed line, its one component (10 in
    all) in stock: it runs without a material request."""
    component = "RM-" + setup["work_center"]
    erp.receive(component, 1000)
    return erp.create_order(setup["work_center"], setup["material"], quantity, {component: 10})


def release(world: World, order_id: str) -> None:
    published = world.client.post(
        f"{BASE}/events",
        json={"topic": f"production/{LINE}/orders/released", "payload": {"order_id": order_id}},
        headers=world.as_("acme-operator"),
    )
    assert published.status_code == 202, published.text


def runs(world: World, workflow: str = PACK) -> list[dict[str, Any]]:
    url = f"{BASE}/runs?workflow={workflow}&limit=100"
    return list(world.client.get(url, headers=world.as_("acme-engineer")).json()["items"])


def run_of(world: World, order_id: str) -> dict[str, Any] | None:
    found = [r for r in runs(world) if str(r["input"].get("order_id")) == order_id]
    assert len(found) <= 1, found
    return found[0] if found else None


def get_run(world: World, run_id: str) -> dict[str, Any]:
    return dict(world.client.get(f"{BASE}/runs/{run_id}", headers=world.as_("acme-viewer")).json())


def finished(world: World, run_id: str, timeout: float = 60) -> dict[str, Any]:
    return dict(
        eventually(
            lambda: (r := get_run(world, run_id))["status"] in ("completed", "failed") and r,
            timeout=timeout,
        )
    )


def steps(world: World, run_id: str) -> list[tuple[str, str | None]]:
    url = f"{BASE}/runs/{run_id}/history"
    items = world.client.get(url, headers=world.as_("acme-engineer")).json()["items"]
    return [(e["type"], e["step"]) for e in items]


def completed_steps(world: World, run_id: str) -> list[str | None]:
    return [s for t, s in steps(world, run_id) if t == "ActivityCompleted"]


def open_task(world: World, run_id: str, step: str) -> dict[str, Any] | None:
    items = world.client.get(f"{BASE}/tasks?scope=open", headers=world.as_("acme-operator"))
    found = [t for t in items.json()["items"] if t["run_id"] == run_id and t["step"] == step]
    return found[0] if found else None


def complete_task(world: World, task: dict[str, Any], values: dict[str, Any]) -> None:
    done = world.client.post(
        f"{BASE}/tasks/{task['id']}/complete",
        json={"values": values},
        headers=world.as_("acme-operator"),
    )
    assert done.status_code == 200, done.text


def audit(world: World, action: str) -> list[dict[str, Any]]:
    url = f"{BASE}/audit?action={action}&limit=200"
    return list(world.client.get(url, headers=world.as_("acme-auditor")).json()["items"])


def by_run(entries: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["actor"] == f"workflow:{run_id}"]


def assert_produced_once(
    erp: ErpSide, plant: SimThread, order_id: str, run: dict[str, Any]
) -> None:
    """The ERP shows the order COMPLETED with the run's yield and scrap and exactly one
    confirmation; the line started the batch once."""
    report = run["output"]
    order = erp.order(order_id)
    assert order["Status"] == "COMPLETED"
    assert (order["ConfirmedYield"], order["ConfirmedScrap"]) == (
        report["yield_quantity"],
        report["scrap_quantity"],
    )
    assert report["yield_quantity"] + report["scrap_quantity"] == report["target_qty"]
    confirmations = erp.rows("ProductionConfirmations", order_id)
    assert len(confirmations) == 1
    assert confirmations[0]["ClientReference"] == report["confirmation"]["reference"]
    batch = report["batch_id"]
    assert plant.sim.line.starts[batch] == 1
    assert plant.sim.line.start_commands[batch] == 1


# --- the tests ---------------------------------------------------------------------------


def test_a_sufficient_order_runs_from_release_to_confirmation_with_a_receipt(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 20.0
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale)
        component = "RM-" + setup["work_center"]
        erp.receive(component, 1000)
        order_id = erp.create_order(
            setup["work_center"], setup["material"], 100, {component: 200}, status="CREATED"
        )
        erp.release(order_id)

        # The release poller (its cron slot, started by hand here) finds the order; a push
        # of the same release afterwards starts no second run.
        poller = world.client.post(
            f"{BASE}/runs",
            json={"workflow": "production-release-poller", "input": {}},
            headers=world.as_("acme-engineer"),
        )
        assert poller.status_code == 201, poller.text
        polled = finished(world, poller.json()["id"], timeout=30)
        assert polled["status"] == "completed", polled
        assert polled["output"]["published"] == [order_id]
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        release(world, order_id)
        done = finished(world, run["id"])
        assert done["status"] == "completed", done
        assert len([r for r in runs(world) if r["input"].get("order_id") == order_id]) == 1

        assert_produced_once(erp, plant, order_id, done)
        report = done["output"]
        assert report["order_id"] == order_id and report["order_status"] == "COMPLETED"
        assert report["recipe"] == {"speed_sp": SPEED, "temperature_sp": 180}
        assert report["changed_during_run"] == {}
        assert report["batch_id"] > 0 and report["target_qty"] == 100
        # the line ran the recipe; the confirmation's goods movements reached the stock
        assert plant.sim.line.speed_sp == SPEED and plant.sim.line.target_qty == 100
        assert report["inventory"]["available_quantity"] == report["yield_quantity"]
        assert erp.stock(component) == pytest.approx(800)
        assert completed_steps(world, run["id"])[:5] == [
            "prepare_production",
            "check_materials",
            "configure_machines",
            "verify_configuration",
            "start_production",
        ]

        # The reconcile finds no released order of the line without a run.
        reconcile = world.client.post(
            f"{BASE}/runs",
            json={"workflow": "production-reconcile", "input": {}},
            headers=world.as_("acme-engineer"),
        )
        reconciled = finished(world, reconcile.json()["id"], timeout=30)
        assert reconciled["output"]["released"] == [] and reconciled["output"]["published"] == []

    # Every PLC and ERP write of the run is an audit entry.
    writes = by_run(audit(world, "tag.write"), run["id"])
    assert sorted(e["details"]["tag"] for e in writes) == sorted(
        ["speed_sp", "temperature_sp", "target_qty", "batch_id", "start"]
    )
    assert all(e["outcome"] == "success" for e in writes)
    erp_writes = by_run(audit(world, "erp.operation"), run["id"])
    operations = [(e["details"]["operation"], e["outcome"]) for e in erp_writes]
    assert ("confirm_production_order", "success") in operations
    assert ("complete_production_order", "success") in operations
    assert {op for op, _ in operations} == {"confirm_production_order", "complete_production_order"}
    [confirmation] = by_run(audit(world, "production.confirmation"), run["id"])
    assert confirmation["details"]["order_id"] == order_id
    assert confirmation["details"]["reference"] == report["confirmation"]["reference"]
    assert confirmation["details"]["yield_quantity"] == report["yield_quantity"]
    assert by_run(audit(world, "production.report"), run["id"])

    # The run's receipt covers the run, and the same anchored tree holds the confirmation.
    auditor = world.as_("acme-auditor")
    anchored = world.client.post(f"{BASE}/audit/anchors", headers=auditor)
    assert anchored.json()["status"] == "confirmed", anchored.text
    receipt = world.client.get(f"{BASE}/runs/{run['id']}/receipt", headers=world.as_("acme-viewer"))
    assert receipt.status_code == 200, receipt.text
    body = receipt.json()
    assert body["entry"]["action"] == "workflow.run.complete"
    assert body["entry"]["details"]["result_hash"] == content_hash(done["output"])
    assert verify_receipt(body, _rpc(world.client)).ok
    proof = world.client.get(f"{BASE}/audit/{confirmation['seq']}/receipt", headers=auditor)
    assert proof.status_code == 200, proof.text
    assert proof.json()["entry"]["seq"] == confirmation["seq"]
    assert confirmation["seq"] < body["entry"]["seq"] <= body["proof"]["tree_size"]
    assert verify_receipt(proof.json(), _rpc(world.client)).ok


def test_an_insufficient_order_waits_for_the_operators_material_confirmation(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 20.0
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale)
        short = "RM-S" + setup["work_center"]
        plenty = "RM-P" + setup["work_center"]
        erp.receive(short, 20)
        erp.receive(plenty, 1000)
        order_id = erp.create_order(
            setup["work_center"], setup["material"], 60, {short: 120, plenty: 10}
        )
        release(world, order_id)
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        task = eventually(lambda: open_task(world, run["id"], "material_confirmation"), timeout=30)
        assert task["candidate_groups"] == ["operators", "engineers"]
        assert task["due_at"]

        # The ERP has the request for what is missing, once, with the run's reference.
        [request] = erp.rows("MaterialRequests", order_id)
        assert (request["Material"], float(request["Quantity"])) == (short, 100.0)
        assert request["ClientReference"].startswith(run["id"])
        assert plant.sim.line.starts == {}  # nothing started while materials are short

        # Confirmed too early: checked again, still short, asked again.
        complete_task(world, task, {"confirmation": True, "notes": "on its way"})
        again = eventually(
            lambda: (
                (t := open_task(world, run["id"], "material_confirmation"))
                and t["id"] != task["id"]
                and t
            ),
            timeout=30,
        )
        assert len(erp.rows("MaterialRequests", order_id)) == 2  # a request per pass
        erp.receive(short, 100)  # the warehouse delivers
        complete_task(world, again, {"confirmation": True, "notes": "delivered"})
        done = finished(world, run["id"])
        assert done["status"] == "completed", done
        assert_produced_once(erp, plant, order_id, done)
        report = done["output"]
        assert [r["material"] for r in report["material_requests"]] == [short]
        notes = [i["notes"] for i in report["interventions"]]
        assert notes == ["on its way", "delivered"]
        checks = [s for s in completed_steps(world, run["id"]) if s == "check_materials"]
        assert len(checks) == 3


def test_a_configuration_the_line_rejects_is_written_again_then_runs(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 20.0
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale)
        order_id = stocked_order(erp, setup, 60)
        plant.sim.line.reject_next_configuration()
        release(world, order_id)
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        done = finished(world, run["id"])
        assert done["status"] == "completed", done
        assert_produced_once(erp, plant, order_id, done)
        history = completed_steps(world, run["id"])
        assert history.count("configure_machines") == 1
        assert history.count("reconfigure_machines") == 1
        assert history.count("verify_configuration") == 2
        assert open_task(world, run["id"], "machine_attention") is None


def test_a_rejected_configuration_beyond_the_bound_asks_the_operator(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 20.0
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale, max_reconfigurations=0)
        order_id = stocked_order(erp, setup, 40)
        plant.sim.line.reject_next_configuration()
        release(world, order_id)
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        task = eventually(lambda: open_task(world, run["id"], "machine_attention"), timeout=30)
        [alert] = by_run(audit(world, "production.alert"), run["id"])
        assert alert["details"]["kind"] == "configuration_rejected"
        assert plant.sim.line.starts == {}
        complete_task(world, task, {"resolution": "retry", "notes": "checked the heater"})
        done = finished(world, run["id"])
        assert done["status"] == "completed", done
        assert_produced_once(erp, plant, order_id, done)


def test_a_machine_fault_mid_run_raises_an_alarm_and_a_task_then_completes(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 5.0  # 10 units/s: the batch of 150 runs 15 s, long enough to fault it
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale)
        order_id = stocked_order(erp, setup, 150)
        release(world, order_id)
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        eventually(lambda: plant.sim.line.state == 2 and plant.sim.line.good > 10, timeout=30)
        plant.sim.line.fault(17)
        # the line's gateway reports the error too: the run wakes on it at once
        world.client.post(
            f"{BASE}/events",
            json={
                "topic": f"production/{LINE}/events/error",
                "payload": {"batch_id": plant.sim.line.active_batch, "fault_code": 17},
            },
            headers=world.as_("acme-operator"),
        )
        task = eventually(lambda: open_task(world, run["id"], "operator_intervention"), timeout=30)
        alarms = world.client.get(
            f"{BASE}/alarms?state=all", headers=world.as_("acme-operator")
        ).json()["items"]
        fault_alarms = [a for a in alarms if a["tag"] == "fault_code"]
        assert fault_alarms and fault_alarms[0]["state"].startswith("active"), alarms
        [alert] = by_run(audit(world, "production.alert"), run["id"])
        assert alert["details"]["kind"] == "fault"
        held = plant.sim.line.good + plant.sim.line.scrap
        assert 0 < held < 150 and plant.sim.line.state == 4  # counters hold in FAULT

        complete_task(world, task, {"resolution": "reset", "notes": "jam cleared"})
        done = finished(world, run["id"])
        assert done["status"] == "completed", done
        assert_produced_once(erp, plant, order_id, done)
        assert done["output"]["yield_quantity"] + done["output"]["scrap_quantity"] == 150
        resets = [
            e
            for e in by_run(audit(world, "tag.write"), run["id"])
            if e["details"]["tag"] == "reset"
        ]
        assert len(resets) == 1
        [intervention] = done["output"]["interventions"]
        assert intervention["resolution"] == "reset" and intervention["notes"] == "jam cleared"


def test_an_order_changed_in_the_erp_during_the_run_is_reread_and_confirmed_once(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 10.0  # 20 units/s: 100 units in 5 s
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale)
        order_id = stocked_order(erp, setup, 100)
        release(world, order_id)
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        eventually(lambda: "monitor_production" in completed_steps(world, run["id"]), timeout=30)
        before = erp.order(order_id)
        erp.change(order_id, Quantity=120)  # a planner raises the quantity meanwhile
        assert erp.order(order_id)["@odata.etag"] != before["@odata.etag"]
        assert "complete_production" not in completed_steps(world, run["id"])
        done = finished(world, run["id"])
        assert done["status"] == "completed", done

    report = done["output"]
    assert report["changed_during_run"] == {"quantity": [100, 120]}
    assert report["etag_conflicts"] >= 1
    order = erp.order(order_id)
    assert order["Status"] == "COMPLETED" and order["Quantity"] == 120
    assert order["ConfirmedYield"] == report["yield_quantity"]
    assert len(erp.rows("ProductionConfirmations", order_id)) == 1
    completions = [
        (e["outcome"], e["details"].get("error_type"))
        for e in by_run(audit(world, "erp.operation"), run["id"])
        if e["details"]["operation"] == "complete_production_order"
    ]
    assert completions[0] == ("failure", "PreconditionFailed") and completions[-1][0] == "success"
    confirms = [
        e
        for e in by_run(audit(world, "erp.operation"), run["id"])
        if e["details"]["operation"] == "confirm_production_order"
    ]
    assert len(confirms) == 1


def test_a_line_event_of_the_batch_wakes_the_monitoring_run_at_once(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 20.0
    with line(scale) as plant:
        # the counters are read every 10 minutes: only the line's event can end it soon
        setup = setup_hub(world, plant, sample_erp, scale, monitor_interval_s=600)
        order_id = stocked_order(erp, setup, 40)
        release(world, order_id)
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        eventually(lambda: ("WaitStarted", "wait_line_event") in steps(world, run["id"]), 30)
        eventually(lambda: plant.sim.line.state == 3, timeout=30)  # COMPLETE
        topic = f"production/{LINE}/events/complete"
        batch = plant.sim.line.active_batch
        for payload in ({"batch_id": batch + 1}, {"batch_id": batch, "good": 39}):
            published = world.client.post(
                f"{BASE}/events",
                json={"topic": topic, "payload": payload},
                headers=world.as_("acme-operator"),
            )
            assert published.status_code == 202, published.text
        done = finished(world, run["id"], timeout=30)
        assert done["status"] == "completed", done
        assert_produced_once(erp, plant, order_id, done)
        # one wake-up, by the batch's own event (another batch's does not match)
        woken = [
            e
            for e in world.client.get(
                f"{BASE}/runs/{run['id']}/history", headers=world.as_("acme-engineer")
            ).json()["items"]
            if e["step"] == "wait_line_event" and e["type"] == "SignalReceived"
        ]
        assert [e["data"]["output"]["payload"]["batch_id"] for e in woken] == [batch], woken


def test_a_rate_off_the_expected_goes_to_the_operator_who_accepts_it(
    world: World,
    erp: ErpSide,
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 5.0  # 10 units/s, while 30 units/s are expected
    with line(scale) as plant:
        setup = setup_hub(
            world, plant, sample_erp, scale, expected_rate=SPEED * scale * 3, rate_tolerance=0.2
        )
        order_id = stocked_order(erp, setup, 80)
        release(world, order_id)
        run = eventually(lambda: run_of(world, order_id), timeout=30)
        task = eventually(lambda: open_task(world, run["id"], "operator_intervention"), timeout=30)
        [alert] = by_run(audit(world, "production.alert"), run["id"])
        assert alert["details"]["kind"] == "deviation"
        reading = get_run(world, run["id"])
        assert reading["status"] == "waiting"
        complete_task(world, task, {"resolution": "continue", "notes": "slow material"})
        done = finished(world, run["id"])
        assert done["status"] == "completed", done
        assert_produced_once(erp, plant, order_id, done)
        # accepted for the batch: asked once, whatever the rate did afterwards
        assert [i["resolution"] for i in done["output"]["interventions"]] == ["continue"]
        writes = by_run(audit(world, "tag.write"), run["id"])
        assert "reset" not in [e["details"]["tag"] for e in writes]  # nothing to reset
