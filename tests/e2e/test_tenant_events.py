"""Events stay in their publisher's tenant: a run's `emit_event` reaches only its own
tenant's triggers and waits, whatever its payload says, and naming another tenant in the
payload is refused and audited (issue 12, item 1)."""

from __future__ import annotations

from typing import Any

from hub.bootstrap import Hub
from tests.conftest import World
from tests.support.waiting import eventually
from tests.support.workflow_helpers import emit, publish, start, wait_for

TOPIC = "areas/zone-b/sensors/pressure/alarm"

LISTENER = f"""
name: zone-b-listener
version: 1.0.0
triggers:
  - event: "{TOPIC}"
start: done
steps:
  done: {{type: end, output: "${{input}}"}}
"""

EMITTER = """
name: emitter
version: 1.0.0
start: send
steps:
  send:
    type: activity
    activity: emit_event
    input: {topic: "%s", payload: "${input.payload}"}
    next: done
  done: {type: end}
"""

WAITER = f"""
name: zone-b-waiter
version: 1.0.0
start: hear
steps:
  hear: {{type: wait, event: "{TOPIC}", timeout: 60s, next: done}}
  done: {{type: end, output: "${{steps.hear.output.payload}}"}}
"""


def _tenant_id(world: World, slug: str) -> str:
    found = world.client.get(f"/api/v1/tenants/{slug}", headers=world.as_("platform_admin"))
    return str(found.json()["id"])


def _runs(world: World, tenant: str, workflow: str) -> list[dict[str, Any]]:
    response = world.client.get(
        f"/api/v1/tenants/{tenant}/runs",
        params={"workflow": workflow},
        headers=world.as_(f"{tenant}-engineer"),
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _emit_from_acme(world: World, payload: Any) -> dict[str, Any]:
    eng = world.as_("acme-engineer")
    run = start(world.client, eng, "emitter", {"payload": payload})
    return wait_for(world.client, eng, run["id"])


def test_event_from_another_tenant_starts_no_run(world: World) -> None:
    client = world.client
    for tenant in ("acme", "globex"):  # both listen; only acme's may hear acme's events
        assert publish(client, world.as_(f"{tenant}-engineer"), LISTENER, tenant).status_code == 201
    publish(client, world.as_("acme-engineer"), EMITTER % TOPIC)

    plain = _emit_from_acme(world, {"pressure": 12.5})
    assert plain["status"] == "completed"
    # acme's own listener heard it: the event was delivered, so globex's silence is isolation
    eventually(lambda: _runs(world, "acme", "zone-b-listener"))
    assert _runs(world, "globex", "zone-b-listener") == []


def test_payload_naming_another_tenant_is_refused_and_audited(world: World) -> None:
    client = world.client
    publish(client, world.as_("globex-engineer"), LISTENER, "globex")
    publish(client, world.as_("acme-engineer"), EMITTER % TOPIC)
    globex = _tenant_id(world, "globex")

    forged = _emit_from_acme(world, {"tenant_id": globex, "pressure": 12.5})
    assert forged["status"] == "failed"
    assert "may not name another tenant" in forged["error"]
    assert _runs(world, "globex", "zone-b-listener") == []
    denied = client.get(
        "/api/v1/tenants/acme/audit",
        params={"action": "event.publish"},
        headers=world.as_("acme-auditor"),
    ).json()["items"]
    assert [(e["outcome"], e["details"]["named_tenant"]) for e in denied] == [("denied", globex)]
    # the forging tenant's attempt leaves no trace in the target's log
    target_log = client.get(
        "/api/v1/tenants/globex/audit",
        params={"action": "event.publish"},
        headers=world.as_("globex-auditor"),
    ).json()["items"]
    assert target_log == []


def test_event_from_another_tenant_wakes_no_wait(world: World, hub: Hub) -> None:
    client = world.client
    publish(client, world.as_("globex-engineer"), WAITER, "globex")
    publish(client, world.as_("acme-engineer"), EMITTER % TOPIC)
    g_eng = world.as_("globex-engineer")
    waiting = start(client, g_eng, "zone-b-waiter", tenant="globex")
    wait_for(client, g_eng, waiting["id"], ("waiting",), tenant="globex")

    assert _emit_from_acme(world, {"pressure": 12.5})["status"] == "completed"
    still = client.get(f"/api/v1/tenants/globex/runs/{waiting['id']}", headers=g_eng).json()
    assert still["status"] == "waiting"

    emit(client, hub, TOPIC, {"pressure": 9.9}, tenant="globex")  # its own tenant's event
    done = wait_for(client, g_eng, waiting["id"], tenant="globex")
    assert done["output"] == {"pressure": 9.9}
