"""The safety pack end to end on real PLCs (the plant simulator over Modbus TCP and
OPC-UA): pressure crosses HiHi -> alarm -> run -> interlock written on the PLC (read back
with a plain client) -> notifications -> acknowledgement -> override key -> release ->
incident -> audit entries with inclusion proofs -> an anchored receipt that verifies."""

from __future__ import annotations

from typing import Any

import pytest

from audit import merkle
from audit.canonical import entry_leaf
from audit.receipt import verify_receipt
from connectors.outbound.notify import verify
from tests.conftest import World
from tests.e2e.chain.test_anchors_api import _rpc
from tests.support import raw_plc
from tests.support.pack_helpers import OVERRIDE_KEY, add_device, eventually, install, parameters
from tests.support.plc_sim import SimThread
from tests.support.receivers import WEBHOOK_SECRET, SmtpSink, WebhookSink

BASE = "/api/v1/tenants/acme"


def _runs(world: World) -> list[dict[str, Any]]:
    url = f"{BASE}/runs?workflow=safety-monitoring&limit=100"
    return list(world.client.get(url, headers=world.as_("acme-engineer")).json()["items"])


def _steps(world: World, run_id: str) -> list[tuple[str, str | None]]:
    url = f"{BASE}/runs/{run_id}/history"
    items = world.client.get(url, headers=world.as_("acme-engineer")).json()["items"]
    return [(e["type"], e["step"]) for e in items]


def _emergency_run(world: World) -> dict[str, Any] | None:
    for run in _runs(world):
        if ("ActivityCompleted", "activate_safety_systems") in _steps(world, run["id"]):
            return run
    return None


def _open_tasks(world: World) -> list[dict[str, Any]]:
    url = f"{BASE}/tasks?scope=open"
    return list(world.client.get(url, headers=world.as_("acme-operator")).json()["items"])


def _complete(world: World, task: dict[str, Any], key: str) -> Any:
    return world.client.post(
        f"{BASE}/tasks/{task['id']}/complete",
        json={"values": {"override_key": key, "note": "cause removed"}},
        headers=world.as_("acme-operator"),
    )


@pytest.mark.parametrize("protocol", ["modbus", "opcua"])
def test_pressure_past_hihi_trips_the_interlock_and_records_an_incident(
    world: World, plant: SimThread, protocol: str, smtp: SmtpSink, webhook: WebhookSink
) -> None:
    client = world.client
    add_device(world, plant, protocol)
    channels = [
        {"type": "webhook", "url": webhook.url, "secret": WEBHOOK_SECRET},
        {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "sender": "hub@acme.test",
            "recipients": ["control-room@acme.test"],
        },
    ]
    params = parameters(notification_channels=channels, authority_contacts=["fire@city.test"])
    installed = install(world, params)
    assert installed.status_code == 201, installed.text
    assert raw_plc.interlock(plant, protocol) is False

    plant.set(setpoint=12.0)  # the process runs away: pressure climbs past 8 (Hi), 10 (HiHi)
    eventually(lambda: raw_plc.interlock(plant, protocol) is True, timeout=30)
    run = eventually(lambda: _emergency_run(world))
    eventually(lambda: ("WaitStarted", "wait_for_acknowledgment") in _steps(world, run["id"]))
    steps = [s for t, s in _steps(world, run["id"]) if t == "ActivityCompleted"]
    # The interlocks are tripped right after the validation, the emergency declared after.
    assert steps[:4] == [
        "validate_event",
        "activate_safety_systems",
        "emergency_response",
        "notify_authorities",
    ]

    # Authorities were told: by email (the contact) and by a signed webhook.
    mail = eventually(lambda: [m for to, m in smtp.messages if "fire@city.test" in to])
    assert "emergency" in mail[0]["Subject"]
    hook = eventually(lambda: [d for d in webhook.deliveries if b'"emergency"' in d.body])[0]
    assert verify(
        WEBHOOK_SECRET,
        hook.headers["X-Hub-Timestamp"],
        hook.body,
        hook.headers["X-Hub-Signature-256"],
    )
    assert not verify(
        "another-secret-entirely",
        hook.headers["X-Hub-Timestamp"],
        hook.body,
        hook.headers["X-Hub-Signature-256"],
    )

    # The cause is removed; the operator acknowledges; the run that tripped asks for the key.
    plant.set(setpoint=5.0)
    rules = client.get(f"{BASE}/alarm-rules", headers=world.as_("acme-operator")).json()["items"]
    acked = client.post(
        f"{BASE}/alarms/{rules[0]['id']}/ack",
        json={"comment": "on it"},
        headers=world.as_("acme-operator"),
    )
    assert acked.status_code == 200, acked.text
    eventually(lambda: any(t["run_id"] == run["id"] for t in _open_tasks(world)), timeout=30)
    task = next(t for t in _open_tasks(world) if t["run_id"] == run["id"])
    assert _complete(world, task, "not-the-key").status_code == 200
    # a wrong key releases nothing: the run asks again
    again = eventually(lambda: [t for t in _open_tasks(world) if t["run_id"] == run["id"]])
    assert again[0]["id"] != task["id"]
    assert raw_plc.interlock(plant, protocol) is True
    assert "not-the-key" not in str(_steps(world, run["id"]))
    # only that run asks: the Hi alarm's run tripped nothing, so it needs no key
    assert [t["run_id"] for t in _open_tasks(world)] == [run["id"]]
    assert _complete(world, again[0], OVERRIDE_KEY).status_code == 200

    done = eventually(
        lambda: (
            (r := client.get(f"{BASE}/runs/{run['id']}", headers=world.as_("acme-viewer")).json())[
                "status"
            ]
            == "completed"
            and r
        ),
        timeout=30,
    )
    assert raw_plc.interlock(plant, protocol) is False  # released after the key
    history = client.get(f"{BASE}/runs/{run['id']}/history", headers=world.as_("acme-viewer"))
    assert OVERRIDE_KEY not in history.text and "hmac-sha256:" in history.text

    # The incident, its timeline and its receipt link
    incident_id = done["output"]["incident"]["incident_id"]
    detail = client.get(f"{BASE}/incidents/{incident_id}", headers=world.as_("acme-operator"))
    assert detail.status_code == 200, detail.text
    incident = detail.json()
    assert incident["run_id"] == run["id"] and incident["severity"] == "high"
    assert "interlocks activated" in incident["summary"]
    timeline = incident["timeline"]
    assert "activate_safety_systems" in [e["step"] for e in timeline["run"]]
    assert {"activate", "ack"} <= {j["action"] for j in timeline["alarm_journal"]}
    assert timeline["telemetry"]["samples"], "no telemetry around the event"
    review = client.post(
        f"{BASE}/incidents/{incident_id}/review",
        json={"outcome": "confirmed", "comment": "valve replaced"},
        headers=world.as_("acme-engineer"),
    )
    assert review.status_code == 200 and review.json()["status"] == "reviewed"

    # Audit: the interlock writes by this run, each with an inclusion proof
    auditor = world.as_("acme-auditor")
    writes = client.get(f"{BASE}/audit?action=tag.write&limit=100", headers=auditor).json()
    mine = [e for e in writes["items"] if e["actor"] == f"workflow:{run['id']}"]
    assert [(e["details"]["tag"], e["details"]["new_value"]) for e in mine] in (
        [("interlock", True), ("interlock", False)],
        [("interlock", False), ("interlock", True)],
    )
    for entry in mine:
        proof = client.get(f"{BASE}/audit/{entry['seq']}/proof", headers=auditor).json()
        assert merkle.verify_inclusion(
            entry_leaf(entry),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(p) for p in proof["audit_path"]],
            bytes.fromhex(proof["root_hash"]),
        )
    anchored = client.post(f"{BASE}/audit/anchors", headers=auditor)
    assert anchored.json()["status"] == "confirmed", anchored.text
    receipt = client.get(incident["receipt"], headers=world.as_("acme-viewer"))
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["entry"]["action"] == "workflow.run.complete"
    assert verify_receipt(receipt.json(), _rpc(client)).ok
