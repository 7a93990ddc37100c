"""Two orders released for one line queue for it (the pack's concurrency key is the line):
the second run waits `queued` until the first has completed, then runs; both are produced,
each batch started once. The real sample ERP and the plant simulator, as in
test_production_e2e.py."""

from __future__ import annotations

from tests.conftest import World
from tests.e2e.packs.test_production_e2e import (  # noqa: F401  (erp: a fixture)
    ErpSide,
    assert_produced_once,
    audit,
    erp,
    finished,
    line,
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
        # the second waited for the line: queued when it was created, started (its first
        # event) only once the first had completed, and no MachineUnavailable on the way
        queued = [e["resource_id"] for e in audit(world, "workflow.run.queue")]
        assert queued == [run_b["id"]]
        assert steps(world, run_b["id"])[0] == ("RunStarted", None)
        url = "/api/v1/tenants/acme/runs/{}/history"
        headers = world.as_("acme-engineer")
        a_done = world.client.get(url.format(run_a["id"]), headers=headers).json()["items"][-1]
        b_began = world.client.get(url.format(run_b["id"]), headers=headers).json()["items"][0]
        assert a_done["type"] == "RunCompleted" and b_began["ts"] >= a_done["ts"]

        for order_id, done in ((first, done_a), (second, done_b)):
            assert_produced_once(erp, plant, order_id, done)  # one START per batch
        assert done_a["output"]["batch_id"] != done_b["output"]["batch_id"]
        assert sorted(plant.sim.line.starts.values()) == [1, 1]
