"""`DeviceService.write_tags`, a configuration written in one go (the production pack's
recipe): each value written and read back in turn, the audit entries of the writes in one
transaction, in the order of the writes, and a failure midway audited after the writes
made before it, then raised."""

from __future__ import annotations

from typing import Any

import pytest

from hub.bootstrap import Hub
from hub.domain.audit import ActorType, RequestContext
from hub.domain.errors import ValidationFailed
from hub.domain.plc import PlcError
from tests.conftest import World
from tests.e2e.plc.test_plc_refusals import _connected
from tests.support.plc_sim import SimThread, wait_for

OPERATOR = RequestContext("write-tags-test", ActorType.USER)


def _tag_writes(world: World) -> list[dict[str, Any]]:
    entries = world.client.get(
        "/api/v1/tenants/acme/audit?action=tag.write", headers=world.as_("acme-auditor")
    ).json()["items"]
    return sorted(entries, key=lambda e: e["seq"])


def _written(entry: dict[str, Any]) -> tuple[str, str, Any]:
    return entry["resource_id"].rsplit("/", 1)[1], entry["outcome"], entry["details"]["new_value"]


def test_a_configuration_is_written_in_order_and_audited_in_order(
    world: World, hub: Hub, plant: SimThread
) -> None:
    _connected(world, plant)
    writes = [("boiler-1", "setpoint", 6.5), ("boiler-1", "pump_speed", 40.0),
              ("boiler-1", "interlock", True)]  # fmt: skip
    with world.client.portal() as portal:
        tenant = portal.call(hub.tenants.get, "acme")
        done = portal.call(hub.plc.devices.write_tags, tenant, writes, OPERATOR)
    assert [(r.tag, r.value) for r in done] == [("setpoint", 6.5), ("pump_speed", 40.0),
                                                ("interlock", True)]  # fmt: skip
    wait_for(lambda: plant.sim.model.interlock is True)  # the model takes it on its tick
    entries = _tag_writes(world)
    assert [_written(e) for e in entries] == [
        ("setpoint", "success", 6.5),
        ("pump_speed", "success", 40.0),
        ("interlock", "success", True),
    ]
    assert [e["seq"] for e in entries] == list(range(entries[0]["seq"], entries[0]["seq"] + 3))
    assert all(e["details"]["read_back"] == e["details"]["new_value"] for e in entries)


def test_a_write_the_plc_refuses_midway_is_audited_after_the_writes_before_it(
    world: World, hub: Hub, plant: SimThread
) -> None:
    _connected(world, plant)
    plant.sim.refuse_interlock = "exception"
    writes = [("boiler-1", "setpoint", 7.0), ("boiler-1", "interlock", True),
              ("boiler-1", "pump_speed", 55.0)]  # fmt: skip
    with world.client.portal() as portal, pytest.raises(PlcError):
        tenant = portal.call(hub.tenants.get, "acme")
        portal.call(hub.plc.devices.write_tags, tenant, writes, OPERATOR)
    assert [_written(e) for e in _tag_writes(world)] == [
        ("setpoint", "success", 7.0),
        ("interlock", "failure", True),  # the last one never written: not audited
    ]


def test_a_value_refused_before_the_plc_keeps_the_writes_made_before_it_audited(
    world: World, hub: Hub, plant: SimThread
) -> None:
    _connected(world, plant)
    writes = [("boiler-1", "setpoint", 5.5), ("boiler-1", "interlock", "not a bool")]
    with world.client.portal() as portal, pytest.raises(ValidationFailed):
        tenant = portal.call(hub.tenants.get, "acme")
        portal.call(hub.plc.devices.write_tags, tenant, writes, OPERATOR)
    assert [_written(e) for e in _tag_writes(world)] == [("setpoint", "success", 5.5)]
