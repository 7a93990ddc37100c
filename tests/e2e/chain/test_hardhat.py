"""Anchoring on a real JSON-RPC node (Hardhat 2): deploy, anchor, verify a receipt with the
CLI, the chain going down (anchors stay pending, retried) and coming back with a fresh
state (vanished transactions and contract detected; anchors sent again; nothing lost)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.ledger.ethereum import account_of, connect, deploy_contract
from hub.bootstrap import Hub, build
from hub.settings import Settings
from tests.conftest import FAST_HASHER, World
from tests.e2e.chain.conftest import HARDHAT_CHAIN_ID, HARDHAT_KEY, HardhatNode, rpc
from tests.fakes import SkewedClock

ANCHORS = "/api/v1/tenants/acme/audit/anchors"
RETRY = 0.3  # HUB_ANCHOR_RETRY_MAX for these tests: backoff capped at 0.3 s


def _deploy(url: str) -> str:
    address, _ = deploy_contract(connect(url), account_of(HARDHAT_KEY))
    return address


@pytest.fixture
def contract(hardhat: HardhatNode) -> str:
    return _deploy(hardhat.url)


@pytest.fixture
def clock() -> SkewedClock:
    return SkewedClock()


@pytest.fixture
def hub(
    settings: Settings,
    hardhat: HardhatNode,
    contract: str,
    clock: SkewedClock,
) -> Hub:
    chained = dataclasses.replace(
        settings,
        chain_url=hardhat.url,
        chain_private_key=HARDHAT_KEY,
        anchor_contract=contract,
        anchor_interval=3600.0,  # the tests drive the service; the worker stays idle
        anchor_retry_max=RETRY,
    )
    return build(chained, hasher=FAST_HASHER, clock=clock)  # the hub's clock is ours


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, env=full, timeout=120
    )


def _anchors(world: World) -> list[dict[str, Any]]:
    return world.client.get(ANCHORS, headers=world.as_("acme-auditor")).json()["items"]


def _add_user(world: World, name: str) -> None:
    response = world.client.post(
        "/api/v1/tenants/acme/users",
        headers=world.as_("acme-tenant_admin"),
        json={"username": name, "password": "a-long-test-password", "role": "viewer"},
    )
    assert response.status_code == 201, response.text


def test_chain_deploy_prints_the_address_last(hardhat: HardhatNode, tmp_path: Path) -> None:
    env = {
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_CHAIN_URL": hardhat.url,
        "HUB_CHAIN_PRIVATE_KEY": HARDHAT_KEY,
    }
    done = _cli("chain", "deploy", env=env)
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip().splitlines()[-1]
    assert address.startswith("0x") and len(address) == 42
    assert rpc(hardhat.url, "eth_getCode", [address, "latest"]) not in ("0x", None)
    no_url = _cli("chain", "deploy", env={"HUB_DATA_DIR": str(tmp_path), "HUB_CHAIN_URL": ""})
    assert no_url.returncode == 2 and len(no_url.stderr.strip().splitlines()) == 1


def test_anchor_and_verify_receipt_with_the_cli(
    world: World, hardhat: HardhatNode, contract: str, tmp_path: Path
) -> None:
    anchor = world.client.post(ANCHORS, headers=world.as_("acme-tenant_admin")).json()
    assert anchor["status"] == "confirmed" and anchor["chain_id"] == HARDHAT_CHAIN_ID
    assert anchor["contract"].lower() == contract.lower()
    receipt = world.client.get(
        "/api/v1/tenants/acme/audit/3/receipt", headers=world.as_("acme-auditor")
    ).json()
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    key_id = receipt["public_key"]["key_id"]
    pins = ["--key-id", key_id, "--contract", contract, "--chain-id", str(HARDHAT_CHAIN_ID)]
    env = {"HUB_DATA_DIR": str(tmp_path / "cli")}
    ok = _cli("audit", "verify-receipt", str(path), "--chain-url", hardhat.url, *pins, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout and f"block {anchor['block_number']}" in ok.stdout
    receipt["entry"]["actor"] = "mallory"
    path.write_text(json.dumps(receipt))
    bad = _cli("audit", "verify-receipt", str(path), "--chain-url", hardhat.url, *pins, env=env)
    assert bad.returncode == 1 and "INVALID" in bad.stderr
    deep = _cli(
        "audit", "verify-receipt", str(path), "--chain-url", hardhat.url, "--confirmations", "9"
    )
    assert deep.returncode == 1
    path.write_text("not json")
    unreadable = _cli("audit", "verify-receipt", str(path), "--chain-url", hardhat.url, env=env)
    assert unreadable.returncode == 2 and len(unreadable.stderr.strip().splitlines()) == 1


def test_chain_down_then_restarted_fresh_loses_nothing(
    world: World, hub: Hub, hardhat: HardhatNode, contract: str, clock: SkewedClock
) -> None:
    first = world.client.post(ANCHORS, headers=world.as_("acme-tenant_admin")).json()
    assert first["status"] == "confirmed"
    hardhat.stop()

    # Down: a new anchor stays pending; each try backs off; nothing is dropped.
    _add_user(world, "during-outage")
    pending = world.client.post(ANCHORS, headers=world.as_("acme-tenant_admin"))
    assert pending.status_code == 201, pending.text
    assert pending.json()["status"] == "pending" and pending.json()["attempts"] == 1
    assert "Connection" in pending.json()["last_error"]
    with world.client.portal() as portal:
        for _ in range(2):
            clock.advance(RETRY + 0.05)  # past the back-off
            portal.call(hub.anchors.tick)
        during = {a["id"]: a for a in _anchors(world)}
        assert during[pending.json()["id"]]["status"] == "pending"
        assert during[pending.json()["id"]]["attempts"] >= 3
        assert during[first["id"]]["status"] == "confirmed"  # cannot tell yet: left alone

        # Back, but fresh: the confirmed anchor's transaction and the contract are gone.
        hardhat.start()
        portal.call(hub.anchors.tick)
        after = {a["id"]: a for a in _anchors(world)}
        assert after[first["id"]]["status"] == "pending"
        assert after[first["id"]]["resubmissions"] == 1
        # Sent again at once, to a contract that is not there: pending, and it says why.
        assert "no contract" in after[first["id"]]["last_error"]
        clock.advance(RETRY + 0.05)  # past the back-off
        portal.call(hub.anchors.process_due)
        stuck = {a["id"]: a for a in _anchors(world)}
        assert all(a["status"] == "pending" for a in stuck.values())
        assert "no contract" in stuck[pending.json()["id"]]["last_error"]

        # The operator deploys again; the first transaction of the key lands at the same
        # address, so HUB_ANCHOR_CONTRACT stays right and the anchors go through.
        assert _deploy(hardhat.url).lower() == contract.lower()
        for _ in range(20):  # sent, then confirmed once the node has mined it
            clock.advance(RETRY + 0.05)  # past the back-off
            portal.call(hub.anchors.process_due)
            if all(a["status"] == "confirmed" for a in _anchors(world)):
                break
    final = _anchors(world)
    assert [a["status"] for a in final] == ["confirmed", "confirmed"], final
    assert {a["id"] for a in final} == {first["id"], pending.json()["id"]}
    key_id = world.client.get("/api/v1/audit/public-key").json()["key_id"]
    from audit.receipt import http_rpc, verify_receipt

    for seq in (1, final[0]["tree_size"]):
        receipt = world.client.get(
            f"/api/v1/tenants/acme/audit/{seq}/receipt", headers=world.as_("acme-auditor")
        ).json()
        report = verify_receipt(receipt, http_rpc(hardhat.url), expected_key_id=key_id)
        assert report.ok, (seq, report.problems)
    resubmits = world.client.get(
        "/api/v1/tenants/acme/audit?action=audit.anchor.resubmit", headers=world.as_("acme-auditor")
    ).json()["items"]
    assert [e["details"]["previous_tx_hash"] for e in resubmits] == [first["tx_hash"]]
