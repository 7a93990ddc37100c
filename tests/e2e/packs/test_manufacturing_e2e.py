"""The manufacturing pack end to end on the plant simulator (Modbus TCP): installed through
the API (its workflow generated from the parameters), a batch started by an event runs a
robotic stage (setpoints written to the PLC and read back), a manual stage, the quality
check after it fails once, the operator chooses rework, the check passes, the final check
and packaging follow; every decision is in the audit log. Also the 422s naming each bad
parameter, and a generator whose result the definition checks refuse."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pymodbus.client import ModbusTcpClient

from hub.api.app import create_app
from hub.bootstrap import build
from hub.services.packs.catalog import DEFAULT_ROOT
from tests.conftest import FAST_HASHER, World
from tests.support.pack_helpers import add_device, eventually
from tests.support.plc_sim import SimThread

BASE = "/api/v1/tenants/acme"
PACK = "manufacturing"
BATCH = {"batch_id": "B-1001", "product": "widget", "quantity": 100}


def _parameters(device: str = "boiler-1") -> dict[str, Any]:
    pressure = {"device": device, "tag": "pressure", "min": 4.0, "max": 6.0, "samples": 3}
    return {
        "line_id": "line-1",
        "stages": [
            {
                "name": "Mixing",
                "kind": "robotic",
                "device": device,
                "setpoints": {"setpoint": 5.0, "pump_speed": 60},
                "done_tag": "interlock",  # the robot's "done" signal: reads false when idle
                "done_value": False,
                "timeout_s": 10,
            },
            {"name": "Assembly", "kind": "manual"},
        ],
        "quality_checks": [{"stage": 1, **pressure}, {"stage": 2, **pressure}],
        "final_checks": [{"device": device, "tag": "temperature", "min": 30, "max": 50}],
        "materials": [{"device": device, "tag": "level", "min": 10}],
        "operator_groups": ["operators"],
        "alert_thresholds": {"failed_checks": 1, "near_limit_pct": 0},
    }


def _install(world: World, params: dict[str, Any], client: TestClient[Any] | None = None) -> Any:
    return (client or world.client).post(
        f"{BASE}/packs/{PACK}/install",
        json={"parameters": params},
        headers=world.as_("acme-tenant_admin"),
    )


def _fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def _pressure(world: World) -> float | None:
    url = f"{BASE}/devices/boiler-1/tags"
    items = world.client.get(url, headers=world.as_("acme-viewer")).json()["items"]
    value = next(v for v in items if v["name"] == "pressure")
    return float(value["value"]) if value["quality"] == "good" else None


def _task(world: World, run_id: str, step: str) -> dict[str, Any] | None:
    url = f"{BASE}/tasks?scope=open"
    items = world.client.get(url, headers=world.as_("acme-operator")).json()["items"]
    return next((t for t in items if t["run_id"] == run_id and t["step"] == step), None)


def _complete(world: World, task: dict[str, Any], values: dict[str, Any]) -> None:
    done = world.client.post(
        f"{BASE}/tasks/{task['id']}/complete",
        json={"values": values},
        headers=world.as_("acme-operator"),
    )
    assert done.status_code == 200, done.text


def _steps(world: World, run_id: str) -> list[tuple[str, str | None]]:
    url = f"{BASE}/runs/{run_id}/history"
    items = world.client.get(url, headers=world.as_("acme-engineer")).json()["items"]
    return [(e["type"], e["step"]) for e in items]


def _audit(world: World, action: str) -> list[dict[str, Any]]:
    url = f"{BASE}/audit?action={action}&limit=100"
    return list(world.client.get(url, headers=world.as_("acme-auditor")).json()["items"])


def _pump_speed(plant: SimThread) -> int:
    client = ModbusTcpClient("127.0.0.1", port=plant.sim.modbus_port)
    client.connect()
    try:
        return int(client.read_holding_registers(2, count=1, device_id=1).registers[0])
    finally:
        client.close()


def test_a_batch_fails_a_check_once_is_reworked_then_packaged(
    world: World, plant: SimThread
) -> None:
    client = world.client
    add_device(world, plant, "modbus")
    installed = _install(world, _parameters())
    assert installed.status_code == 201, installed.text
    assert installed.json()["resources"]["workflows"] == {"manufacturing": "1.0.0"}
    eventually(lambda: _pressure(world) is not None)

    # A batch is released on the line's topic; released twice, it runs once (the key).
    for _ in range(2):
        sent = client.post(
            f"{BASE}/events",
            json={"topic": "manufacturing/line-1/batches/start", "payload": BATCH},
            headers=world.as_("acme-operator"),
        )
        assert sent.status_code in (200, 201, 202), sent.text
    url = f"{BASE}/runs?workflow=manufacturing"
    runs = eventually(lambda: client.get(url, headers=world.as_("acme-viewer")).json()["items"])
    run_id = runs[0]["id"]

    # The robotic stage wrote its setpoints to the PLC (read back by the hub; here by a
    # plain Modbus client), its check passed, and the manual stage waits for an operator.
    stage_2 = eventually(lambda: _task(world, run_id, "production_stage_2"), timeout=30)
    assert _pump_speed(plant) == 60
    assert [s for t, s in _steps(world, run_id) if t == "ActivityCompleted"] == [
        "material_preparation",
        "production_stage_1",
        "quality_check_1",
    ]

    # The process drifts during assembly: the check after stage 2 fails, the batch is held.
    plant.set(setpoint=9.0)
    eventually(lambda: (p := _pressure(world)) is not None and p > 6.5)
    _complete(world, stage_2, {"produced": 100, "notes": "assembled"})
    hold = eventually(lambda: _task(world, run_id, "quality_hold_2"), timeout=30)
    assert [o["options"] for o in hold["form"] if o["id"] == "decision"] == [
        ["release", "rework", "scrap"]
    ]
    failed = _audit(world, "manufacturing.quality_check")
    assert [e["details"]["passed"] for e in failed if e["details"]["stage"] == 2] == [False]
    assert _audit(world, "manufacturing.alert")[0]["details"]["kind"] == "failed_checks"

    # The cause is fixed; the operator sends the batch back to stage 2.
    plant.set(setpoint=5.0)
    eventually(lambda: (p := _pressure(world)) is not None and 4.5 < p < 5.5)
    _complete(world, hold, {"decision": "rework", "note": "pressure drifted, redo assembly"})
    again = eventually(lambda: _task(world, run_id, "production_stage_2"), timeout=30)
    assert again["id"] != stage_2["id"]
    _complete(world, again, {"produced": 100})

    done = eventually(
        lambda: (
            (r := client.get(f"{BASE}/runs/{run_id}", headers=world.as_("acme-viewer")).json())[
                "status"
            ]
            in ("completed", "failed")
            and r
        ),
        timeout=30,
    )
    assert done["status"] == "completed", done
    assert done["output"]["status"] == "packaged" and done["output"]["batch_id"] == "B-1001"
    report = done["output"]["report"]
    assert report["failed_checks"] == 1 and report["reworks"] == 1
    assert [d["decision"] for d in report["decisions"]] == ["rework"]
    completed = [
        s for t, s in _steps(world, run_id) if t in ("ActivityCompleted", "UserTaskCompleted")
    ]
    assert completed == [
        "material_preparation",
        "production_stage_1",
        "quality_check_1",
        "production_stage_2",
        "quality_check_2",
        "quality_hold_2",
        "quality_decision_2",
        "production_stage_2",
        "quality_check_2",
        "final_quality_check",
        "packaging",
    ]

    # The audit trail: who decided what and why, the checks, the PLC writes of this run.
    (decision,) = _audit(world, "manufacturing.quality_decision")
    assert decision["details"]["decision"] == "rework" and decision["details"]["route"] == "rework"
    assert decision["details"]["by"] == "acme-operator"
    assert decision["details"]["note"] == "pressure drifted, redo assembly"
    checks = _audit(world, "manufacturing.quality_check")
    stages = sorted(((e["details"]["stage"], e["details"]["passed"]) for e in checks), key=str)
    assert stages == sorted([(1, True), (2, False), (2, True), ("final", True)], key=str)
    writes = [e for e in _audit(world, "tag.write") if e["actor"] == f"workflow:{run_id}"]
    assert [(e["details"]["tag"], e["details"]["new_value"]) for e in writes] == [
        ("pump_speed", 60)
    ]
    packaged = _audit(world, "manufacturing.batch_packaged")
    assert packaged[0]["resource_id"] == run_id and packaged[0]["details"]["reworks"] == 1


def test_bad_parameters_are_422_naming_each(world: World, plant: SimThread) -> None:
    add_device(world, plant, "modbus")
    params = _parameters()
    params["stages"][0]["setpoints"]["pressure"] = 1.0  # a measurement, not writable
    params["stages"][0]["setpoints"]["nope"] = 1.0
    params["quality_checks"][0]["device"] = "nope"
    params["line_id"] = "line/1"
    fields = _fields(_install(world, params))
    assert set(fields) == {"parameters.line_id"}, fields  # the schema first
    params["line_id"] = "line-1"
    fields = _fields(_install(world, params))
    assert fields == {
        "parameters.stages[0].setpoints.pressure": "tag 'pressure' is not writable",
        "parameters.stages[0].setpoints.nope": "not a tag of device 'boiler-1'",
        "parameters.quality_checks[0].device": "no device 'nope'",
    }, fields
    # What only the generator can tell: named on each parameter too.
    params = _parameters()
    params["quality_checks"][1]["stage"] = 3
    params["final_checks"][0]["max"] = 10
    params["stages"][1]["device"] = "boiler-1"
    fields = _fields(_install(world, params))
    assert set(fields) == {
        "parameters.quality_checks[1].stage",
        "parameters.final_checks[0].max",
        "parameters.stages[1].device",
    }, fields
    listed = world.client.get(f"{BASE}/packs/{PACK}", headers=world.as_("acme-viewer")).json()
    assert listed["status"] == "available"  # nothing was installed
    assert _install(world, _parameters()).status_code == 201


def test_a_generated_definition_the_checks_refuse_is_a_422_on_its_parameter(
    world: World,
    plant: SimThread,
    tmp_path: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A generator whose result the engine refuses (here: a stage made into a step that
    calls an activity the hub does not have) answers 422 naming that stage, not 500."""
    add_device(world, plant, "modbus")
    root = tmp_path / "packs"
    shutil.copytree(DEFAULT_ROOT / "manufacturing", root / "manufacturing")
    (tmp_path / "broken_flow.py").write_text(
        "from industry_packs.manufacturing.flow import build as real\n\n\n"
        "def build(params):\n"
        "    body = real(params)\n"
        "    body['steps']['production_stage_1']['activity'] = 'no.such.activity'\n"
        "    return body\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    manifest = root / "manufacturing" / "pack.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "module: industry_packs.manufacturing.flow", "module: broken_flow"
        )
    )
    hub = build(dataclasses.replace(settings, packs_dir=root), hasher=FAST_HASHER)
    with TestClient(create_app(hub), raise_server_exceptions=False) as client:
        fields = _fields(_install(world, _parameters(), client))
    assert list(fields) == ["parameters.stages[0]"], fields
    assert "steps.production_stage_1.activity" in fields["parameters.stages[0]"]


def test_an_upgrade_generates_the_workflow_again_from_the_new_parameters(
    world: World, plant: SimThread, tmp_path: Path, settings: Any
) -> None:
    add_device(world, plant, "modbus")
    assert _install(world, _parameters()).status_code == 201
    root = tmp_path / "packs"
    shutil.copytree(DEFAULT_ROOT / "manufacturing", root / "manufacturing")
    manifest = root / "manufacturing" / "pack.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    stages = [
        *_parameters()["stages"],
        {"name": "Curing", "kind": "machine", "device": "boiler-1",
         "setpoints": {"pump_speed": 40}, "duration_s": 1},
    ]  # fmt: skip
    admin = world.as_("acme-tenant_admin")
    hub = build(dataclasses.replace(settings, packs_dir=root), hasher=FAST_HASHER)
    with TestClient(create_app(hub), raise_server_exceptions=False) as client:
        bad = client.post(
            f"{BASE}/packs/{PACK}/upgrade",
            json={"parameters": {"stages": [*stages, {"name": "Curing", "kind": "manual"}]}},
            headers=admin,
        )
        assert _fields(bad) == {"parameters.stages[3].name": "stage 3 has that name too"}
        up = client.post(
            f"{BASE}/packs/{PACK}/upgrade", json={"parameters": {"stages": stages}}, headers=admin
        )
        assert up.status_code == 200, up.text
        assert up.json()["resources"]["workflows"] == {"manufacturing": "1.1.0"}
        body = client.get(f"{BASE}/workflows/manufacturing/1.1.0", headers=admin).json()
    steps = body["steps"]
    assert "production_stage_3_running" in steps and "quality_check_3" not in steps
    assert steps["production_stage_2"]["next"] == "quality_check_2"
