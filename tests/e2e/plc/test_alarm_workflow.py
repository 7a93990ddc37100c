"""A workflow waiting on an alarm topic: woken by the activation, then by the operator's
acknowledgement, and never by another tenant's alarm on the same area and tag."""

from __future__ import annotations

from typing import Any

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.conftest import World
from tests.support.plc_sim import SimThread
from tests.support.plc_sim import wait_for as wait_until
from tests.support.workflow_helpers import publish, start, wait_for

TOPIC = "areas/boiler-house/sensors/pressure/alarm"
WORKFLOW = f"""
name: pressure-watch
version: 1.0.0
start: raised
steps:
  raised: {{type: wait, event: "{TOPIC}", timeout: 60s, on_timeout: late, next: acked}}
  acked: {{type: wait, event: "{TOPIC}", timeout: 60s, on_timeout: late, next: done}}
  late: {{type: end, output: late}}
  done:
    type: end
    output: {{raised: "${{steps.raised.output.payload}}", acked: "${{steps.acked.output.payload}}"}}
"""


def _device_and_rule(world: World, tenant: str, plant: SimThread, hi: float) -> str:
    engineer = world.as_(f"{tenant}-engineer")
    device = world.client.post(
        f"/api/v1/tenants/{tenant}/devices",
        json={
            "name": "boiler-1",
            "protocol": "modbus",
            "endpoint": plant.sim.modbus_endpoint,
            "poll_interval_ms": 50,
            "tags": MODBUS_TAGS[:1],
        },
        headers=engineer,
    )
    assert device.status_code == 201, device.text
    rule = world.client.post(
        f"/api/v1/tenants/{tenant}/alarm-rules",
        json={
            "device": "boiler-1",
            "tag": "pressure",
            "hi": hi,
            "priority": "high",
            "area": "boiler-house",
        },
        headers=engineer,
    )
    assert rule.status_code == 201, rule.text
    return str(rule.json()["id"])


def _state(world: World, alarm_id: str, tenant: str) -> Any:
    url = f"/api/v1/tenants/{tenant}/alarms/{alarm_id}"
    return world.client.get(url, headers=world.as_(f"{tenant}-viewer")).json()["state"]


def test_a_run_is_woken_by_its_tenants_alarm_and_its_ack(world: World, plant: SimThread) -> None:
    client, eng = world.client, world.as_("acme-engineer")
    publish(client, eng, WORKFLOW)
    acme_alarm = _device_and_rule(world, "acme", plant, hi=100.0)  # not yet
    globex_alarm = _device_and_rule(world, "globex", plant, hi=8.0)
    run = start(client, eng, "pressure-watch", {})
    wait_for(client, eng, run["id"], ("waiting",))

    plant.set(setpoint=9.5)
    wait_until(lambda: _state(world, globex_alarm, "globex") == "active-unacknowledged")
    # globex's alarm went out on the same topic; acme's run must still be at its first wait
    again = client.get(f"/api/v1/tenants/acme/runs/{run['id']}", headers=eng).json()
    assert again["status"] == "waiting" and again["current_steps"] == ["raised"], again

    changed = client.patch(
        f"/api/v1/tenants/acme/alarm-rules/{acme_alarm}", json={"hi": 8.0}, headers=eng
    )
    assert changed.status_code == 200, changed.text
    wait_until(lambda: _state(world, acme_alarm, "acme") == "active-unacknowledged")
    wait_until(
        lambda: (
            client.get(f"/api/v1/tenants/acme/runs/{run['id']}", headers=eng).json()[
                "current_steps"
            ]
            == ["acked"]
        )
    )
    ack = client.post(
        f"/api/v1/tenants/acme/alarms/{acme_alarm}/ack",
        json={"comment": "seen"},
        headers=world.as_("acme-operator"),
    )
    assert ack.status_code == 200, ack.text
    done = wait_for(client, eng, run["id"])
    raised, acked = done["output"]["raised"], done["output"]["acked"]
    assert raised["alarm_id"] == acme_alarm and raised["state"] == "active-unacknowledged"
    assert raised["tenant"] == "acme" and raised["value"] >= 8.0 and raised["limit"] == 8.0
    assert acked["alarm_id"] == acme_alarm and acked["state"] == "active-acknowledged"
    assert acked["actor"] == "acme-operator" and acked["action"] == "ack"
