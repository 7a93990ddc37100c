"""Organisations on two hubs (issue 18): two `hub serve` processes, each with its own data
directory, database and port, federated over loopback with signed CloudEvents.

Hub A carries the plant (the initiator); hub B the supplier, the inspector, an outsider
(a partner of the plant in none of these collaborations) and a regulator (no partner until
the first test makes it one), so one hub also carries several organisations. Both hubs
live for the module; a test that kills one leaves it running again (`_hubs_up`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from audit.collaboration import verify_collaboration_receipt
from hub.security.federation import (
    CLOUDEVENTS_CONTENT_TYPE,
    OrganisationKeys,
    PublicOrganisationKeys,
    encode_event,
    new_event,
    parse_event,
    sign_request,
    verify_request,
)
from hub.services.collaboration.messaging import (
    DIRECT_MESSAGE,
    PARTNER_ACCEPTANCE,
    PARTNER_INVITATION,
)
from tests.support import services
from tests.support.hubs import (
    HubProcess,
    RecordingInbox,
    Tenant,
    befriend,
    init_all,
    partner_body,
    start_all,
)
from tests.support.waiting import eventually

# Quiet, fast-failing hubs: no anchoring cycle in a test this short; a killed hub's leases
# expire quickly.
HUB_ENV = {
    "HUB_ANCHOR_INTERVAL": "3600",
    "HUB_WORKFLOW_LEASE_SECONDS": "3",
    "HUB_ACCESS_TOKEN_TTL": "3600",
    "HUB_AUTHZ_REFRESH_INTERVAL": "0",
}
WAIT_S = 30.0  # a message to a hub that was down waits for its outbox's backoff
RECEIVE, SEND, REFUSE = (
    "federation.message.receive",
    "federation.message.send",
    "federation.message.refuse",
)


@dataclass
class Federation:
    a: HubProcess
    b: HubProcess
    plant: Tenant  # hub A
    supplier: Tenant  # hub B
    inspector: Tenant  # hub B
    outsider: Tenant  # hub B: the plant's partner, in no collaboration here
    regulator: Tenant  # hub B: nobody's partner yet


def _database(stack: ExitStack, name: str) -> str | None:
    """A database of the hub's own: SQLite in its data directory, or on a PostgreSQL run a
    fresh database on that server (two organisations' hubs never share one)."""
    url = os.environ.get("HUB_TEST_DATABASE_URL")
    if not url:
        return None
    return stack.enter_context(services.scratch_postgres(f"hub_{name}", admin_url=url))


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("two-hubs")
    with ExitStack() as stack:
        a = HubProcess("hub-a", root, database_url=_database(stack, "a"), env=HUB_ENV)
        b = HubProcess("hub-b", root, database_url=_database(stack, "b"), env=HUB_ENV)
        stack.callback(a.close)
        stack.callback(b.close)
        init_all([a, b])
        start_all([a, b])
        with ThreadPoolExecutor(2) as pool:  # each hub hashes its own users' passwords
            on_a = pool.submit(a.add_tenant, "plant", "Plant")
            on_b = pool.submit(
                lambda: [
                    b.add_tenant(s) for s in ("supplier", "inspector", "outsider", "regulator")
                ]
            )
            plant, (supplier, inspector, outsider, regulator) = on_a.result(), on_b.result()
        for partner in (supplier, inspector, outsider):
            befriend(plant, partner)
        yield Federation(a, b, plant, supplier, inspector, outsider, regulator)


@pytest.fixture(autouse=True)
def _hubs_up(federation: Federation) -> None:
    """Each test starts with both hubs running (one that failed mid-kill is restarted)."""
    for hub in (federation.a, federation.b):
        if not hub.running:
            hub.start()


# --- helpers ---------------------------------------------------------------------------------


def _copy(tenant: Tenant, collab_id: str, role: str = "operator") -> dict[str, Any] | None:
    answer = tenant.get(f"/collaborations/{collab_id}", role)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _status(tenant: Tenant, collab_id: str) -> str | None:
    found = _copy(tenant, collab_id)
    return None if found is None else str(found["status"])


def _wait_status(tenants: list[Tenant], collab_id: str, status: str) -> None:
    def everywhere() -> bool:
        return all(_status(t, collab_id) == status for t in tenants)

    eventually(everywhere, timeout=WAIT_S)


def _task_status(tenant: Tenant, collab_id: str, task_id: str) -> str:
    copy = _copy(tenant, collab_id)
    assert copy is not None
    return str(next(t for t in copy["tasks"] if t["id"] == task_id)["status"])


def _create(plant: Tenant, body: dict[str, Any]) -> str:
    created = plant.post("/collaborations", body, role="operator")
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "created"  # until every participant's hub joined
    collab_id = str(created.json()["id"])
    eventually(lambda: _status(plant, collab_id) == "ready", timeout=WAIT_S)
    return collab_id


def _open_tasks(tenant: Tenant, title: str, scope: str = "open") -> list[dict[str, Any]]:
    answer = tenant.get("/tasks", "operator", scope=scope)
    assert answer.status_code == 200, answer.text
    return [t for t in answer.json()["items"] if t["title"] == title]


def _approve(tenant: Tenant, title: str, comments: str) -> None:
    """Complete the approval's user task in the tenant's own task list, as an operator."""
    task = eventually(lambda: _open_tasks(tenant, title), timeout=WAIT_S)[0]
    done = tenant.post(
        f"/tasks/{task['id']}/complete",
        {"values": {"approval_decision": "approved", "comments": comments}},
        role="operator",
    )
    assert done.status_code == 200, done.text


def _unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def _signed(
    keys: OrganisationKeys,
    url: str,
    event_type: str,
    data: Any,
    *,
    orgid: str | None = None,
    now: float | None = None,
) -> tuple[str, bytes, dict[str, str]]:
    """(event id, body, headers) of a CloudEvent signed as `keys` (claiming `orgid`)."""
    event = new_event(
        type=event_type,
        source="https://external.test/federation",
        subject=None,
        data=data,
        extensions={"orgid": orgid or keys.public().org_id},
    )
    body = encode_event(event)
    stamp = time.time() if now is None else now
    return (
        str(event["id"]),
        body,
        sign_request(keys, "POST", url, body, CLOUDEVENTS_CONTENT_TYPE, now=stamp),
    )


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=30.0)


def _details(entries: list[dict[str, Any]], **match: str) -> list[dict[str, Any]]:
    return [
        e["details"] for e in entries if all(e["details"].get(k) == v for k, v in match.items())
    ]


# --- 1. partnership --------------------------------------------------------------------------


def test_a_partnership_across_hubs_is_confirmed_by_both_sides(federation: Federation) -> None:
    plant, regulator = federation.plant, federation.regulator
    # Operators read partners; only tenant administrators register and accept them.
    assert plant.post("/partners", partner_body(regulator.org), role="operator").status_code == 403
    registered = plant.post("/partners", partner_body(regulator.org))
    assert registered.status_code == 201, registered.text
    assert registered.json()["status"] == "pending"
    assert registered.json()["org_id"] == regulator.org_id

    # The invitation crosses to hub B, signed with the plant's key, and waits there.
    def invited() -> dict[str, Any] | None:
        found = regulator.partner(plant.org_id)
        return found if found is not None and found["status"] == "invited" else None

    invitation = eventually(invited, timeout=WAIT_S)
    assert invitation["endpoint_url"] == plant.org["endpoint_url"]
    assert invitation["endpoint_url"].startswith(federation.a.base)
    # Pending is not trust: no collaboration with an organisation that has not accepted.
    early = {
        "name": "too early",
        "participants": [
            {"organisation": "self", "role": "initiator"},
            {"organisation": regulator.org_id},
        ],
        "tasks": [{"id": "ok", "type": "approval", "assigned_to": regulator.org_id}],
    }
    refused = plant.post("/collaborations", early, role="operator")
    assert refused.status_code == 422, refused.text
    assert plant.post("/partners", partner_body(regulator.org)).status_code == 409
    accept = f"/partners/{invitation['id']}/accept"
    assert regulator.post(accept, role="operator").status_code == 403
    accepted = regulator.post(accept)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active"
    eventually(lambda: (plant.partner(regulator.org_id) or {}).get("status") == "active")
    assert regulator.post(accept).status_code == 409  # nothing left to accept

    # Each side's log holds the other's signed message.
    got_invitation = _details(
        regulator.audit(RECEIVE), type=PARTNER_INVITATION, **{"from": plant.org_id}
    )
    got_acceptance = _details(
        plant.audit(RECEIVE), type=PARTNER_ACCEPTANCE, **{"from": regulator.org_id}
    )
    assert len(got_invitation) == 1 and len(got_acceptance) == 1
    assert got_invitation[0]["signature"] and got_acceptance[0]["signature_input"]


# --- 2. three organisations on two hubs: approvals, then a data exchange ----------------------


def test_an_approval_chain_and_a_data_exchange_across_hubs(federation: Federation) -> None:
    plant, supplier, inspector = federation.plant, federation.supplier, federation.inspector
    name = _unique("Casting qualification")
    body = {
        "name": name,
        "participants": [
            {"organisation": "self", "role": "initiator", "can_terminate": True},
            {"organisation": supplier.org_id},
            {"organisation": inspector.org_id},
        ],
        "tasks": [
            {"id": "release", "type": "approval", "assigned_to": supplier.org_id,
             "title": "Supplier release"},
            {"id": "inspect", "type": "approval", "assigned_to": inspector.org_id,
             "title": "Inspection"},
            {
                "id": "certificate",
                "type": "data_exchange",
                "assigned_to": supplier.org_id,
                "target_orgs": [plant.org_id],
                "data_schema": {
                    "type": "object",
                    "properties": {
                        "grade": {"type": "string"},
                        "heat": {"type": "string"},
                        "cost": {"type": "number"},
                    },
                    "required": ["grade", "heat"],
                },
                "share_fields": ["grade", "heat"],
            },
        ],
    }  # fmt: skip
    collab_id = _create(plant, body)
    everyone = [plant, supplier, inspector]
    _wait_status(everyone, collab_id, "ready")  # the plant's last state reached them
    assert supplier.post(f"/collaborations/{collab_id}/start", role="operator").status_code == 403
    started = plant.post(f"/collaborations/{collab_id}/start", role="operator")
    assert started.status_code == 200, started.text

    # Each approval is a user task in its own organisation's tenant, on hub B, in order.
    assert _open_tasks(inspector, f"{name}: Inspection") == []
    _approve(supplier, f"{name}: Supplier release", "material certified")
    eventually(lambda: _task_status(plant, collab_id, "release") == "completed", timeout=WAIT_S)
    wrong = supplier.post(
        f"/collaborations/{collab_id}/tasks/inspect/result",
        {"result": {"approval_decision": "approved"}},
        role="operator",
    )
    assert wrong.status_code == 403, wrong.text  # the inspector's task, not the supplier's
    _approve(inspector, f"{name}: Inspection", "dimensions within tolerance")
    eventually(lambda: _task_status(plant, collab_id, "inspect") == "completed", timeout=WAIT_S)

    # The data exchange: checked against its schema on the supplier's hub; only the shared
    # fields leave it, encrypted to the plant's key.
    url = f"/collaborations/{collab_id}/tasks/certificate/result"
    eventually(lambda: _task_status(supplier, collab_id, "certificate") == "active")
    assert plant.post(url, {"result": {"grade": "A", "heat": "H1"}}, "operator").status_code == 403
    invalid = supplier.post(url, {"result": {"grade": "A", "cost": 12.5}}, role="operator")
    assert invalid.status_code == 422, invalid.text
    sent = supplier.post(url, {"result": {"grade": "A", "heat": "H-7", "cost": 12.5}}, "operator")
    assert sent.status_code == 200, sent.text
    _wait_status(everyone, collab_id, "completed")

    received = plant.get(f"/collaborations/{collab_id}/data", "operator")
    assert received.status_code == 200, received.text
    items = received.json()["items"]
    assert len(items) == 1
    assert items[0]["encrypted"] is True and items[0]["source_org"] == supplier.org_id
    assert items[0]["data"] == {"grade": "A", "heat": "H-7"}  # never the cost
    for other in (supplier, inspector):  # not targets: nothing for them
        assert other.get(f"/collaborations/{collab_id}/data", "operator").json()["items"] == []
    # Every copy carries the same outcome, results included.
    copies = [_copy(t, collab_id) for t in everyone]
    assert all(c is not None for c in copies)
    assert len({(c["version"], c["status"]) for c in copies if c is not None}) == 1
    results = {t["id"]: t.get("result") for t in copies[0]["tasks"]} if copies[0] else {}
    assert results["release"]["comments"] == "material certified"
    assert "cost" not in str(results["certificate"])

    # The supplier (not the initiator) takes the receipt: its own entries, the plant's
    # from hub A and the inspector's, each with its proof and anchor; checked offline.
    def receipt() -> Any:
        answer = supplier.get(f"/collaborations/{collab_id}/receipt", "operator")
        assert answer.status_code in (200, 409), answer.text
        last.append(answer.text)
        return answer.json() if answer.status_code == 200 else None

    last: list[str] = []

    try:
        bundle = eventually(receipt, timeout=WAIT_S)
    except AssertionError:
        raise AssertionError(last[-1:]) from None
    assert {p["org_id"] for p in bundle["organisations"]} == {t.org_id for t in everyone}
    report = verify_collaboration_receipt(bundle, require_delivered=True)
    assert report.ok, report.problems
    assert report.messages >= 10 and report.in_flight == []


# --- 3. non-participants ---------------------------------------------------------------------


def test_an_organisation_outside_a_collaboration_is_told_it_does_not_exist(
    federation: Federation,
) -> None:
    plant, supplier, outsider = federation.plant, federation.supplier, federation.outsider
    collab_id = _create(
        plant,
        {
            "name": _unique("Tooling review"),
            "participants": [
                {"organisation": "self", "role": "initiator", "can_terminate": True},
                {"organisation": supplier.org_id, "can_terminate": True},
            ],
            "tasks": [{"id": "ok", "type": "approval", "assigned_to": supplier.org_id}],
        },
    )
    assert plant.post(f"/collaborations/{collab_id}/start", role="operator").status_code == 200
    eventually(lambda: _status(supplier, collab_id) == "in_progress", timeout=WAIT_S)
    # The outsider is the plant's partner and on the same hub (and database) as the
    # supplier, whose copy is there: still 404 for everything about it.
    path = f"/collaborations/{collab_id}"
    assert outsider.get(path, "operator").status_code == 404
    assert outsider.get(f"{path}/data", "operator").status_code == 404
    answer = outsider.post(f"{path}/tasks/ok/result", {"result": {"approval_decision": "approved"}})
    assert answer.status_code == 404
    assert outsider.post(f"{path}/terminate", {"reason": "curious"}).status_code == 404
    listed = outsider.get("/collaborations", "operator").json()["items"]
    assert collab_id not in {c["id"] for c in listed}
    assert supplier.get(path, "operator").status_code == 200  # the participant does see it
    assert _status(plant, collab_id) == "in_progress"  # and nothing the outsider did counted


# --- 4. forged and replayed messages ---------------------------------------------------------


def test_forged_and_replayed_messages_are_refused_and_audited(federation: Federation) -> None:
    """An organisation whose keys the test holds becomes the outsider's partner; messages
    it did not sign, or sent twice as captured, are refused and audited."""
    target = federation.outsider
    inbox_url = str(target.org["endpoint_url"])
    keys = OrganisationKeys.generate()
    me = keys.public()
    with RecordingInbox() as ours:
        endpoint = ours.url(f"/federation/v1/organisations/{me.org_id}")
        registered = target.post(
            "/partners",
            {"name": "External Test Org", "domain": "external.test", "endpoint_url": endpoint,
             "public_key": me.public_key, "encryption_key": me.encryption_jwk,
             "capabilities": ["collaboration"]},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        # The invitation reaches "our hub" signed with the outsider's organisation key.
        invitation = eventually(lambda: ours.received, timeout=WAIT_S)[0]
        theirs = PublicOrganisationKeys.from_document(target.org)
        verified = verify_request(
            "POST", endpoint, invitation.headers, invitation.body,
            lambda keyid: theirs if keyid == theirs.org_id else None, now=time.time(),
        )  # fmt: skip
        assert verified.org_id == target.org_id
        event = parse_event(invitation.body)
        assert event["type"] == PARTNER_INVITATION and event["orgid"] == target.org_id

    _, body, headers = _signed(keys, inbox_url, PARTNER_ACCEPTANCE, {"organisation": {}})
    assert _post(inbox_url, body, headers).status_code == 202
    eventually(lambda: (target.partner(me.org_id) or {}).get("status") == "active")

    # A replay: the exact bytes and headers of a message that was accepted.
    replayed, body, headers = _signed(keys, inbox_url, DIRECT_MESSAGE, {"text": "hello"})
    assert _post(inbox_url, body, headers).status_code == 202
    again = _post(inbox_url, body, headers)
    assert again.status_code == 403, again.text
    # A retransmission (the same event, signed anew) is answered and not applied again.
    fresh = sign_request(keys, "POST", inbox_url, body, CLOUDEVENTS_CONTENT_TYPE, now=time.time())
    retransmitted = _post(inbox_url, body, fresh)
    assert retransmitted.status_code == 200 and retransmitted.json()["duplicate"] is True

    impostor = OrganisationKeys.generate()
    forged: dict[str, int] = {}
    # Signed with another key, claiming the partner's organisation id.
    event_id, body, headers = _signed(impostor, inbox_url, DIRECT_MESSAGE, {}, orgid=me.org_id)
    forged[event_id] = _post(inbox_url, body, headers).status_code
    # The same, with the signature's keyid rewritten to the partner's.
    event_id, body, headers = _signed(impostor, inbox_url, DIRECT_MESSAGE, {}, orgid=me.org_id)
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        impostor.public().org_id, me.org_id
    )
    forged[event_id] = _post(inbox_url, body, headers).status_code
    # The partner's own signature over another body.
    event_id, body, headers = _signed(keys, inbox_url, DIRECT_MESSAGE, {"amount": 10})
    tampered = body.replace(b'"amount":10', b'"amount":99')
    assert tampered != body
    forged[event_id] = _post(inbox_url, tampered, headers).status_code
    # The partner's signature, made an hour ago (outside the allowed clock skew).
    event_id, body, headers = _signed(keys, inbox_url, DIRECT_MESSAGE, {}, now=time.time() - 3600)
    forged[event_id] = _post(inbox_url, body, headers).status_code
    assert set(forged.values()) == {401}, forged

    refusals = {d["event_id"]: d for d in _details(target.audit(REFUSE))}
    assert refusals[replayed]["reason"] == "replayed" and refusals[replayed]["status"] == 403
    for event_id in forged:
        assert refusals[event_id]["status"] == 401, refusals.get(event_id)
    received = Counter(d["event_id"] for d in _details(target.audit(RECEIVE)))
    assert received[replayed] == 1
    assert not any(received[event_id] for event_id in forged)


# --- 5. the partner hub killed and restarted mid-collaboration -------------------------------


def test_a_partner_hub_killed_mid_collaboration_loses_nothing_and_takes_nothing_twice(
    federation: Federation,
) -> None:
    plant, supplier, inspector = federation.plant, federation.supplier, federation.inspector
    name = _unique("Heat treatment")
    collab_id = _create(
        plant,
        {
            "name": name,
            "participants": [
                {"organisation": "self", "role": "initiator"},
                {"organisation": supplier.org_id},
                {"organisation": inspector.org_id},
            ],
            "tasks": [
                {"id": "release", "type": "approval", "assigned_to": supplier.org_id},
                {"id": "inspect", "type": "approval", "assigned_to": inspector.org_id},
            ],
        },
    )
    federation.b.kill()
    # The start is the plant's alone; its state for the two organisations on hub B waits
    # in hub A's outbox while B is down.
    started = plant.post(f"/collaborations/{collab_id}/start", role="operator")
    assert started.status_code == 200, started.text
    queued = _details(plant.audit(SEND, resource_id=collab_id))
    assert {supplier.org_id, inspector.org_id} <= {d["to"] for d in queued}
    federation.b.start()

    eventually(lambda: _status(supplier, collab_id) == "in_progress", timeout=WAIT_S)
    _approve(supplier, f"{name}: release", "after the restart")
    _approve(inspector, f"{name}: inspect", "")
    _wait_status([plant, supplier, inspector], collab_id, "completed")
    # One user task per approval, though hub B came back in the middle.
    assert len(_open_tasks(supplier, f"{name}: release", scope="all")) == 1
    assert len(_open_tasks(inspector, f"{name}: inspect", scope="all")) == 1

    # Nothing lost, nothing twice: each message sent (per the sender's log) is received
    # exactly once (per the receiver's), in both directions.
    sent = _details(plant.audit(SEND, resource_id=collab_id))
    for tenant in (supplier, inspector):
        received = Counter(
            d["event_id"] for d in _details(tenant.audit(RECEIVE, resource_id=collab_id))
        )
        expected = {d["event_id"] for d in sent if d["to"] == tenant.org_id}
        assert set(received) == expected, tenant.slug
        assert set(received.values()) == {1}, received
    back = Counter(d["event_id"] for d in _details(plant.audit(RECEIVE, resource_id=collab_id)))
    from_b = {
        d["event_id"]
        for tenant in (supplier, inspector)
        for d in _details(tenant.audit(SEND, resource_id=collab_id))
    }
    assert set(back) == from_b and set(back.values()) == {1}, back


# --- 6. termination --------------------------------------------------------------------------


def test_only_a_participant_that_may_terminates_and_every_copy_says_so(
    federation: Federation,
) -> None:
    plant, supplier, inspector = federation.plant, federation.supplier, federation.inspector
    collab_id = _create(
        plant,
        {
            "name": _unique("Batch recall"),
            "participants": [
                {"organisation": "self", "role": "initiator"},  # the initiator may not
                {"organisation": supplier.org_id},
                {"organisation": inspector.org_id, "can_terminate": True},
            ],
            "tasks": [{"id": "release", "type": "approval", "assigned_to": supplier.org_id}],
        },
    )
    assert plant.post(f"/collaborations/{collab_id}/start", role="operator").status_code == 200
    everyone = [plant, supplier, inspector]
    _wait_status(everyone, collab_id, "in_progress")
    path = f"/collaborations/{collab_id}/terminate"
    assert plant.post(path, {"reason": "changed my mind"}, "operator").status_code == 403
    assert supplier.post(path, {"reason": "not my call"}, "operator").status_code == 403
    assert inspector.post(path, {"reason": "  "}, "operator").status_code == 422
    reason = "Inspection found a cracked casting"
    ended = inspector.post(path, {"reason": reason}, "operator")
    assert ended.status_code == 200, ended.text
    _wait_status(everyone, collab_id, "terminated")
    for tenant in everyone:
        copy = _copy(tenant, collab_id)
        assert copy is not None
        assert copy["reason"] == reason and copy["terminated_by"] == inspector.org_id
    # An ended collaboration takes no more results and no second termination.
    late = supplier.post(
        f"/collaborations/{collab_id}/tasks/release/result",
        {"result": {"approval_decision": "approved"}},
        "operator",
    )
    assert late.status_code == 403, late.text
    assert inspector.post(path, {"reason": "again"}, "operator").status_code == 403
