"""Modbus end to end through the API against a real pymodbus server: registry, values,
writes with read-back, history, and a PLC that stops for seconds and comes back."""

from __future__ import annotations

import time
from typing import Any

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.conftest import World
from tests.support.plc_sim import SimThread, wait_for

BASE = "/api/v1/tenants/acme/devices"


def _create(world: World, plant: SimThread, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "boiler-1",
        "protocol": "modbus",
        "endpoint": plant.sim.modbus_endpoint,
        "unit_id": 1,
        "poll_interval_ms": 100,
        "timeout_ms": 500,
        "max_backoff_ms": 1000,
        "tags": MODBUS_TAGS,
        **extra,
    }
    response = world.client.post(BASE, json=body, headers=world.as_("acme-engineer"))
    assert response.status_code == 201, response.text
    return response.json()


def _tags(world: World, device: str) -> dict[str, dict[str, Any]]:
    response = world.client.get(f"{BASE}/{device}/tags", headers=world.as_("acme-viewer"))
    assert response.status_code == 200, response.text
    return {t["name"]: t for t in response.json()["items"]}


def _all_good(world: World, device: str) -> dict[str, dict[str, Any]] | None:
    tags = _tags(world, device)
    return tags if all(t["quality"] == "good" for t in tags.values()) else None


def test_registry_values_and_writes(world: World, plant: SimThread) -> None:
    device = _create(world, plant)
    assert device["id"] and device["protocol"] == "modbus" and len(device["tags"]) == 8
    tags = wait_for(lambda: _all_good(world, device["id"]))
    assert abs(tags["pressure"]["value"] - 5.0) < 0.5 and tags["pressure"]["unit"] == "bar"
    # int16 raw 500 scaled by 0.01: the same pressure through a scaled register
    assert abs(tags["pressure_raw"]["value"] - tags["pressure"]["value"]) < 0.2
    assert tags["interlock"]["value"] is False and tags["pump_speed"]["value"] == 50

    operator = world.as_("acme-operator")
    write = world.client.post(
        f"{BASE}/boiler-1/tags/setpoint/write", json={"value": 7.25}, headers=operator
    )
    assert write.status_code == 200, write.text
    assert write.json()["value"] == 7.25 and write.json()["old_value"] == 5.0
    assert wait_for(lambda: plant.sim.model.setpoint == 7.25)
    coil = world.client.post(
        f"{BASE}/boiler-1/tags/interlock/write", json={"value": True}, headers=operator
    )
    assert coil.status_code == 200 and coil.json()["value"] is True
    wait_for(lambda: plant.sim.model.interlock is True)
    # pressure vents once the interlock trips
    wait_for(lambda: _tags(world, "boiler-1")["pressure"]["value"] < 1.0)

    refused = world.client.post(
        f"{BASE}/boiler-1/tags/pressure/write", json={"value": 1.0}, headers=operator
    )
    assert refused.status_code == 409
    wrong_type = world.client.post(
        f"{BASE}/boiler-1/tags/interlock/write", json={"value": 3}, headers=operator
    )
    assert wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["field"] == "value"
    too_big = world.client.post(
        f"{BASE}/boiler-1/tags/pump_speed/write", json={"value": 70000}, headers=operator
    )
    assert too_big.status_code == 422
    unknown = world.client.post(
        f"{BASE}/boiler-1/tags/nope/write", json={"value": 1}, headers=operator
    )
    assert unknown.status_code == 404

    audit = world.client.get(
        "/api/v1/tenants/acme/audit?action=tag.write", headers=world.as_("acme-auditor")
    ).json()["items"]
    details = [e["details"] for e in audit if e["outcome"] == "success"]
    assert {
        "device": "boiler-1",
        "tag": "setpoint",
        "old_value": 5.0,
        "new_value": 7.25,
        "read_back": 7.25,
    } in details

    status = world.client.get(f"{BASE}/boiler-1/status", headers=world.as_("acme-viewer")).json()
    assert status["connected"] is True and status["last_seen"] and status["reconnect_count"] == 0

    def history() -> Any:
        raw = world.client.get(
            f"{BASE}/boiler-1/tags/setpoint/history", headers=world.as_("acme-viewer")
        )
        assert raw.status_code == 200, raw.text
        values = {round(s["value"], 2) for s in raw.json()["items"]}
        return raw if values >= {5.0, 7.25} else None

    raw = wait_for(history)  # the samples are written in the background: wait for both
    assert raw.status_code == 200 and raw.json()["items"], raw.text
    assert {round(s["value"], 2) for s in raw.json()["items"]} >= {5.0, 7.25}
    bucketed = world.client.get(
        f"{BASE}/boiler-1/tags/pressure/history?bucket=1m&agg=max", headers=world.as_("acme-viewer")
    ).json()["items"]
    # (the test may straddle a minute: the pressure, ~5 bar, vented in the later bucket)
    assert bucketed and all(b["count"] > 0 for b in bucketed)
    assert max(b["value"] for b in bucketed) >= 4.5
    assert [b["ts"] for b in bucketed] == sorted(b["ts"] for b in bucketed)
    assert all(b["ts"].endswith(":00Z") for b in bucketed)
    bad = world.client.get(
        f"{BASE}/boiler-1/tags/pressure/history?bucket=7m&agg=median",
        headers=world.as_("acme-viewer"),
    )
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {
        "bucket",
        "agg",
    }


def test_device_validation_and_lifecycle(world: World, plant: SimThread) -> None:
    engineer = world.as_("acme-engineer")
    bad = world.client.post(
        BASE,
        json={
            "name": "x",
            "protocol": "modbus",
            "endpoint": "http://nope",
            "tags": [
                {"name": "a", "register": "coil", "address": 0, "datatype": "float32"},
                {
                    "name": "b",
                    "register": "input",
                    "address": -1,
                    "datatype": "uint16",
                    "writable": True,
                },
            ],
        },
        headers=engineer,
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"endpoint", "tags[0].datatype", "tags[1].address", "tags[1].writable"} <= fields
    assert world.client.post(
        BASE, content=b"{not json", headers={**engineer, "content-type": "application/json"}
    ).status_code in (400, 422)

    device = _create(world, plant)
    assert world.client.post(BASE, json={**device, "id": None}, headers=engineer).status_code in (
        409,
        422,
    )
    listed = world.client.get(f"{BASE}?limit=1", headers=world.as_("acme-viewer")).json()
    assert [d["name"] for d in listed["items"]] == ["boiler-1"]
    patched = world.client.patch(
        f"{BASE}/{device['id']}",
        json={"poll_interval_ms": 200, "tags": MODBUS_TAGS[:2]},
        headers=engineer,
    )
    assert patched.status_code == 200 and len(patched.json()["tags"]) == 2
    wait_for(lambda: _all_good(world, device["id"]))
    assert set(_tags(world, device["id"])) == {"pressure", "level"}
    assert (
        world.client.patch(
            f"{BASE}/{device['id']}", json={"protocol": "opcua"}, headers=engineer
        ).status_code
        == 422
    )
    assert world.client.get(f"{BASE}/{device['id']}/browse", headers=engineer).status_code == 409
    assert world.client.delete(f"{BASE}/{device['id']}", headers=engineer).status_code == 200
    assert world.client.get(f"{BASE}/{device['id']}", headers=engineer).status_code == 404
    other = world.client.get(
        "/api/v1/tenants/globex/devices", headers=world.as_("globex-engineer")
    ).json()
    assert other["items"] == []


def test_plc_restart_tags_go_bad_and_recover(world: World, plant: SimThread) -> None:
    device = _create(world, plant)
    wait_for(lambda: _all_good(world, device["id"]))
    plant.call(plant.sim.stop_modbus())
    stopped = time.monotonic()
    # Within a poll interval and the timeout every tag is bad; none shows a stale good value.
    bad = wait_for(
        lambda: (lambda t: t if all(v["quality"] == "bad" for v in t.values()) else None)(
            _tags(world, device["id"])
        ),
        timeout=3,
    )
    assert time.monotonic() - stopped < 3 and bad["pressure"]["value"] is not None
    status = world.client.get(
        f"{BASE}/{device['id']}/status", headers=world.as_("acme-viewer")
    ).json()
    assert status["connected"] is False and status["last_error"]
    time.sleep(3)  # the PLC stays down for several seconds
    assert all(v["quality"] == "bad" for v in _tags(world, device["id"]).values())
    plant.call(plant.sim.start_modbus())
    back = time.monotonic()
    wait_for(lambda: _all_good(world, device["id"]), timeout=1.0 + 2.0)  # max backoff + slack
    assert time.monotonic() - back < 3.0
    status = world.client.get(
        f"{BASE}/{device['id']}/status", headers=world.as_("acme-viewer")
    ).json()
    assert status["connected"] is True and status["reconnect_count"] >= 1
    history = world.client.get(
        f"{BASE}/{device['id']}/tags/level/history", headers=world.as_("acme-viewer")
    ).json()["items"]
    assert {"good", "bad"} <= {s["quality"] for s in history}
