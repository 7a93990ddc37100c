"""Two organisations on one hub (two tenants): partnership by signed invitations, then a
collaboration with an approval (a user task in the other tenant), a data exchange
(JWE to the target's key) and a notification, with the rules on who may do what."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audit.collaboration import verify_collaboration_receipt
from hub.settings import Settings
from tests.conftest import World
from tests.support.cli import run_hub
from tests.support.waiting import eventually

ACME, GLOBEX = "/api/v1/tenants/acme", "/api/v1/tenants/globex"


def _org(world: World, tenant: str) -> dict[str, Any]:
    answer = world.client.get(
        f"/api/v1/tenants/{tenant}/organisation", headers=world.as_(f"{tenant}-viewer")
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def partner_body(org: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "domain", "endpoint_url", "public_key", "encryption_key", "capabilities")
    return {k: org[k] for k in keep}


def _partners(world: World, tenant: str) -> list[dict[str, Any]]:
    answer = world.client.get(
        f"/api/v1/tenants/{tenant}/partners", headers=world.as_(f"{tenant}-tenant_admin")
    )
    return list(answer.json()["items"])


def befriend(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """acme invites globex; globex accepts; both see the other active."""
    acme, globex = _org(world, "acme"), _org(world, "globex")
    registered = world.client.post(
        f"{ACME}/partners", json=partner_body(globex), headers=world.as_("acme-tenant_admin")
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["status"] == "pending"
    invited = eventually(
        lambda: [p for p in _partners(world, "globex") if p["status"] == "invited"]
    )
    assert invited[0]["org_id"] == acme["org_id"]
    accepted = world.client.post(
        f"{GLOBEX}/partners/{invited[0]['id']}/accept", headers=world.as_("globex-tenant_admin")
    )
    assert accepted.status_code == 200, accepted.text
    eventually(lambda: _partners(world, "acme")[0]["status"] == "active")
    return acme, globex


def _collab(world: World, tenant: str, collab_id: str, who: str = "viewer") -> Any:
    return world.client.get(
        f"/api/v1/tenants/{tenant}/collaborations/{collab_id}", headers=world.as_(f"{tenant}-{who}")
    )


def test_an_approval_a_data_exchange_and_a_notification_between_two_tenants(
    world: World,
) -> None:
    acme, globex = befriend(world)
    body = {
        "name": "Supplier qualification",
        "participants": [
            {"organisation": "self", "role": "initiator", "can_terminate": True},
            {"organisation": globex["org_id"]},
        ],
        "tasks": [
            {"id": "approve", "type": "approval", "assigned_to": globex["org_id"]},
            {
                "id": "specs",
                "type": "data_exchange",
                "assigned_to": globex["org_id"],
                "target_orgs": [acme["org_id"]],
                "data_schema": {
                    "type": "object",
                    "properties": {"grade": {"type": "string"}, "cost": {"type": "number"}},
                    "required": ["grade"],
                },
                "share_fields": ["grade"],
            },
            {
                "id": "heads-up",
                "type": "notification",
                "assigned_to": "self",
                "target_orgs": [globex["org_id"]],
                "message": "Qualification done",
                "requires_acknowledgment": True,
            },
        ],
    }
    created = world.client.post(
        f"{ACME}/collaborations", json=body, headers=world.as_("acme-operator")
    )
    assert created.status_code == 201, created.text
    collab_id = created.json()["id"]
    eventually(lambda: _collab(world, "acme", collab_id).json()["status"] == "ready")
    # globex is a participant, but only the initiator starts
    refused = world.client.post(
        f"{GLOBEX}/collaborations/{collab_id}/start", headers=world.as_("globex-operator")
    )
    assert refused.status_code == 403
    started = world.client.post(
        f"{ACME}/collaborations/{collab_id}/start", headers=world.as_("acme-operator")
    )
    assert started.status_code == 200, started.text

    # The approval is a user task in globex's tenant.
    def approval_task() -> list[dict[str, Any]]:
        tasks = world.client.get(
            f"{GLOBEX}/tasks?scope=open", headers=world.as_("globex-operator")
        ).json()["items"]
        return [t for t in tasks if "Supplier qualification" in t["title"]]

    task = eventually(approval_task, timeout=20)[0]
    # acme may not answer globex's task
    wrong = world.client.post(
        f"{ACME}/collaborations/{collab_id}/tasks/approve/result",
        json={"result": {"approval_decision": "approved"}},
        headers=world.as_("acme-operator"),
    )
    assert wrong.status_code == 403
    done = world.client.post(
        f"{GLOBEX}/tasks/{task['id']}/complete",
        json={"values": {"approval_decision": "approved", "comments": "fine"}},
        headers=world.as_("globex-operator"),
    )
    assert done.status_code == 200, done.text

    def task_status(task_id: str) -> str:
        doc = _collab(world, "acme", collab_id).json()
        return str(next(t for t in doc["tasks"] if t["id"] == task_id)["status"])

    eventually(lambda: task_status("approve") == "completed", timeout=20)

    # The data exchange: checked against its schema, only `grade` leaves globex.
    url = f"{GLOBEX}/collaborations/{collab_id}/tasks/specs/result"
    bad = world.client.post(url, json={"result": {"cost": 3}}, headers=world.as_("globex-operator"))
    assert bad.status_code == 422, bad.text
    sent = world.client.post(
        url, json={"result": {"grade": "A", "cost": 3.5}}, headers=world.as_("globex-operator")
    )
    assert sent.status_code == 200, sent.text
    eventually(lambda: task_status("specs") == "completed", timeout=20)
    received = world.client.get(
        f"{ACME}/collaborations/{collab_id}/data", headers=world.as_("acme-viewer")
    ).json()["items"]
    assert received[0]["encrypted"] is True and received[0]["data"] == {"grade": "A"}

    # The notification waits for globex's acknowledgement.
    ack = world.client.post(
        f"{GLOBEX}/collaborations/{collab_id}/tasks/heads-up/result",
        json={},
        headers=world.as_("globex-operator"),
    )
    assert ack.status_code == 200, ack.text
    eventually(lambda: _collab(world, "acme", collab_id).json()["status"] == "completed")
    eventually(lambda: _collab(world, "globex", collab_id).json()["status"] == "completed")
    # Evidence in both logs: what acme sent, globex received, and the other way round.
    for tenant in ("acme", "globex"):
        entries = world.client.get(
            f"/api/v1/tenants/{tenant}/audit?action=federation.message.receive&limit=100",
            headers=world.as_(f"{tenant}-auditor"),
        ).json()["items"]
        assert entries, tenant


def test_a_collaboration_receipt_is_verified_offline_and_a_tampered_one_is_not(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    _, globex = befriend(world)
    body = {
        "name": "Receipt check",
        "participants": [
            {"organisation": "self", "role": "initiator"},
            {"organisation": globex["org_id"]},
        ],
        "tasks": [{"id": "work", "type": "activity", "assigned_to": globex["org_id"]}],
    }
    collab_id = world.client.post(
        f"{ACME}/collaborations", json=body, headers=world.as_("acme-operator")
    ).json()["id"]
    eventually(lambda: _collab(world, "acme", collab_id).json()["status"] == "ready")
    world.client.post(
        f"{ACME}/collaborations/{collab_id}/start", headers=world.as_("acme-operator")
    )
    eventually(lambda: _collab(world, "globex", collab_id).json()["status"] == "in_progress")
    done = world.client.post(
        f"{GLOBEX}/collaborations/{collab_id}/tasks/work/result",
        json={"result": {"lot": 42}},
        headers=world.as_("globex-operator"),
    )
    assert done.status_code == 200, done.text
    eventually(lambda: _collab(world, "globex", collab_id).json()["status"] == "completed")

    def receipt() -> Any:
        answer = world.client.get(
            f"{ACME}/collaborations/{collab_id}/receipt", headers=world.as_("acme-auditor")
        )
        assert answer.status_code in (200, 409), answer.text
        return answer.json() if answer.status_code == 200 else None

    bundle = eventually(receipt, timeout=30)
    assert {p["org_id"] for p in bundle["organisations"]} == {
        p["organisation"] for p in bundle["collaboration"]["participants"]
    }
    report = verify_collaboration_receipt(bundle, require_delivered=True)
    assert report.ok, report.problems
    assert report.messages >= 4  # state, join, start, result, completion: both sides agree
    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(bundle))
    checked = run_hub(settings, "audit", "verify-receipt", str(good))
    assert checked.returncode == 0, checked.stderr
    assert "valid" in checked.stdout

    # A receiver's entry edited to claim another body: the proof and the pairing fail.
    part = next(p for p in bundle["organisations"] if p["org_id"] == globex["org_id"])
    received = next(
        r for r in part["receipts"] if r["entry"]["action"] == "federation.message.receive"
    )
    received["entry"]["details"]["digest"] = "0" * 64
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(bundle))
    refused = run_hub(settings, "audit", "verify-receipt", str(bad))
    assert refused.returncode == 1
    assert "INVALID" in refused.stderr and "different bodies" in refused.stderr


def test_a_non_participant_sees_no_collaboration(world: World) -> None:
    befriend(world)
    body = {
        "name": "Internal",
        "participants": [{"organisation": "self", "role": "initiator"}],
        "tasks": [{"id": "t", "type": "activity", "assigned_to": "self"}],
    }
    collab_id = world.client.post(
        f"{ACME}/collaborations", json=body, headers=world.as_("acme-operator")
    ).json()["id"]
    for path in ("", "/receipt", "/data"):
        answer = world.client.get(
            f"{GLOBEX}/collaborations/{collab_id}{path}", headers=world.as_("globex-tenant_admin")
        )
        assert answer.status_code == 404, (path, answer.text)
    submitted = world.client.post(
        f"{GLOBEX}/collaborations/{collab_id}/tasks/t/result",
        json={"result": {}},
        headers=world.as_("globex-operator"),
    )
    assert submitted.status_code == 404


HAND_OVER = """
name: supplier-release
version: 1.0.0
start: ask_supplier
steps:
  ask_supplier:
    type: collaboration_task
    collaboration:
      name: "Release lot ${input.lot}"
      participants:
        - {organisation: self, role: initiator}
        - {organisation: "${input.supplier}"}
      tasks:
        - {id: release, type: approval, assigned_to: "${input.supplier}", title: Release}
    timeout: 1h
    next: done
  done:
    type: end
    output: "${steps.ask_supplier_ended.output.payload.status}"
"""


def test_a_workflow_hands_an_approval_to_a_partner_and_goes_on_when_it_ends(
    world: World,
) -> None:
    _, globex = befriend(world)
    published = world.client.post(
        f"{ACME}/workflows",
        content=HAND_OVER,
        headers={**world.as_("acme-engineer"), "content-type": "application/yaml"},
    )
    assert published.status_code == 201, published.text
    started = world.client.post(
        f"{ACME}/runs",
        json={"workflow": "supplier-release", "input": {"lot": 7, "supplier": globex["org_id"]}},
        headers=world.as_("acme-operator"),
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]

    def approval() -> list[dict[str, Any]]:
        tasks = world.client.get(
            f"{GLOBEX}/tasks?scope=open", headers=world.as_("globex-operator")
        ).json()["items"]
        return [t for t in tasks if t["title"] == "Release lot 7: Release"]

    task = eventually(approval, timeout=20)[0]
    done = world.client.post(
        f"{GLOBEX}/tasks/{task['id']}/complete",
        json={"values": {"approval_decision": "approved"}},
        headers=world.as_("globex-operator"),
    )
    assert done.status_code == 200, done.text

    def finished() -> Any:
        run = world.client.get(f"{ACME}/runs/{run_id}", headers=world.as_("acme-viewer")).json()
        return run if run["status"] == "completed" else None

    assert eventually(finished, timeout=20)["output"] == "completed"
