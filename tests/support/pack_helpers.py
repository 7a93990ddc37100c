"""Helpers for pack tests: a plant device per protocol, install parameters, waits."""

from __future__ import annotations

from typing import Any

from connectors.plc.plant_sim import MODBUS_TAGS, OPCUA_TAGS
from tests.conftest import World
from tests.support.plc_sim import SimThread
from tests.support.waiting import eventually as eventually  # the pack tests wait with it

OVERRIDE_KEY = "let-me-release-it"
PACK = "safety-monitoring"


def add_device(
    world: World,
    plant: SimThread,
    protocol: str = "modbus",
    tenant: str = "acme",
    name: str = "boiler-1",
) -> dict[str, Any]:
    if protocol == "modbus":
        body = {
            "name": name,
            "protocol": "modbus",
            "endpoint": plant.sim.modbus_endpoint,
            "poll_interval_ms": 50,
            "tags": MODBUS_TAGS,
        }
    else:
        body = {
            "name": name,
            "protocol": "opcua",
            "endpoint": plant.sim.opcua_endpoint,
            "tags": OPCUA_TAGS,
            "security": {"publishing_interval_ms": 50, "sampling_interval_ms": 25},
        }
    response = world.client.post(
        f"/api/v1/tenants/{tenant}/devices", json=body, headers=world.as_(f"{tenant}-engineer")
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def parameters(device: str = "boiler-1", **extra: Any) -> dict[str, Any]:
    return {
        "area_id": "boiler-house",
        "safety_level": "high",
        "sensors": [{"device": device, "tag": "pressure", "hi": 8.0, "hihi": 10.0}],
        "interlocks": [{"device": device, "tag": "interlock", "value": True}],
        "override_key": OVERRIDE_KEY,
        **extra,
    }


def install(world: World, params: dict[str, Any], tenant: str = "acme") -> Any:
    return world.client.post(
        f"/api/v1/tenants/{tenant}/packs/{PACK}/install",
        json={"parameters": params},
        headers=world.as_(f"{tenant}-tenant_admin"),
    )
