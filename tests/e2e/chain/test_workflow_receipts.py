"""Workflow receipts: a finished run's audit entry names the definition, input and result
by their hashes, and its receipt verifies against the chain (embedded eth-tester)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from audit.receipt import content_hash, verify_receipt
from hub.bootstrap import Hub
from hub.engine.activities import ActivityContext, NonRetryableError
from hub.services.workflows.retention import RunRetention
from tests.conftest import World
from tests.e2e.chain.test_anchors_api import _rpc
from tests.support.workflow_helpers import FixedClock, publish, start, wait_for

ENGINEER = "acme-engineer"
DEFINITION = """
name: receipted
version: 1.0.0
start: a
steps:
  a: {type: activity, activity: noop, input: {v: "${input.x}"}, next: done}
  done: {type: end, output: {doubled: "${input.x * 2}"}}
"""
FAILING = """
name: doomed
version: 1.0.0
start: a
steps:
  a: {type: activity, activity: stuck, next: done}
  done: {type: end}
"""


@pytest.fixture
def stuck(hub: Hub) -> None:
    async def stuck_valve(ctx: ActivityContext, value: Any) -> Any:
        raise NonRetryableError("the valve is stuck")

    hub.activities.register("stuck", stuck_valve)


def _definition(world: World, name: str) -> dict[str, Any]:
    return world.client.get(
        f"/api/v1/tenants/acme/workflows/{name}/1.0.0", headers=world.as_(ENGINEER)
    ).json()


def test_completed_run_receipt_carries_hashes_and_verifies(world: World) -> None:
    headers = world.as_(ENGINEER)
    assert publish(world.client, headers, DEFINITION).status_code == 201
    run = start(world.client, headers, "receipted", {"x": 21})
    done = wait_for(world.client, headers, run["id"])
    assert done["status"] == "completed" and done["output"] == {"doubled": 42}
    early = world.client.get(f"/api/v1/tenants/acme/runs/{run['id']}/receipt", headers=headers)
    assert early.status_code == 409  # finished, not anchored yet
    anchored = world.client.post(
        "/api/v1/tenants/acme/audit/anchors", headers=world.as_("acme-auditor")
    )
    assert anchored.json()["status"] == "confirmed"
    receipt = world.client.get(
        f"/api/v1/tenants/acme/runs/{run['id']}/receipt", headers=world.as_("acme-viewer")
    ).json()
    entry = receipt["entry"]
    assert entry["action"] == "workflow.run.complete" and entry["resource_id"] == run["id"]
    # Anyone holding the definition, the input and the output can recompute the hashes.
    assert entry["details"]["definition_hash"] == content_hash(_definition(world, "receipted"))
    assert entry["details"]["input_hash"] == content_hash({"x": 21})
    assert entry["details"]["result_hash"] == content_hash({"doubled": 42})
    assert verify_receipt(receipt, _rpc(world.client)).ok


def test_a_run_removed_by_retention_keeps_its_receipt(world: World, hub: Hub) -> None:
    headers = world.as_(ENGINEER)
    assert publish(world.client, headers, DEFINITION).status_code == 201
    run = start(world.client, headers, "receipted", {"x": 1})
    done = wait_for(world.client, headers, run["id"])
    world.client.post("/api/v1/tenants/acme/audit/anchors", headers=world.as_("acme-auditor"))
    later = FixedClock(datetime.fromisoformat(done["updated_at"]) + timedelta(days=31))
    with world.client.portal() as portal:
        assert portal.call(RunRetention(hub.uow, later, 30).purge) == 1
    url = f"/api/v1/tenants/acme/runs/{run['id']}"
    assert world.client.get(url, headers=headers).status_code == 404
    receipt = world.client.get(f"{url}/receipt", headers=headers)
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["entry"]["resource_id"] == run["id"]
    assert verify_receipt(receipt.json(), _rpc(world.client)).ok
    other = world.client.get(
        f"/api/v1/tenants/globex/runs/{run['id']}/receipt", headers=world.as_("globex-engineer")
    )
    assert other.status_code == 404  # only the tenant's own log is searched


def test_failed_run_receipt_hashes_the_error(world: World, stuck: None) -> None:
    headers = world.as_(ENGINEER)
    assert publish(world.client, headers, FAILING).status_code == 201
    run = start(world.client, headers, "doomed", {})
    done = wait_for(world.client, headers, run["id"])
    assert done["status"] == "failed"
    world.client.post("/api/v1/tenants/acme/audit/anchors", headers=world.as_("acme-auditor"))
    receipt = world.client.get(f"/api/v1/tenants/acme/runs/{run['id']}/receipt", headers=headers)
    assert receipt.status_code == 200, receipt.text
    entry = receipt.json()["entry"]
    assert entry["action"] == "workflow.run.fail" and entry["outcome"] == "failure"
    assert entry["details"]["input_hash"] == content_hash({})
    assert entry["details"]["result_hash"] == content_hash(done["error"])


def test_run_receipt_unknown_and_unfinished(world: World) -> None:
    headers = world.as_(ENGINEER)
    unknown = world.client.get(f"/api/v1/tenants/acme/runs/{'0' * 32}/receipt", headers=headers)
    assert unknown.status_code == 404
    waiting = """
name: waiting
version: 1.0.0
start: w
steps:
  w: {type: wait, signal: go, next: done}
  done: {type: end}
"""
    assert publish(world.client, headers, waiting).status_code == 201
    run = start(world.client, headers, "waiting", {})
    wait_for(world.client, headers, run["id"], ("waiting",))
    response = world.client.get(f"/api/v1/tenants/acme/runs/{run['id']}/receipt", headers=headers)
    assert response.status_code == 409 and "waiting" in response.json()["detail"]
