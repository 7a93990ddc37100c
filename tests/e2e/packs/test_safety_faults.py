"""Faults on the safety path: a PLC that refuses the interlock (a Modbus exception, or a
read-back that differs) is retried per the step's policy, then escalated; the run never
records success. And the health check raises an alarm for a bad safety sensor."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World
from tests.support import raw_plc
from tests.support.pack_helpers import add_device, eventually, install, parameters
from tests.support.plc_sim import SimThread
from tests.support.receivers import WEBHOOK_SECRET, WebhookSink
from tests.support.workflow_helpers import start, wait_for

BASE = "/api/v1/tenants/acme"


def _history(world: World, run_id: str) -> list[dict[str, Any]]:
    url = f"{BASE}/runs/{run_id}/history"
    return list(world.client.get(url, headers=world.as_("acme-engineer")).json()["items"])


def _run(world: World, run_id: str) -> dict[str, Any]:
    return dict(
        world.client.get(f"{BASE}/runs/{run_id}", headers=world.as_("acme-engineer")).json()
    )


def _runs(world: World, workflow: str = "safety-monitoring") -> list[dict[str, Any]]:
    url = f"{BASE}/runs?workflow={workflow}&limit=100"
    return list(world.client.get(url, headers=world.as_("acme-engineer")).json()["items"])


def _escalated(world: World) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    for run in _runs(world):
        events = _history(world, run["id"])
        if any(
            e["type"] == "ActivityCompleted" and e["step"] == "interlock_failed" for e in events
        ):
            return run, events
    return None


@pytest.mark.parametrize("fault", ["exception", "mismatch"])
def test_a_refused_interlock_is_retried_then_escalated(
    world: World, plant: SimThread, webhook: WebhookSink, fault: str
) -> None:
    add_device(world, plant, "modbus")
    channels = [{"type": "webhook", "url": webhook.url, "secret": WEBHOOK_SECRET}]
    installed = install(world, parameters(safety_level="critical", notification_channels=channels))
    assert installed.status_code == 201, installed.text
    plant.sim.refuse_interlock = fault
    plant.set(setpoint=12.0)

    run, events = eventually(lambda: _escalated(world), timeout=40)
    attempts = [e for e in events if e["step"] == "activate_safety_systems"]
    failed = [e for e in attempts if e["type"] == "ActivityFailed"]
    assert len(failed) == 3, attempts  # max_attempts: 3
    assert [e["type"] for e in attempts].count("RetryScheduled") == 2
    # the step is left through on_error (goto interlock_failed): no output, the error kept
    left = [e["data"] for e in attempts if e["type"] == "ActivityCompleted"]
    assert len(left) == 1 and left[0]["output"] is None and left[0]["error"], left
    reason = "modbus exception 4" if fault == "exception" else "read back"
    assert reason in str(failed[-1]["data"]["message"]).lower(), failed[-1]
    assert raw_plc.interlock(plant, "modbus") is False
    assert plant.sim.writes["interlock"] >= 3  # each attempt reached the PLC

    # operators were alerted, and the log says what happened
    eventually(lambda: [d for d in webhook.deliveries if b"interlock_failed" in d.body])
    auditor = world.as_("acme-auditor")
    writes = world.client.get(f"{BASE}/audit?action=tag.write&limit=100", headers=auditor).json()
    by_run = [e for e in writes["items"] if e["actor"] == f"workflow:{run['id']}"]
    assert by_run and all(e["outcome"] == "failure" for e in by_run)
    escalations = world.client.get(
        f"{BASE}/audit?action=safety.interlock_failed", headers=auditor
    ).json()["items"]
    assert run["id"] in [e["resource_id"] for e in escalations]  # (the Hi run may too)


def test_health_check_raises_an_alarm_for_a_bad_sensor(
    world: World, plant: SimThread, webhook: WebhookSink
) -> None:
    add_device(world, plant, "modbus")
    channels = [{"type": "webhook", "url": webhook.url, "secret": WEBHOOK_SECRET}]
    assert install(world, parameters(notification_channels=channels)).status_code == 201
    eng = world.as_("acme-engineer")
    tags = f"{BASE}/devices/boiler-1/tags"

    def qualities() -> set[str]:
        return {t["quality"] for t in world.client.get(tags, headers=eng).json()["items"]}

    eventually(lambda: qualities() == {"good"})
    healthy = start(world.client, eng, "safety-health-check", {})
    assert wait_for(world.client, eng, healthy["id"])["output"]["faults"] == []

    plant.call(plant.sim.stop_modbus())  # the PLC goes away: its tags read bad
    eventually(lambda: qualities() == {"bad"})  # fmt: skip
    check = start(world.client, eng, "safety-health-check", {})
    done = wait_for(world.client, eng, check["id"])
    assert [(f["tag"], f["condition"]) for f in done["output"]["faults"]] == [("pressure", "bad")]
    # the raised alarm started a safety run, which alerted the operators
    eventually(lambda: [d for d in webhook.deliveries if b'"alert"' in d.body])
    runs = [r for r in _runs(world) if r["input"].get("action") == "fault"]
    assert runs and runs[0]["input"]["condition"] == "bad"
    assert len(runs) == 1

    # The next check finds the same fault in hand: reported, not raised again.
    again = wait_for(world.client, eng, start(world.client, eng, "safety-health-check", {})["id"])
    assert [(f["tag"], f["raised"]) for f in again["output"]["faults"]] == [("pressure", False)]
    assert len([r for r in _runs(world) if r["input"].get("action") == "fault"]) == 1

    # The PLC comes back: the fault's run sees good readings and ends. Nothing was
    # tripped, so no operator is asked for the override key.
    plant.call(plant.sim.start_modbus())
    eventually(lambda: qualities() == {"good"}, timeout=30)
    fault_run = runs[0]["id"]
    final = eventually(
        lambda: (r := _run(world, fault_run))["status"] == "completed" and r, timeout=60
    )
    assert final["output"]["incident"]["severity"] == "medium"
    steps = {e["step"] for e in _history(world, fault_run)}
    assert "wait_for_acknowledgment" not in steps and "override_approval" not in steps
