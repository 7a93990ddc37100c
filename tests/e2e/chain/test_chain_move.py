"""Moving from the embedded chain to a real node (Hardhat) with a new contract: receipts of
old entries move to the configured chain, by the anchoring service at start-up and by
`hub audit anchor`; the old anchors stay listed, marked as on another chain."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from connectors.ledger.ethereum import account_of, connect, deploy_contract
from hub.api.app import create_app
from hub.bootstrap import Hub, build, ensure_platform_admin
from hub.domain.anchors import AnchorStatus, ChainRef
from hub.domain.audit import PLATFORM_LOG, SYSTEM, AuditFilter
from hub.domain.errors import Conflict
from hub.domain.tenancy import Tenant
from hub.services.audit.log import AuditLogRef
from hub.settings import Settings
from tests.conftest import ADMIN, FAST_HASHER, PASSWORD, bearer, login
from tests.e2e.chain.conftest import HARDHAT_CHAIN_ID, HARDHAT_KEY, HardhatNode
from tests.support.cli import run_hub

WAIT = 60.0  # seconds a condition may take on a loaded machine
EMBEDDED_CHAIN_ID = 131277322940537  # eth-tester's


def _on_hardhat(settings: Settings, node: HardhatNode, contract: str) -> Settings:
    return dataclasses.replace(
        settings,
        chain_url=node.url,
        chain_private_key=HARDHAT_KEY,
        anchor_contract=contract,
        anchor_interval=3600.0,  # no creation cycle during the test: only the start-up move
        anchor_retry_max=0.3,
    )


async def _until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            found = await check()
        except Conflict:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        await asyncio.sleep(0.1)


async def _anchored_on_embedded(settings: Settings, *, in_flight: bool = False) -> Tenant:
    """A tenant whose log is anchored (confirmed) on the embedded chain; `in_flight` adds a
    second anchor sent there and not yet looked up when the hub stops."""
    hub = build(settings, hasher=FAST_HASHER)
    await hub.start()
    try:
        tenant = await hub.tenants.create("acme", "Acme", SYSTEM)
        anchor, _ = await hub.anchors.anchor_now(tenant, SYSTEM)
        assert anchor.status is AnchorStatus.CONFIRMED and anchor.chain_id != HARDHAT_CHAIN_ID
        receipt = await hub.receipts.for_entry(tenant, 1)
        assert receipt["anchor"]["chain_id"] == anchor.chain_id
        if in_flight:
            await hub.tenants.update("acme", "Acme Corp", None, SYSTEM)
            await hub.anchors.tick()  # creates and sends the anchor; the look-up comes later
            anchors, _ = await hub.anchors.page(tenant, None, None, 10)
            assert anchors[0].status is AnchorStatus.SUBMITTED
    finally:
        await hub.close()
    return tenant


def _verify_with_cli(
    settings: Settings, receipt: dict[str, Any], node: HardhatNode, contract: str, tmp: Path
) -> None:
    path = tmp / "receipt.json"
    path.write_text(json.dumps(receipt))
    pins = ["--contract", contract, "--chain-id", str(HARDHAT_CHAIN_ID)]
    pins += ["--key-id", receipt["public_key"]["key_id"]]
    done = run_hub(
        settings, "audit", "verify-receipt", str(path), "--chain-url", node.url, *pins, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"of chain {HARDHAT_CHAIN_ID}" in done.stdout


async def _old_anchors_are_history(hub: Hub, tenant: Tenant, contract: str) -> None:
    chain = await hub.anchors.configured_chain()
    assert chain == ChainRef(HARDHAT_CHAIN_ID, contract)
    anchors, _ = await hub.anchors.page(tenant, None, None, 10)
    on = [(a.status, chain.holds(a)) for a in anchors]
    assert on[0] == (AnchorStatus.CONFIRMED, True)  # the newest, on the configured chain
    assert (AnchorStatus.CONFIRMED, False) in on[1:]  # the embedded one, kept as history


def test_receipts_of_old_entries_move_to_the_new_chain_when_the_service_starts(
    settings: Settings, hardhat: HardhatNode, tmp_path: Path
) -> None:
    tenant = asyncio.run(_anchored_on_embedded(settings))
    contract, _ = deploy_contract(connect(hardhat.url), account_of(HARDHAT_KEY))

    async def move() -> dict[str, Any]:
        hub = build(_on_hardhat(settings, hardhat, contract), hasher=FAST_HASHER)
        await hub.start()
        try:
            await hub.anchors.start()  # the service: its start-up anchors the head there
            receipt = await _until(
                lambda: hub.receipts.for_entry(tenant, 1), "a receipt on the Hardhat chain"
            )
            await _old_anchors_are_history(hub, tenant, contract)
            changes = await hub.audit.search(
                AuditLogRef(PLATFORM_LOG, PLATFORM_LOG),
                AuditFilter(action="audit.anchor.chain_change"),
                None,
                50,
            )
            assert [e["details"]["to"] for e in changes.items] == [
                {"chain_id": HARDHAT_CHAIN_ID, "contract": contract}
            ]
        finally:
            await hub.close()
        return receipt

    receipt = asyncio.run(move())
    assert receipt["anchor"]["chain_id"] == HARDHAT_CHAIN_ID
    assert receipt["anchor"]["contract"].lower() == contract.lower()
    _verify_with_cli(settings, receipt, hardhat, contract, tmp_path)


def test_hub_audit_anchor_moves_the_receipts_to_the_configured_chain(
    settings: Settings, hardhat: HardhatNode, tmp_path: Path
) -> None:
    asyncio.run(_anchored_on_embedded(settings))
    contract, _ = deploy_contract(connect(hardhat.url), account_of(HARDHAT_KEY))
    chain = {
        "HUB_CHAIN_URL": hardhat.url,
        "HUB_CHAIN_PRIVATE_KEY": HARDHAT_KEY,
        "HUB_ANCHOR_CONTRACT": contract,
    }
    done = run_hub(settings, "audit", "anchor", "--tenant", "acme", timeout=180, **chain)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("new anchor:"), done.stdout  # not the old one, "confirmed"
    anchor = json.loads(done.stdout.partition(": ")[2])
    assert anchor["status"] == "confirmed" and anchor["chain_id"] == HARDHAT_CHAIN_ID
    again = run_hub(settings, "audit", "anchor", "--tenant", "acme", timeout=180, **chain)
    assert again.returncode == 0 and "did not grow" in again.stdout  # moved once, not twice

    # Served: the old anchor is listed as history, the receipt names the Hardhat chain.
    hub = build(_on_hardhat(settings, hardhat, contract), hasher=FAST_HASHER)
    with TestClient(create_app(hub), raise_server_exceptions=False) as client:
        with client.portal() as portal:
            portal.call(ensure_platform_admin, hub, ADMIN, PASSWORD)
        admin = bearer(login(client, ADMIN)["access_token"])
        listed = client.get("/api/v1/tenants/acme/audit/anchors", headers=admin).json()["items"]
        assert [(a["chain_id"], a["on_configured_chain"]) for a in listed] == [
            (HARDHAT_CHAIN_ID, True),
            (EMBEDDED_CHAIN_ID, False),
        ]
        moved = client.get("/api/v1/tenants/acme/audit/1/receipt", headers=admin).json()
    assert moved["anchor"]["chain_id"] == HARDHAT_CHAIN_ID
    assert moved["anchor"]["tx_hash"] == anchor["tx_hash"]
    _verify_with_cli(settings, moved, hardhat, contract, tmp_path)


def test_an_anchor_in_flight_on_the_old_chain_is_sent_again_on_the_new_one(
    settings: Settings, hardhat: HardhatNode
) -> None:
    tenant = asyncio.run(_anchored_on_embedded(settings, in_flight=True))
    contract, _ = deploy_contract(connect(hardhat.url), account_of(HARDHAT_KEY))

    async def move() -> None:
        hub = build(_on_hardhat(settings, hardhat, contract), hasher=FAST_HASHER)
        await hub.start()
        try:
            before, _ = await hub.anchors.page(tenant, None, None, 10)
            await hub.anchors.start()

            async def confirmed_here() -> bool:
                anchors, _ = await hub.anchors.page(tenant, None, None, 10)
                return anchors[0].status is AnchorStatus.CONFIRMED and anchors[0].chain_id == (
                    HARDHAT_CHAIN_ID
                )

            await _until(confirmed_here, "the in-flight anchor confirmed on Hardhat")
            after, _ = await hub.anchors.page(tenant, None, None, 10)
            # No new anchor: the one in flight covers more than the old confirmed one.
            assert [a.id for a in after] == [a.id for a in before]
            assert after[0].resubmissions == 1
            receipt = await hub.receipts.for_entry(tenant, 1)
            assert receipt["anchor"]["tx_hash"] == after[0].tx_hash
            moved = await hub.audit.search(
                AuditLogRef(tenant.id, tenant.slug),
                AuditFilter(action="audit.anchor.resubmit"),
                None,
                9,
            )
            assert [e["details"]["previous_tx_hash"] for e in moved.items] == [before[0].tx_hash]
            assert "moved to chain 31337" in moved.items[0]["details"]["reason"]
        finally:
            await hub.close()

    asyncio.run(move())
