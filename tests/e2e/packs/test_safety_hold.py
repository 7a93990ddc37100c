"""Two excursions in one area: the run whose own cause is gone must not release the
interlocks while another alarm of the area still calls for them. It holds them, tries
again, and releases once that alarm is no longer active."""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.support import raw_plc
from tests.support.pack_helpers import OVERRIDE_KEY, add_device, eventually, install, parameters
from tests.support.plc_sim import SimThread

BASE = "/api/v1/tenants/acme"


def _audit(world: World, action: str) -> list[dict[str, Any]]:
    url = f"{BASE}/audit?action={action}&limit=100"
    return list(world.client.get(url, headers=world.as_("acme-auditor")).json()["items"])


def _open_tasks(world: World) -> list[dict[str, Any]]:
    url = f"{BASE}/tasks?scope=open"
    return list(world.client.get(url, headers=world.as_("acme-operator")).json()["items"])


def _run(world: World, run_id: str) -> dict[str, Any]:
    return dict(world.client.get(f"{BASE}/runs/{run_id}", headers=world.as_("acme-viewer")).json())


def test_interlocks_are_held_while_another_alarm_of_the_area_is_active(
    world: World, plant: SimThread
) -> None:
    client, engineer = world.client, world.as_("acme-engineer")
    add_device(world, plant, "modbus")
    assert install(world, parameters()).status_code == 201

    # First excursion: pressure past HiHi trips the interlock, which vents the pressure.
    plant.set(setpoint=12.0)
    eventually(lambda: raw_plc.interlock(plant, "modbus") is True, timeout=30)
    plant.set(setpoint=5.0)
    # Ack once the vented pressure is back under its Hi (8 bar): the run's first look then
    # sees "improved"; earlier, it sees "stable" and looks again only 30 s later.
    eventually(lambda: plant.sim.model.pressure < 7.5, timeout=30)
    rules = client.get(f"{BASE}/alarm-rules", headers=engineer).json()["items"]
    pressure = next(r for r in rules if r["tag"] == "pressure")
    acked = client.post(
        f"{BASE}/alarms/{pressure['id']}/ack", json={}, headers=world.as_("acme-operator")
    )
    assert acked.status_code == 200, acked.text
    # (the Hi alarm's run asks for a key too, but only the HiHi run tripped the interlock)
    writes = eventually(lambda: _audit(world, "tag.write"))
    tripped = writes[0]["actor"].removeprefix("workflow:")
    task = eventually(
        lambda: [t for t in _open_tasks(world) if t["run_id"] == tripped], timeout=30
    )[0]

    # A second excursion in the same area, still present: the temperature is past its HiHi.
    created = client.post(
        f"{BASE}/alarm-rules",
        json={
            "device": "boiler-1",
            "tag": "temperature",
            "hihi": 30.0,
            "priority": "high",
            "area": "boiler-house",
        },
        headers=engineer,
    )
    assert created.status_code == 201, created.text
    second = created.json()["id"]
    alarm_url = f"{BASE}/alarms/{second}"
    eventually(lambda: client.get(alarm_url, headers=engineer).json()["state"] != "normal")

    # The first run gets its key, but holds the interlocks for the second alarm.
    done = client.post(
        f"{BASE}/tasks/{task['id']}/complete",
        json={"values": {"override_key": OVERRIDE_KEY}},
        headers=world.as_("acme-operator"),
    )
    assert done.status_code == 200, done.text
    held = eventually(
        lambda: [
            e for e in _audit(world, "safety.restore_held") if e["resource_id"] == task["run_id"]
        ]
    )
    assert held[0]["details"]["held_by"] == [second]
    assert raw_plc.interlock(plant, "modbus") is True
    assert _run(world, task["run_id"])["status"] != "completed"

    # The second alarm goes away: the held run releases the interlocks on its next try.
    gone = client.delete(f"{BASE}/alarm-rules/{second}", headers=engineer)
    assert gone.status_code == 200, gone.text
    eventually(lambda: _run(world, task["run_id"])["status"] == "completed", timeout=40)
    assert raw_plc.interlock(plant, "modbus") is False
    released = [e for e in _audit(world, "safety.restore") if e["resource_id"] == task["run_id"]]
    assert released and released[0]["details"]["released"] == ["boiler-1/interlock"]
