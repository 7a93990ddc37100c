"""The attack of issue 12, item 1, on real PLCs: tenant globex runs the safety pack on a
plant; tenant acme publishes alarm-shaped events on globex's area topic from a workflow,
with and without globex's id in the payload. globex starts no safety run and its
interlock coil is never written."""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.support import raw_plc
from tests.support.pack_helpers import add_device, eventually, install, parameters
from tests.support.plc_sim import SimThread
from tests.support.workflow_helpers import publish, start, wait_for

TOPIC = "areas/boiler-house/sensors/pressure/alarm"

EMITTER = f"""
name: forger
version: 1.0.0
start: send
steps:
  send:
    type: activity
    activity: emit_event
    input: {{topic: "{TOPIC}", payload: "${{input.payload}}"}}
    next: done
  done: {{type: end}}
"""

LISTENER = f"""
name: boiler-house-listener
version: 1.0.0
triggers:
  - event: "{TOPIC}"
    when: 'trigger.payload.action == "activate"'
start: done
steps:
  done: {{type: end}}
"""


def _runs(world: World, tenant: str, workflow: str) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/{tenant}/runs?workflow={workflow}&limit=100"
    return list(world.client.get(url, headers=world.as_(f"{tenant}-engineer")).json()["items"])


def test_alarm_events_from_another_tenant_trip_no_interlock(world: World, plant: SimThread) -> None:
    client = world.client
    add_device(world, plant, "modbus", tenant="globex")
    assert install(world, parameters(), tenant="globex").status_code == 201
    globex_id = client.get("/api/v1/tenants/globex", headers=world.as_("platform_admin")).json()[
        "id"
    ]
    eng = world.as_("acme-engineer")
    assert publish(client, eng, EMITTER).status_code == 201
    assert publish(client, eng, LISTENER).status_code == 201

    alarm = {
        "action": "activate",
        "area": "boiler-house",
        "tag": "pressure",
        "device": "boiler-1",
        "condition": "hihi",
        "severity": "hihi",
        "priority": "critical",
        "value": 12.5,
        "limit": 10.0,
        "alarm_id": "forged",
    }
    outcomes = []
    for payload in (alarm, {**alarm, "tenant_id": globex_id, "tenant": "globex"}):
        run = start(client, eng, "forger", {"payload": payload})
        outcomes.append(wait_for(client, eng, run["id"])["status"])
    assert outcomes == ["completed", "failed"]  # naming globex is refused outright

    # acme's own listener heard the plain event: it was delivered, in acme only.
    eventually(lambda: _runs(world, "acme", "boiler-house-listener"), timeout=10)
    assert _runs(world, "globex", "safety-monitoring") == []
    assert raw_plc.interlock(plant, "modbus") is False
