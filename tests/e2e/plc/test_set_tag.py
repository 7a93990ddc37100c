"""`DeviceService.set_tag`, the idempotent write an interlock uses: written (read back and
audited) when the tag holds another value, left alone while it holds this one, good."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.plc.plant_tags import LINE_MODBUS_TAGS
from hub.bootstrap import Hub
from hub.domain.audit import ActorType, RequestContext
from hub.domain.errors import NotFound
from hub.domain.plc import NotWritable, PlcError
from tests.conftest import World
from tests.e2e.plc.test_plc_refusals import BASE, _connected
from tests.support.plc_sim import SimThread, wait_for

OPERATOR = RequestContext("set-tag-test", ActorType.USER)


def _interlock_writes(world: World) -> list[dict[str, Any]]:
    entries = world.client.get(
        "/api/v1/tenants/acme/audit?action=tag.write", headers=world.as_("acme-auditor")
    ).json()["items"]
    return [e for e in entries if e["resource_id"].endswith("/interlock")]


def test_set_tag_writes_once_and_not_again_while_the_tag_holds_the_value(
    world: World, hub: Hub, plant: SimThread
) -> None:
    _connected(world, plant)
    devices = hub.plc.devices
    with world.client.portal() as portal:
        tenant = portal.call(hub.tenants.get, "acme")
        first = portal.call(devices.set_tag, tenant, "boiler-1", "interlock", True, OPERATOR)
        assert first is not None and first.value is True  # read back from the PLC
        again = portal.call(devices.set_tag, tenant, "boiler-1", "interlock", True, OPERATOR)
        assert again is None
        other = portal.call(devices.set_tag, tenant, "boiler-1", "interlock", False, OPERATOR)
        assert other is not None and other.value is False
    # the simulator's model takes a client's write on its next tick
    wait_for(lambda: plant.sim.model.interlock is False)
    assert plant.sim.writes["interlock"] == 2  # the held value was not written again
    assert len(_interlock_writes(world)) == 2


def test_set_tag_does_not_trust_a_value_from_a_device_it_is_not_connected_to(
    world: World, hub: Hub, plant: SimThread
) -> None:
    _connected(world, plant)
    devices = hub.plc.devices
    with world.client.portal() as portal:
        tenant = portal.call(hub.tenants.get, "acme")
        portal.call(devices.set_tag, tenant, "boiler-1", "interlock", True, OPERATOR)
    disabled = world.client.patch(
        f"{BASE}/boiler-1", json={"enabled": False}, headers=world.as_("acme-engineer")
    )
    assert disabled.status_code == 200, disabled.text
    wait_for(
        lambda: (
            not world.client.get(
                f"{BASE}/boiler-1/status", headers=world.as_("acme-viewer")
            ).json()["connected"]
        )
    )
    with world.client.portal() as portal, pytest.raises(NotWritable):
        # the last value read was true, but from a device no longer connected: no answer
        # without asking the PLC, and it cannot be asked
        portal.call(devices.set_tag, tenant, "boiler-1", "interlock", True, OPERATOR)


def test_set_tag_finds_a_running_device_by_its_current_name_only(
    world: World, hub: Hub, plant: SimThread
) -> None:
    """The running session answers the look-up: after a rename, the old name is unknown
    and the new one writes, as a read of the registry would say."""
    _connected(world, plant)
    renamed = world.client.patch(
        f"{BASE}/boiler-1", json={"name": "boiler-9"}, headers=world.as_("acme-engineer")
    )
    assert renamed.status_code == 200, renamed.text
    devices = hub.plc.devices
    with world.client.portal() as portal:
        tenant = portal.call(hub.tenants.get, "acme")
        wait_for(lambda: hub.plc.supervisor.session_named(tenant.id, "boiler-9") is not None)
        with pytest.raises(NotFound):
            portal.call(devices.set_tag, tenant, "boiler-1", "interlock", True, OPERATOR)
        written = wait_for(
            lambda: _quietly(portal, devices.set_tag, tenant, "boiler-9", "interlock", True)
        )
        assert written is not None and written.value is True
    assert plant.sim.writes["interlock"] == 1


def _quietly(portal: Any, call: Any, *args: Any) -> Any:
    """The call's result, or None while the renamed device's session is connecting."""
    try:
        return portal.call(call, *args, OPERATOR)
    except (NotWritable, PlcError):
        return None


def test_another_tenant_cannot_reach_a_running_device_by_its_name(
    world: World, hub: Hub, plant: SimThread
) -> None:
    """The session look-up is scoped by tenant: globex naming acme's running boiler-1 gets
    what the registry says, not found, and nothing is written."""
    _connected(world, plant)
    with world.client.portal() as portal, pytest.raises(NotFound):
        globex = portal.call(hub.tenants.get, "globex")
        portal.call(hub.plc.devices.set_tag, globex, "boiler-1", "interlock", True, OPERATOR)
    assert plant.sim.writes.get("interlock", 0) == 0


def test_read_now_sees_the_plc_before_the_next_poll(
    world: World, hub: Hub, plant: SimThread
) -> None:
    """What a workflow waiting on a machine's answer reads: the PLC now, not the last
    poll (here 60 s old), and the value becomes the tag's latest too."""
    device = {
        "name": "line-1",
        "protocol": "modbus",
        "endpoint": plant.sim.modbus_endpoint,
        "poll_interval_ms": 60_000,
        "tags": LINE_MODBUS_TAGS,
    }
    made = world.client.post(BASE, json=device, headers=world.as_("acme-engineer"))
    assert made.status_code == 201, made.text
    tags = f"{BASE}/line-1/tags"

    def polled() -> dict[str, Any]:
        items = world.client.get(tags, headers=world.as_("acme-viewer")).json()["items"]
        return {t["name"]: t for t in items}

    wait_for(lambda: polled()["fault_code"]["quality"] == "good")
    assert polled()["fault_code"]["value"] == 0
    plant.sim.line.fault(7)
    devices = hub.plc.devices
    with world.client.portal() as portal:
        tenant = portal.call(hub.tenants.get, "acme")

        def read() -> dict[str, Any]:
            return portal.call(devices.read_now, tenant, "line-1", ["fault_code", "state"])

        wait_for(lambda: read()["fault_code"].value == 7)
        now = read()
        with pytest.raises(NotFound):
            portal.call(devices.read_now, tenant, "line-1", ["no_such_tag"])
    assert now["state"].value == 4 and now["fault_code"].quality.label == "good"
    assert polled()["fault_code"]["value"] == 7  # the read is the tag's latest value now
