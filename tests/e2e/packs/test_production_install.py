"""Installing the production-control pack: 422 naming each bad parameter (the schema, the
line's devices and tags, and what the workflow made from the parameters checks: recipes
within the machine limits, each tag role once), and what an install makes."""

from __future__ import annotations

from typing import Any

from connectors.plc.plant_sim import LINE_MODBUS_TAGS
from tests.conftest import World
from tests.support.plc_sim import SimThread

BASE = "/api/v1/tenants/acme"
PACK = "production-control"
ERP = {"connection": "cap", "plant": "1000", "work_center": "LINE1"}


def _device(world: World, plant: SimThread) -> None:
    body = {
        "name": "line-1",
        "protocol": "modbus",
        "endpoint": plant.sim.modbus_endpoint,
        "tags": LINE_MODBUS_TAGS,
    }
    created = world.client.post(f"{BASE}/devices", json=body, headers=world.as_("acme-engineer"))
    assert created.status_code == 201, created.text


def _install(world: World, **params: Any) -> Any:
    return world.client.post(
        f"{BASE}/packs/{PACK}/install",
        json={"parameters": {"line_id": "line-1", "erp": ERP, **params}},
        headers=world.as_("acme-tenant_admin"),
    )


def _fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_the_schema_names_each_bad_parameter(world: World, plant: SimThread) -> None:
    _device(world, plant)
    fields = _fields(
        _install(
            world,
            line_id="line/1",
            erp={"connection": "cap", "plant": "1000"},
            rate_tolerance=0,
            material_confirmation_due="soon",
            recipes={"FG-1": {"speed_sp": 100}},
        )
    )
    assert set(fields) == {
        "parameters.line_id",
        "parameters.erp",
        "parameters.rate_tolerance",
        "parameters.material_confirmation_due",
        "parameters.recipes['FG-1']",
    }
    assert "work_center" in fields["parameters.erp"]


def test_the_lines_devices_and_tags_are_checked(world: World, plant: SimThread) -> None:
    _device(world, plant)
    recipe_tags = [
        {"role": "speed_sp", "device": "nope", "tag": "speed_sp"},
        {"role": "temperature_sp", "device": "line-1", "tag": "good_count"},
        {"role": "target_qty", "device": "line-1", "tag": "no_such_tag"},
        {"role": "batch_id", "device": "line-1", "tag": "batch_id"},
    ]
    fields = _fields(_install(world, recipe_tags=recipe_tags))
    assert fields == {
        "parameters.recipe_tags[0].device": "no device 'nope'",
        "parameters.recipe_tags[1].tag": "tag 'good_count' is not writable",
        "parameters.recipe_tags[2].tag": "not a tag of device 'line-1'",
    }
    # the defaults name the contract's tags on device line-1: without it, each is named
    world.client.delete(f"{BASE}/devices/line-1", headers=world.as_("acme-engineer"))
    missing = _fields(_install(world))
    assert "parameters.command_tags[0].device" in missing
    assert "parameters.status_tags[4].device" in missing


def test_recipes_beyond_the_machine_limits_and_roles_twice_are_refused(
    world: World, plant: SimThread
) -> None:
    _device(world, plant)
    status_tags = [
        {"role": "good_count", "device": "line-1", "tag": "good_count"},
        {"role": "good_count", "device": "line-1", "tag": "scrap_count"},
        {"role": "state", "device": "line-1", "tag": "state"},
        {"role": "fault_code", "device": "line-1", "tag": "fault_code"},
        {"role": "active_batch", "device": "line-1", "tag": "active_batch"},
    ]
    fields = _fields(
        _install(
            world,
            recipes={"FG-100": {"speed_sp": 1500, "temperature_sp": 180}},
            default_recipe={"speed_sp": 60, "temperature_sp": 10},
            status_tags=status_tags,
        )
    )
    assert fields["parameters.recipes['FG-100'].speed_sp"] == (
        "speed_sp 1500 is outside the machine limits 1..1200"
    )
    assert fields["parameters.default_recipe.temperature_sp"] == (
        "temperature_sp 10 is outside the machine limits 20..250"
    )
    assert "parameters.status_tags" in fields
    # wider machine limits make the same recipe fine
    limits = {"speed_sp": {"min": 1, "max": 2000}, "temperature_sp": {"min": 0, "max": 250}}
    ok = _install(
        world,
        recipes={"FG-100": {"speed_sp": 1500, "temperature_sp": 180}},
        default_recipe={"speed_sp": 60, "temperature_sp": 10},
        machine_limits=limits,
    )
    assert ok.status_code == 201, ok.text


def test_an_install_publishes_the_workflows_and_the_fault_alarm(
    world: World, plant: SimThread
) -> None:
    _device(world, plant)
    channels = [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s" * 20}]
    installed = _install(world, notification_channels=channels)
    assert installed.status_code == 201, installed.text
    body = installed.json()
    assert body["parameters"]["notification_channels"] == "***"
    assert body["resources"]["workflows"] == {
        "production-release-poller": "1.1.0",
        "production-reconcile": "1.1.0",
        "production-control": "1.1.0",
    }
    eng = world.as_("acme-engineer")
    published = world.client.get(f"{BASE}/workflows/production-control/1.1.0", headers=eng)
    definition = published.json()
    assert definition["triggers"][0]["event"] == "production/line-1/orders/released"
    assert definition["steps"]["wait_line_event"]["timeout"] == 10
    [rule_id] = body["resources"]["alarm_rules"]
    rule = world.client.get(f"{BASE}/alarm-rules/{rule_id}", headers=eng).json()
    assert (rule["tag"], rule["rule"]["hi"], rule["area"]) == ("fault_code", 0.5, "line-1")
