"""Anchoring and receipts through the API, on the embedded eth-tester chain."""

from __future__ import annotations

import copy
from typing import Any

from litestar.testing import TestClient

from audit.receipt import verify_receipt, verify_receipt_offline
from hub.bootstrap import Hub
from tests.conftest import World

ANCHORS = "/api/v1/tenants/acme/audit/anchors"


def _rpc(client: TestClient[Any]) -> Any:
    """JSON-RPC of the embedded chain, through the hub's read-only proxy."""

    def call(method: str, params: list[Any]) -> Any:
        answer = client.post(
            "/api/v1/chain/rpc", json={"id": 1, "method": method, "params": params}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]

    return call


def _anchor(world: World, who: str = "acme-auditor") -> dict[str, Any]:
    response = world.client.post(ANCHORS, headers=world.as_(who))
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_anchor_on_demand_is_confirmed_listed_and_audited(world: World) -> None:
    anchor = _anchor(world)
    assert anchor["status"] == "confirmed", anchor
    assert anchor["tx_hash"].startswith("0x") and anchor["block_number"] >= 1
    assert anchor["log_index"] == 0 and anchor["chain_id"] == 131277322940537
    head = world.client.get("/api/v1/tenants/acme/audit/head", headers=world.as_("acme-auditor"))
    assert anchor["tree_size"] <= head.json()["tree_size"]
    listed = world.client.get(ANCHORS, headers=world.as_("acme-auditor")).json()
    assert [a["id"] for a in listed["items"]] == [anchor["id"]]
    for field in ("status", "tree_size", "root_hash", "tx_hash", "block_number"):
        assert listed["items"][0][field] == anchor[field]
    actions = world.client.get(
        "/api/v1/tenants/acme/audit?resource_type=audit_anchor", headers=world.as_("acme-auditor")
    ).json()["items"]
    assert [e["action"] for e in actions] == [
        "audit.anchor.create",
        "audit.anchor.submit",
        "audit.anchor.confirm",
    ]
    assert actions[0]["actor"] == "acme-auditor"
    assert actions[2]["details"]["tx_hash"] == anchor["tx_hash"]


def test_no_growth_no_new_anchor_but_growth_anchors_again(world: World) -> None:
    first = _anchor(world)
    again = world.client.post(ANCHORS, headers=world.as_("acme-tenant_admin"))
    assert again.status_code == 200 and again.json()["id"] == first["id"]  # only anchor entries
    world.client.post(
        "/api/v1/tenants/acme/users",
        headers=world.as_("acme-tenant_admin"),
        json={"username": "newcomer", "password": "a-long-test-password", "role": "viewer"},
    )
    second = world.client.post(ANCHORS, headers=world.as_("acme-tenant_admin"))
    assert second.status_code == 201, second.text
    assert second.json()["tree_size"] > first["tree_size"]
    assert second.json()["block_number"] > first["block_number"]
    page = world.client.get(f"{ANCHORS}?limit=1", headers=world.as_("acme-auditor")).json()
    assert page["items"][0]["id"] == second.json()["id"] and page["next_cursor"]
    rest = world.client.get(
        f"{ANCHORS}?limit=1&cursor={page['next_cursor']}", headers=world.as_("acme-auditor")
    ).json()
    assert [a["id"] for a in rest["items"]] == [first["id"]] and rest["next_cursor"] is None
    confirmed = world.client.get(f"{ANCHORS}?status=confirmed", headers=world.as_("acme-auditor"))
    assert len(confirmed.json()["items"]) == 2


def test_receipt_is_409_until_anchored_then_verifies(world: World) -> None:
    headers = world.as_("acme-auditor")
    early = world.client.get("/api/v1/tenants/acme/audit/1/receipt", headers=headers)
    assert early.status_code == 409, early.text
    assert early.headers["content-type"].startswith("application/problem+json")
    anchor = _anchor(world)
    receipt = world.client.get("/api/v1/tenants/acme/audit/1/receipt", headers=headers).json()
    assert set(receipt) >= {"entry", "proof", "head", "anchor", "tenant", "public_key"}
    assert set(receipt["proof"]) == {"leaf_index", "tree_size", "audit_path", "root_hash"}
    assert receipt["proof"]["tree_size"] == anchor["tree_size"]
    assert receipt["anchor"] == {
        k: anchor[k] for k in ("chain_id", "contract", "tx_hash", "block_number", "log_index")
    }
    key_id = world.client.get("/api/v1/audit/public-key").json()["key_id"]
    report = verify_receipt(receipt, _rpc(world.client), expected_key_id=key_id)
    assert report.ok, report.problems
    assert report.block_timestamp


def test_receipt_of_entry_after_the_anchor_waits_for_the_next(world: World) -> None:
    anchor = _anchor(world)
    after = anchor["tree_size"] + 1  # the anchor's own create entry
    response = world.client.get(
        f"/api/v1/tenants/acme/audit/{after}/receipt", headers=world.as_("acme-auditor")
    )
    assert response.status_code == 409
    missing = world.client.get(
        "/api/v1/tenants/acme/audit/99999/receipt", headers=world.as_("acme-auditor")
    )
    assert missing.status_code == 404


def test_tampered_receipts_fail_each_check(world: World) -> None:
    _anchor(world)
    receipt = world.client.get(
        "/api/v1/tenants/acme/audit/2/receipt", headers=world.as_("acme-auditor")
    ).json()
    rpc = _rpc(world.client)
    key_id = receipt["public_key"]["key_id"]
    cases = {
        "leaf": lambda r: r["entry"].update(actor="mallory"),
        "proof": lambda r: r["proof"].update(leaf_index=r["proof"]["leaf_index"] + 1),
        "head": lambda r: r["head"].update(root_hash="00" * 32),
        "signature": lambda r: r["head"].update(timestamp="2000-01-01T00:00:00.000000Z"),
        "event": lambda r: r["anchor"].update(log_index=5),
        "chain_id": lambda r: r["anchor"].update(chain_id=1),
        "transaction": lambda r: r["anchor"].update(tx_hash="0x" + "ab" * 32),
    }
    for check, tamper in cases.items():
        forged = copy.deepcopy(receipt)
        tamper(forged)
        report = verify_receipt(forged, rpc, expected_key_id=key_id)
        assert not report.ok and report.checks.get(check) is False, (check, report)
    other_key = verify_receipt_offline(receipt, expected_key_id="0" * 16)
    assert other_key.checks["signature"] is False
    wrong_tenant = copy.deepcopy(receipt) | {"tenant": "globex"}
    assert verify_receipt(wrong_tenant, rpc).checks["signature"] is False
    assert not verify_receipt_offline({"entry": 1}).ok


def test_anchor_list_bad_input(world: World) -> None:
    headers = world.as_("acme-auditor")
    bad_status = world.client.get(f"{ANCHORS}?status=lost", headers=headers)
    assert bad_status.status_code == 422 and "status" in bad_status.text
    bad_cursor = world.client.get(f"{ANCHORS}?cursor=!!", headers=headers)
    assert bad_cursor.status_code == 422
    bad_limit = world.client.get(f"{ANCHORS}?limit=0", headers=headers)
    assert bad_limit.status_code == 422


def test_chain_rpc_proxy_serves_only_reads(world: World) -> None:
    answer = world.client.post(
        "/api/v1/chain/rpc", json={"id": 7, "method": "eth_sendRawTransaction", "params": ["0x"]}
    )
    assert answer.status_code == 200 and answer.json()["error"]["code"] == -32601
    chain = world.client.post("/api/v1/chain/rpc", json={"id": 8, "method": "eth_chainId"})
    assert chain.json() == {"jsonrpc": "2.0", "id": 8, "result": hex(131277322940537)}
    unknown = _rpc(world.client)("eth_getTransactionReceipt", ["0x" + "00" * 32])
    assert unknown is None


def test_periodic_anchoring_from_the_worker(world: World, hub: Hub) -> None:
    """The service's cycle anchors every tenant whose log grew, and nothing else."""
    with world.client.portal() as portal:
        portal.call(hub.anchors.tick)
        portal.call(hub.anchors.process_due)
        acme = world.client.get(ANCHORS, headers=world.as_("acme-auditor")).json()["items"]
        globex = world.client.get(
            "/api/v1/tenants/globex/audit/anchors", headers=world.as_("globex-auditor")
        ).json()["items"]
        assert [a["status"] for a in acme] == ["confirmed"]
        assert [a["status"] for a in globex] == ["confirmed"]
        portal.call(hub.anchors.tick)  # only anchor entries since: no new anchors
        again = world.client.get(ANCHORS, headers=world.as_("acme-auditor")).json()["items"]
        assert len(again) == 1
