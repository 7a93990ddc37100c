"""The web3 adapter on the embedded eth-tester chain: anchor, look up, refusals, health."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from audit.receipt import tenant_topic
from connectors.ledger.ethereum import EthereumLedger, tenant_key
from hub.domain.anchors import LedgerRejected, LedgerUnavailable, TxState

ROOT = hashlib.sha256(b"root").hexdigest()


def test_anchor_then_lookup() -> None:
    async def scenario() -> None:
        ledger = EthereumLedger.embedded()
        try:
            health = await ledger.health()
            assert health.ok and health.kind == "embedded" and health.contract
            sent = await ledger.anchor("acme", ROOT, 1000)
            assert sent.chain_id == health.chain_id and sent.contract == health.contract
            found = await ledger.lookup(sent.tx_hash, "acme", ROOT, 1000)
            assert found.state is TxState.MINED and found.confirmations == 1
            assert found.log_index == 0 and found.block_hash
            # The same transaction is not an anchor of another head or tenant.
            other = await ledger.lookup(sent.tx_hash, "acme", ROOT, 999)
            assert other.state is TxState.MISSING
            assert (
                await ledger.lookup(sent.tx_hash, "globex", ROOT, 1000)
            ).state is TxState.MISSING
            unknown = await ledger.lookup("0x" + "12" * 32, "acme", ROOT, 1000)
            assert unknown.state is TxState.MISSING
            second = await ledger.anchor("acme", ROOT, 1001)
            assert second.nonce == sent.nonce + 1  # nonces follow the chain
        finally:
            await ledger.close()

    asyncio.run(scenario())


def test_only_the_owner_may_anchor() -> None:
    async def scenario() -> None:
        owner = EthereumLedger.embedded()
        try:
            contract = (await owner.health()).contract
            assert owner._w3 is not None
            w3 = owner._w3  # the same in-process chain, another (funded) key
            stranger = EthereumLedger(lambda: w3, "0x" + "00" * 31 + "02", contract, kind="x")
            stranger._executor = owner._executor  # py-evm: one thread
            with pytest.raises(LedgerRejected, match="refused"):
                await stranger.anchor("acme", ROOT, 1)
        finally:
            await owner.close()

    asyncio.run(scenario())


def test_unreachable_node_and_missing_contract_are_unavailable() -> None:
    async def scenario() -> None:
        down = EthereumLedger.json_rpc("http://127.0.0.1:9", "0x" + "11" * 32, "0x" + "22" * 20)
        with pytest.raises(LedgerUnavailable):
            await down.anchor("acme", ROOT, 1)
        health = await down.health()
        assert not health.ok and health.detail
        await down.close()
        unset = EthereumLedger.json_rpc("http://127.0.0.1:9", "0x" + "11" * 32, None)
        with pytest.raises(LedgerUnavailable, match="HUB_ANCHOR_CONTRACT"):
            await unset.anchor("acme", ROOT, 1)
        await unset.close()

    asyncio.run(scenario())


def test_tenant_key_is_keccak_of_the_slug() -> None:
    assert tenant_key("acme") == tenant_topic("acme")
    assert tenant_key("acme").hex() == (
        "e29dae06ef4c3e336b7538b6d4f52ca1ecec009b1df6fb501320e11b223aeeaf"
    )
