"""Packs through the API: list, install (422s naming each bad parameter, one
transaction), policy additions, upgrade to a newer version, uninstall keeping history."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from hub.api.app import create_app
from hub.bootstrap import build
from hub.services.packs.catalog import DEFAULT_ROOT
from tests.conftest import FAST_HASHER, World
from tests.support.pack_helpers import OVERRIDE_KEY, PACK, add_device, install, parameters
from tests.support.plc_sim import SimThread

BASE = "/api/v1/tenants/acme"


def _fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_list_shows_the_available_pack(world: World) -> None:
    response = world.client.get(f"{BASE}/packs", headers=world.as_("acme-viewer"))
    assert response.status_code == 200, response.text
    items = {p["name"]: p for p in response.json()["items"]}
    assert items[PACK]["available_version"] == "1.0.0"
    assert items[PACK]["installed_version"] is None and items[PACK]["status"] == "available"
    one = world.client.get(f"{BASE}/packs/{PACK}", headers=world.as_("acme-operator")).json()
    assert "override_key" in one["parameters_schema"]["properties"]


def test_bad_parameters_are_422_naming_each(world: World, plant: SimThread) -> None:
    add_device(world, plant)
    bad = parameters(safety_level="extreme", required_confirmations=0)
    del bad["override_key"]
    bad["sensors"][0]["hi"] = "high"
    fields = _fields(install(world, bad))
    assert {
        "parameters",
        "parameters.safety_level",
        "parameters.required_confirmations",
        "parameters.sensors[0].hi",
    } <= set(fields), fields
    assert "override_key" in fields["parameters"]


def test_unknown_device_tag_and_unwritable_interlock_are_422(
    world: World, plant: SimThread
) -> None:
    add_device(world, plant)
    params = parameters()
    params["sensors"].append({"device": "nope", "tag": "pressure", "hi": 1, "hihi": 2})
    params["sensors"].append({"device": "boiler-1", "tag": "nope", "hi": 1, "hihi": 2})
    params["interlocks"] = [
        {"device": "boiler-1", "tag": "pressure", "value": True},
        {"device": "boiler-1", "tag": "interlock", "value": 7},
    ]
    fields = _fields(install(world, params))
    assert fields["parameters.sensors[1].device"] == "no device 'nope'"
    assert "not a tag" in fields["parameters.sensors[2].tag"]
    assert "not writable" in fields["parameters.interlocks[0].tag"]
    assert "parameters.interlocks[1].value" in fields
    # hi must be below hihi: the alarm rule's own check, named on the sensor
    params = parameters()
    params["sensors"][0]["hihi"] = 1.0
    assert any(k.startswith("parameters.sensors[0].") for k in _fields(install(world, params)))
    # nothing was created by the refused installs
    rules = world.client.get(f"{BASE}/alarm-rules", headers=world.as_("acme-engineer")).json()
    assert rules["items"] == []


def test_install_creates_everything_and_hides_secrets(world: World, plant: SimThread) -> None:
    add_device(world, plant)
    response = install(world, parameters())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["installed_version"] == "1.0.0" and body["status"] == "installed"
    assert body["parameters"]["override_key"] == "***"
    assert body["resources"]["workflows"] == {
        "safety-monitoring": "1.0.0",
        "safety-health-check": "1.0.0",
    }
    eng = world.as_("acme-engineer")
    published = world.client.get(f"{BASE}/workflows/safety-monitoring/1.0.0", headers=eng).json()
    assert published["triggers"][0]["event"] == "areas/boiler-house/sensors/+/alarm"
    assert "override_key" not in published["vars"] and OVERRIDE_KEY not in str(published)
    rules = world.client.get(f"{BASE}/alarm-rules", headers=eng).json()["items"]
    assert [(r["tag"], r["rule"]["hi"], r["rule"]["hihi"], r["area"]) for r in rules] == [
        ("pressure", 8.0, 10.0, "boiler-house")
    ]
    again = install(world, parameters())
    assert again.status_code == 409, again.text
    audit = world.client.get(
        f"{BASE}/audit?action=pack.install", headers=world.as_("acme-auditor")
    ).json()
    done = [e["resource_id"] for e in audit["items"] if e["outcome"] == "success"]
    assert done == [PACK]


def test_policy_additions_apply_in_the_tenant_only(world: World, plant: SimThread) -> None:
    viewer = world.as_("acme-viewer")
    assert world.client.get(f"{BASE}/incidents", headers=viewer).status_code == 403
    add_device(world, plant)
    assert install(world, parameters()).status_code == 201
    assert world.client.get(f"{BASE}/incidents", headers=viewer).status_code == 200
    globex = world.client.get(
        "/api/v1/tenants/globex/incidents", headers=world.as_("globex-viewer")
    )
    assert globex.status_code == 403
    removed = world.client.delete(f"{BASE}/packs/{PACK}", headers=world.as_("acme-tenant_admin"))
    assert removed.status_code == 200, removed.text
    assert removed.json()["status"] == "uninstalled"
    assert world.client.get(f"{BASE}/incidents", headers=viewer).status_code == 403


def test_uninstall_keeps_history_and_reinstall_publishes_newer(
    world: World, plant: SimThread
) -> None:
    add_device(world, plant)
    admin, eng = world.as_("acme-tenant_admin"), world.as_("acme-engineer")
    assert install(world, parameters()).status_code == 201
    assert world.client.delete(f"{BASE}/packs/{PACK}", headers=admin).status_code == 200
    rules = world.client.get(f"{BASE}/alarm-rules", headers=eng).json()["items"]
    assert [r["state"] for r in rules] == ["out-of-service"]
    versions = world.client.get(f"{BASE}/workflows/safety-monitoring", headers=eng).json()
    assert "1.0.0" in str(versions)
    assert world.client.delete(f"{BASE}/packs/{PACK}", headers=admin).status_code == 404
    again = install(world, parameters())
    assert again.status_code == 201, again.text
    assert again.json()["resources"]["workflows"]["safety-monitoring"] == "1.0.1"


def test_upgrade_to_a_newer_pack_version(
    world: World, plant: SimThread, tmp_path: Path, settings: Any
) -> None:
    add_device(world, plant)
    assert install(world, parameters()).status_code == 201
    admin = world.as_("acme-tenant_admin")
    same = world.client.post(f"{BASE}/packs/{PACK}/upgrade", json={}, headers=admin)
    assert same.status_code == 409, same.text
    # The hub is updated with version 1.1.0 of the pack
    root = tmp_path / "packs"
    shutil.copytree(DEFAULT_ROOT / "safety_monitoring", root / "safety_monitoring")
    manifest = root / "safety_monitoring" / "pack.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    newer = build(_with(settings, packs_dir=root), hasher=FAST_HASHER)
    with TestClient(create_app(newer), raise_server_exceptions=False) as client:
        listed = client.get(f"{BASE}/packs", headers=admin).json()["items"]
        assert listed[0]["upgradable"] and listed[0]["available_version"] == "1.1.0"
        up = client.post(
            f"{BASE}/packs/{PACK}/upgrade",
            json={"parameters": {"safety_level": "critical"}},
            headers=admin,
        )
        assert up.status_code == 200, up.text
        body = up.json()
        assert body["installed_version"] == "1.1.0"
        assert body["parameters"]["safety_level"] == "critical"
        assert body["parameters"]["override_key"] == "***"  # kept from the install
        assert body["resources"]["workflows"]["safety-monitoring"] == "1.1.0"
        rules = client.get(f"{BASE}/alarm-rules", headers=admin).json()["items"]
        assert sorted(r["state"] for r in rules) == ["normal", "out-of-service"]


def _with(settings: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(settings, **changes)


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"[1]", 422), (b"{", 400), (b'{"parameters": 5}', 422), (b'{"other": 1}', 422)],
)
def test_malformed_bodies_are_400_and_wrong_shapes_422(
    world: World, body: bytes, status: int
) -> None:
    response = world.client.post(
        f"{BASE}/packs/{PACK}/install",
        content=body,
        headers={**world.as_("acme-tenant_admin"), "content-type": "application/json"},
    )
    assert response.status_code == status, response.text


def test_pack_parameters_take_a_device_id_as_well_as_its_name(
    world: World, plant: SimThread
) -> None:
    device = add_device(world, plant)
    other = add_device(world, plant, tenant="globex", name="boiler-9")
    foreign = parameters(device=other["id"])  # another tenant's device, by its id
    assert _fields(install(world, foreign))["parameters.sensors[0].device"] == (
        f"no device {other['id']!r}"
    )
    response = install(world, parameters(device=device["id"]))
    assert response.status_code == 201, response.text
    stored = response.json()["parameters"]
    # kept as the device's name, which the pack's rules, events and activities use
    assert stored["sensors"][0]["device"] == stored["interlocks"][0]["device"] == "boiler-1"
    rules = world.client.get(f"{BASE}/alarm-rules", headers=world.as_("acme-engineer")).json()
    assert [(r["device_id"], r["tag"]) for r in rules["items"]] == [(device["id"], "pressure")]
