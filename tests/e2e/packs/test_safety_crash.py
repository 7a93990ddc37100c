"""SIGKILL `hub serve` while a safety run waits for the operator's acknowledgement; the
restarted hub continues the run, and the interlock is written once (counted by the PLC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.e2e.test_workflow_crash import Server, _admin
from tests.e2e.test_workflow_crash import env as env
from tests.e2e.test_workflow_crash import servers as servers
from tests.support.pack_helpers import eventually, parameters
from tests.support.plc_sim import SimThread

PASSWORD = "a-long-test-password"


def _headers(base: str) -> dict[str, str]:
    login = httpx.post(f"{base}/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _steps(base: str, headers: dict[str, str], run_id: str) -> list[tuple[str, str | None]]:
    url = f"{base}/api/v1/tenants/acme/runs/{run_id}/history"
    return [(e["type"], e["step"]) for e in httpx.get(url, headers=headers).json()["items"]]


def _waiting_emergency(base: str, headers: dict[str, str]) -> dict[str, Any] | None:
    url = f"{base}/api/v1/tenants/acme/runs?workflow=safety-monitoring&limit=100"
    for run in httpx.get(url, headers=headers).json()["items"]:
        steps = _steps(base, headers, run["id"])
        if ("ActivityCompleted", "activate_safety_systems") in steps and (
            "WaitStarted", "wait_for_acknowledgment") in steps:  # fmt: skip
            return dict(run)
    return None


def test_sigkill_while_waiting_for_acknowledgement(
    env: dict[str, str],
    servers: list[Server],
    plant: SimThread,
    tmp_path: Path,
) -> None:
    written: list[tuple[str, Any]] = []
    plant.sim.on_write = lambda attr, value: written.append((attr, value))
    _admin(env)
    first = Server(env, tmp_path / "first.log")
    servers.append(first)
    base, headers = first.base, _headers(first.base)
    api = f"{base}/api/v1/tenants/acme"
    httpx.post(f"{base}/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=headers)
    device = {"name": "boiler-1", "protocol": "modbus", "endpoint": plant.sim.modbus_endpoint,
              "poll_interval_ms": 50, "tags": MODBUS_TAGS}  # fmt: skip
    assert httpx.post(f"{api}/devices", json=device, headers=headers).status_code == 201
    installed = httpx.post(
        f"{api}/packs/safety-monitoring/install",
        json={"parameters": parameters(safety_level="medium")},
        headers=headers,
    )
    assert installed.status_code == 201, installed.text

    plant.set(setpoint=12.0)
    run = eventually(lambda: _waiting_emergency(base, headers), timeout=30)
    assert [v for a, v in written if a == "interlock"] == [True]
    first.kill()

    plant.set(setpoint=5.0)  # the cause is removed while the hub is down
    second = Server(env, tmp_path / "second.log")
    servers.append(second)
    base, headers = second.base, _headers(second.base)
    api = f"{base}/api/v1/tenants/acme"
    rules = httpx.get(f"{api}/alarm-rules", headers=headers).json()["items"]
    # the restarted hub is connected to the PLC again (its waits were subscribed at start)
    eventually(
        lambda: httpx.get(f"{api}/devices/boiler-1/status", headers=headers).json()["connected"]
    )
    acked = httpx.post(f"{api}/alarms/{rules[0]['id']}/ack", json={"comment": "after restart"},
                       headers=headers)  # fmt: skip
    assert acked.status_code == 200, acked.text

    def finished() -> dict[str, Any] | None:
        found = httpx.get(f"{api}/runs/{run['id']}", headers=headers).json()
        return found if found["status"] in ("completed", "failed") else None

    done = eventually(finished, timeout=40)
    assert done["status"] == "completed", done
    steps = [s for t, s in _steps(base, headers, run["id"]) if t == "ActivityCompleted"]
    assert steps.count("activate_safety_systems") == 1
    assert "restore_normal" in steps and "record_incident" in steps
    # the PLC saw the interlock set once, then released once: never set twice
    assert [v for a, v in written if a == "interlock"] == [True, False]
    incidents = httpx.get(f"{api}/incidents", headers=headers).json()["items"]
    assert run["id"] in [i["run_id"] for i in incidents]
