"""OPC-UA faults against a real asyncua server (issue 12, items 15 and 17): a node the
server lacks, a write the server answers too late, a server that goes away."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asyncua import ua

from connectors.plc.plant_sim import OPCUA_TAGS
from tests.conftest import World
from tests.support.plc_sim import SimThread, wait_for

BASE = "/api/v1/tenants/acme/devices"
GHOST = {
    "name": "ghost",
    "node_id": "ns=2;s=Plant.NoSuchNode",
    "datatype": "float64",
    "writable": True,
}


def _create(world: World, plant: SimThread, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "plant-ua",
        "protocol": "opcua",
        "endpoint": plant.sim.opcua_endpoint,
        "timeout_ms": 1000,
        "max_backoff_ms": 1000,
        "security": {"sampling_interval_ms": 50, "publishing_interval_ms": 100},
        "tags": OPCUA_TAGS,
        **extra,
    }
    response = world.client.post(BASE, json=body, headers=world.as_("acme-engineer"))
    assert response.status_code == 201, response.text
    return response.json()


def _tags(world: World) -> dict[str, dict[str, Any]]:
    response = world.client.get(f"{BASE}/plant-ua/tags", headers=world.as_("acme-viewer"))
    assert response.status_code == 200, response.text
    return {t["name"]: t for t in response.json()["items"]}


def _status(world: World) -> dict[str, Any]:
    return world.client.get(f"{BASE}/plant-ua/status", headers=world.as_("acme-viewer")).json()


def _audit(world: World, action: str) -> list[dict[str, Any]]:
    return world.client.get(
        f"/api/v1/tenants/acme/audit?action={action}", headers=world.as_("acme-auditor")
    ).json()["items"]


def test_unknown_node_id_marks_only_that_tag_bad_without_reconnecting(
    world: World, plant: SimThread
) -> None:
    _create(world, plant, tags=[*OPCUA_TAGS, GHOST])

    def settled() -> dict[str, dict[str, Any]] | None:
        tags = _tags(world)
        others = [t for name, t in tags.items() if name != "ghost"]
        if all(t["quality"] == "good" for t in others) and tags["ghost"]["error"]:
            return tags
        return None

    tags = wait_for(settled)
    assert tags["ghost"]["quality"] == "bad"
    assert tags["ghost"]["error"] == "BadNodeIdUnknown"
    assert all(t["error"] is None for name, t in tags.items() if name != "ghost")
    status = _status(world)
    assert status["connected"] and "BadNodeIdUnknown" in status["last_error"]

    # Values keep flowing on the one session for a while: no reconnect loop.
    seen = status["last_seen"]
    plant.set(setpoint=6.0)
    wait_for(lambda: abs(_tags(world)["pressure"]["value"] - 6.0) < 0.1)
    wait_for(lambda: _status(world)["last_seen"] > seen)
    operator = world.as_("acme-operator")
    write = world.client.post(
        f"{BASE}/plant-ua/tags/setpoint/write", json={"value": 6.5}, headers=operator
    )
    assert write.status_code == 200, write.text
    refused = world.client.post(
        f"{BASE}/plant-ua/tags/ghost/write", json={"value": 1.0}, headers=operator
    )
    # (asyncua checks access before existence: BadUserAccessDenied; others BadNodeIdUnknown)
    assert refused.status_code == 502 and "Plant.NoSuchNode" in refused.json()["detail"]
    status = _status(world)
    assert status["connected"] and status["reconnect_count"] == 0
    assert plant.sim.opcua_sessions == 1
    assert _tags(world)["ghost"]["error"] == "BadNodeIdUnknown"


def test_bad_status_pushed_by_the_server_shows_as_the_tags_error(
    world: World, plant: SimThread
) -> None:
    _create(world, plant)
    wait_for(lambda: all(t["quality"] == "good" for t in _tags(world).values()))

    async def level(status: int) -> None:
        sim = plant.sim
        if sim._task is not None:  # hold the model still: only this test writes now
            sim._task.cancel()
        value = ua.DataValue(ua.Variant(42.0, ua.VariantType.Double), ua.StatusCode(status))
        await sim._nodes["Level"].write_value(value)

    plant.call(level(ua.StatusCodes.BadOutOfService))
    tags = wait_for(lambda: (t := _tags(world)) and t["level"]["error"] and t)
    assert tags["level"]["quality"] == "bad" and tags["level"]["error"] == "BadOutOfService"
    assert tags["pressure"]["error"] is None and tags["pressure"]["quality"] == "good"
    plant.call(level(ua.StatusCodes.Good))
    tags = wait_for(lambda: (t := _tags(world)) and t["level"]["quality"] == "good" and t)
    assert tags["level"]["error"] is None and tags["level"]["value"] == 42.0


def test_timed_out_write_is_recorded_as_unknown_and_may_still_apply(
    world: World, plant: SimThread
) -> None:
    _create(world, plant, timeout_ms=300)
    wait_for(lambda: all(t["quality"] == "good" for t in _tags(world).values()))
    plant.sim.opcua_write_delay = 1.0  # the PLC answers long after the hub's timeout
    late = world.client.post(
        f"{BASE}/plant-ua/tags/setpoint/write",
        json={"value": 7.5},
        headers=world.as_("acme-operator"),
    )
    assert late.status_code == 504, late.text
    assert late.headers["content-type"].startswith("application/problem+json")
    assert "may still be applied" in late.json()["detail"]
    wait_for(lambda: plant.sim.model.setpoint == 7.5)  # and so it was, after the 504
    plant.sim.opcua_write_delay = 0.0

    entries = [e for e in _audit(world, "tag.write") if e["resource_id"].endswith("/setpoint")]
    assert len(entries) == 1, entries  # recorded once, by the service
    assert entries[0]["outcome"] == "unknown"
    assert entries[0]["details"]["reason"] == "timeout"
    assert entries[0]["details"]["new_value"] == 7.5
    unknown = world.client.get(
        "/api/v1/tenants/acme/audit?outcome=unknown", headers=world.as_("acme-auditor")
    ).json()["items"]
    assert [e["seq"] for e in unknown] == [entries[0]["seq"]]


def test_opcua_outage_logs_one_line_per_attempt_without_tracebacks(
    world: World, plant: SimThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _create(world, plant)
    wait_for(lambda: all(t["quality"] == "good" for t in _tags(world).values()))
    caplog.clear()
    plant.call(plant.sim.stop_opcua())

    def attempts() -> list[logging.LogRecord]:
        return [
            r for r in caplog.records if r.name == "hub.plc" and "reconnecting in" in r.getMessage()
        ]

    wait_for(lambda: len(attempts()) >= 6, timeout=20)
    plant.call(plant.sim.start_opcua())
    wait_for(lambda: _status(world)["connected"], timeout=10)

    assert all(r.levelno == logging.WARNING for r in attempts())
    assert any("cannot connect" in r.getMessage() for r in attempts())  # the reason
    loud = [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and (r.exc_info or r.name != "hub.plc")
        and not r.name.startswith("asyncua.server")  # the PLC's own log, not the hub's
        # Modbus devices of another hub in this test process (the console tests' server)
        and not r.name.startswith("pymodbus")
        # asyncua says once per new session that the server shortened its timeout
        and "session timeout" not in r.getMessage()
    ]
    assert loud == []
    # The filter holds back only what a lost connection causes, and keeps it for DEBUG.
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="asyncua")
    logging.getLogger("asyncua.client.ua_session.UaSession").error(
        "Publish iteration crashed; retrying in 1s", exc_info=ConnectionError("transport lost")
    )
    logging.getLogger("asyncua.client.ua_session.UaSession").error("a real problem")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "Publish iteration crashed; retrying in 1s"),
        ("ERROR", "a real problem"),
    ]
