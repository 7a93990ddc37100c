"""Alarms end to end: a rule on a real Modbus tag, the plant pushed past the limit, the
ISA-18.2 states through ack, return, shelve and out of service, every transition journaled,
audited and published on areas/{area}/sensors/{tag}/alarm."""

from __future__ import annotations

from typing import Any

from connectors.plc.plant_sim import MODBUS_TAGS
from hub.bootstrap import Hub
from tests.conftest import World
from tests.support.plc_sim import SimThread, wait_for

T = "/api/v1/tenants/acme"


def _events(hub: Hub, world: World) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    async def collect(tenant: str, topic: str, payload: Any) -> None:
        assert tenant == payload["tenant_id"]  # an alarm goes out in its rule's tenant
        seen.append((topic, payload))

    with world.client.portal() as portal:
        acme = portal.call(hub.tenants.get, "acme").id
        portal.call(lambda: hub.bus.subscribe("areas/+/sensors/+/alarm", collect, tenant=acme))
    return seen


def _alarm(world: World, alarm_id: str) -> dict[str, Any]:
    response = world.client.get(f"{T}/alarms/{alarm_id}", headers=world.as_("acme-viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def test_alarm_lifecycle(world: World, hub: Hub, plant: SimThread) -> None:
    engineer, operator = world.as_("acme-engineer"), world.as_("acme-operator")
    device = world.client.post(
        f"{T}/devices",
        json={
            "name": "boiler-1",
            "protocol": "modbus",
            "endpoint": plant.sim.modbus_endpoint,
            "poll_interval_ms": 50,
            "max_backoff_ms": 500,
            "tags": MODBUS_TAGS,
        },
        headers=engineer,
    ).json()
    bad_rule = world.client.post(
        f"{T}/alarm-rules",
        json={
            "device": "boiler-1",
            "tag": "nope",
            "hi": 1,
            "lo": 5,
            "priority": "urgent",
            "area": "b",
        },
        headers=engineer,
    )
    assert bad_rule.status_code == 422
    assert {"tag", "hi", "priority"} <= {e["field"] for e in bad_rule.json()["errors"]}
    created = world.client.post(
        f"{T}/alarm-rules",
        json={
            "device": "boiler-1",
            "tag": "pressure",
            "hi": 8.0,
            "hihi": 12.0,
            "deadband": 0.5,
            "priority": "high",
            "area": "boiler-house",
            "message": "boiler pressure high",
        },
        headers=engineer,
    )
    assert created.status_code == 201, created.text
    alarm_id = created.json()["id"]
    assert created.json()["state"] == "normal"
    events = _events(hub, world)

    plant.set(setpoint=9.5)  # the process moves past hi by itself
    wait_for(lambda: _alarm(world, alarm_id)["state"] == "active-unacknowledged")
    wait_for(lambda: events)
    topic, payload = events[0]
    assert topic == "areas/boiler-house/sensors/pressure/alarm"
    assert payload["alarm_id"] == alarm_id and payload["device_id"] == device["id"]
    assert payload["device"] == "boiler-1" and payload["tag"] == "pressure"
    assert payload["state"] == "active-unacknowledged" and payload["condition"] == "hi"
    assert payload["severity"] == "hi" and payload["priority"] == "high"
    assert payload["limit"] == 8.0 and payload["value"] >= 8.0
    assert payload["tenant"] == "acme"
    listed = world.client.get(f"{T}/alarms?state=active", headers=world.as_("acme-viewer")).json()
    assert [a["id"] for a in listed["items"]] == [alarm_id]
    assert listed["items"][0]["device"] == "boiler-1"
    assert _alarm(world, alarm_id)["device"] == "boiler-1"
    assert (
        world.client.get(f"{T}/alarms?state=shelved", headers=world.as_("acme-viewer")).json()[
            "items"
        ]
        == []
    )
    assert (
        world.client.get(f"{T}/alarms?state=bogus", headers=world.as_("acme-viewer")).status_code
        == 422
    )

    ack = world.client.post(
        f"{T}/alarms/{alarm_id}/ack", json={"comment": "on it"}, headers=operator
    )
    assert ack.status_code == 200 and ack.json()["state"] == "active-acknowledged"
    wait_for(lambda: any(p["state"] == "active-acknowledged" for _, p in events))
    acked = next(p for _, p in events if p["state"] == "active-acknowledged")
    assert (
        acked["action"] == "ack"
        and acked["actor"] == "acme-operator"
        and acked["alarm_id"] == alarm_id
    )
    again = world.client.post(f"{T}/alarms/{alarm_id}/ack", json={}, headers=operator)
    assert again.status_code == 409

    plant.set(setpoint=13.0)  # escalates to hihi: a new alarm to acknowledge
    wait_for(lambda: _alarm(world, alarm_id)["condition"] == "hihi")
    assert _alarm(world, alarm_id)["state"] == "active-unacknowledged"
    plant.set(setpoint=5.0)  # back to normal while unacknowledged: returned-unacknowledged
    wait_for(lambda: _alarm(world, alarm_id)["state"] == "returned-unacknowledged")
    world.client.post(f"{T}/alarms/{alarm_id}/ack", json={"comment": "cleared"}, headers=operator)
    assert _alarm(world, alarm_id)["state"] == "normal"

    shelve = world.client.post(
        f"{T}/alarms/{alarm_id}/shelve",
        json={"minutes": 30, "reason": "sensor work"},
        headers=operator,
    )
    assert (
        shelve.status_code == 200
        and shelve.json()["state"] == "shelved"
        and shelve.json()["shelved_until"]
    )
    plant.set(setpoint=9.5)  # shelved: no annunciation, but the condition is tracked
    wait_for(lambda: _alarm(world, alarm_id)["condition"] == "hi")
    assert _alarm(world, alarm_id)["state"] == "shelved"
    assert (
        world.client.post(
            f"{T}/alarms/{alarm_id}/shelve", json={"minutes": 0, "reason": "x"}, headers=operator
        ).status_code
        == 422
    )
    unshelved = world.client.post(f"{T}/alarms/{alarm_id}/unshelve", headers=operator)
    assert unshelved.status_code == 200 and unshelved.json()["state"] == "active-unacknowledged"

    oos = world.client.patch(
        f"{T}/alarm-rules/{alarm_id}", json={"in_service": False}, headers=engineer
    )
    assert oos.status_code == 200 and oos.json()["state"] == "out-of-service"
    back = world.client.patch(
        f"{T}/alarm-rules/{alarm_id}", json={"in_service": True, "hi": 10.0}, headers=engineer
    )
    assert back.status_code == 200 and back.json()["rule"]["hi"] == 10.0
    wait_for(lambda: _alarm(world, alarm_id)["state"] == "normal")  # 9.5 < the new hi

    detail = _alarm(world, alarm_id)
    # "change" entries record a move between conditions (hihi back to hi) on the way down
    actions = [j["action"] for j in detail["journal"] if j["action"] != "change"]
    assert actions[:6] == ["activate", "ack", "escalate", "return", "ack", "shelve"]
    assert {"unshelve", "remove_from_service", "return_to_service"} <= set(actions)
    first = detail["journal"][0]
    assert (
        first["from"] == "normal"
        and first["to"] == "active-unacknowledged"
        and first["limit"] == 8.0
    )
    audit = world.client.get(
        f"{T}/audit?resource_type=alarm&limit=100", headers=world.as_("acme-auditor")
    ).json()["items"]
    assert {
        "alarm_rule.create",
        "alarm.activate",
        "alarm.ack",
        "alarm.shelve",
        "alarm.unshelve",
    } <= {e["action"] for e in audit}

    assert (
        world.client.get(
            f"/api/v1/tenants/globex/alarms/{alarm_id}", headers=world.as_("globex-operator")
        ).status_code
        == 404
    )
    assert (
        world.client.post(
            f"/api/v1/tenants/globex/alarms/{alarm_id}/ack",
            json={},
            headers=world.as_("globex-operator"),
        ).status_code
        == 404
    )
    assert world.client.delete(f"{T}/alarm-rules/{alarm_id}", headers=engineer).status_code == 200
    assert world.client.get(f"{T}/alarms/{alarm_id}", headers=engineer).status_code == 404


def test_alarms_are_evaluated_on_restart_state(world: World, hub: Hub, plant: SimThread) -> None:
    """Active alarms survive a hub restart: states are stored, not only held in memory."""
    engineer = world.as_("acme-engineer")
    world.client.post(
        f"{T}/devices",
        json={
            "name": "b",
            "protocol": "modbus",
            "endpoint": plant.sim.modbus_endpoint,
            "poll_interval_ms": 50,
            "tags": MODBUS_TAGS[:1],
        },
        headers=engineer,
    )
    alarm_id = world.client.post(
        f"{T}/alarm-rules",
        json={"device": "b", "tag": "pressure", "hi": 8.0, "priority": "low", "area": "a"},
        headers=engineer,
    ).json()["id"]
    plant.set(setpoint=9.0)
    wait_for(lambda: _alarm(world, alarm_id)["state"] == "active-unacknowledged")
    with world.client.portal() as portal:
        portal.call(hub.plc.stop)
        hub.plc.alarms._alarms.clear()
        portal.call(hub.plc.start)
    assert _alarm(world, alarm_id)["state"] == "active-unacknowledged"
