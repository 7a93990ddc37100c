"""Orders released for one line queue for it (the pack's concurrency key is the line, held
from `configure_machines`): a run that reaches the line while another holds it waits
`queued` there until the other has completed, then runs; an order short of material,
waiting for the operator before it reaches the line, does not hold the line. Each batch
is started once. The real sample ERP and the plant simulator, as in
test_production_e2e.py."""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.e2e.packs.test_production_e2e import (  # noqa: F401  (erp: a fixture)
    ErpSide,
    assert_produced_once,
    audit,
    complete_task,
    erp,
    finished,
    get_run,
    line,
    open_task,
    release,
    run_of,
    setup_hub,
    steps,
    stocked_order,
)
from tests.support.erp import SampleErp, sample_erp  # noqa: F401  (the session fixture)
from tests.support.pack_helpers import eventually


def test_two_orders_released_for_one_line_run_one_after_the_other(
    world: World,
    erp: ErpSide,  # noqa: F811
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 20.0
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale)
        first, second = stocked_order(erp, setup, 60), stocked_order(erp, setup, 40)
        release(world, first)
        release(world, second)
        run_a = eventually(lambda: run_of(world, first), timeout=30)
        run_b = eventually(lambda: run_of(world, second), timeout=30)
        assert run_a["concurrency_key"] == run_b["concurrency_key"] == setup["line_id"]

        done_a, done_b = finished(world, run_a["id"]), finished(world, run_b["id"])
        assert (done_a["status"], done_b["status"]) == ("completed", "completed"), (done_a, done_b)
        # both started at once (the line is held from configure_machines); the one that
        # reached it second waited there, queued, and took the line only once the other
        # had completed (no MachineUnavailable on the way)
        for run in (run_a, run_b):
            assert steps(world, run["id"])[0] == ("RunStarted", None)
        [queued] = audit(world, "workflow.run.queue")
        assert queued["resource_id"] in (run_a["id"], run_b["id"])
        assert queued["details"]["step"] == "configure_machines"
        waited = queued["resource_id"]
        held = run_b["id"] if waited == run_a["id"] else run_a["id"]
        held_done = _history(world, held)[-1]
        taken = next(e for e in _history(world, waited) if e["type"] == "SlotTaken")
        assert held_done["type"] == "RunCompleted" and taken["ts"] >= held_done["ts"]
        assert taken["step"] == "configure_machines"

        for order_id, done in ((first, done_a), (second, done_b)):
            assert_produced_once(erp, plant, order_id, done)  # one START per batch
        assert done_a["output"]["batch_id"] != done_b["output"]["batch_id"]
        assert sorted(plant.sim.line.starts.values()) == [1, 1]


def test_an_order_short_of_material_does_not_hold_the_line_for_later_orders(
    world: World,
    erp: ErpSide,  # noqa: F811
    sample_erp: SampleErp,  # noqa: F811
) -> None:
    scale = 20.0
    with line(scale) as plant:
        setup = setup_hub(world, plant, sample_erp, scale)
        short = "RM-S" + setup["work_center"]
        erp.receive(short, 20)
        waiting = erp.create_order(setup["work_center"], setup["material"], 60, {short: 120})
        release(world, waiting)
        run_short = eventually(lambda: run_of(world, waiting), timeout=30)
        task = eventually(
            lambda: open_task(world, run_short["id"], "material_confirmation"), timeout=30
        )
        # a later order with all it needs, on the same line, runs to its end meanwhile
        ready = stocked_order(erp, setup, 40)
        release(world, ready)
        run_ready = eventually(lambda: run_of(world, ready), timeout=30)
        assert run_ready["concurrency_key"] == run_short["concurrency_key"] == setup["line_id"]
        done_ready = finished(world, run_ready["id"])
        assert done_ready["status"] == "completed", done_ready
        assert get_run(world, run_short["id"])["status"] == "waiting"  # still at its task
        assert_produced_once(erp, plant, ready, done_ready)

        # the warehouse delivers, the operator confirms: the first order takes the line
        erp.receive(short, 100)
        complete_task(world, task, {"confirmation": True, "notes": "delivered"})
        done_short = finished(world, run_short["id"])
        assert done_short["status"] == "completed", done_short
        assert_produced_once(erp, plant, waiting, done_short)
        assert sorted(plant.sim.line.starts.values()) == [1, 1]  # one START per batch
        assert audit(world, "workflow.run.queue") == []  # neither waited for the line
        ready_done = _history(world, run_ready["id"])[-1]
        short_taken = next(e for e in _history(world, run_short["id"]) if e["type"] == "SlotTaken")
        assert short_taken["ts"] >= ready_done["ts"]


def _history(world: World, run_id: str) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/acme/runs/{run_id}/history"
    items = world.client.get(url, headers=world.as_("acme-engineer")).json()["items"]
    return list(items)
