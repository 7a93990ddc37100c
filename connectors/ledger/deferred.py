"""The ledger the hub anchors on, built on first use: importing web3 and py-evm takes about
a second, which commands and tests that never anchor should not pay."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hub.domain.anchors import LedgerHealth, SubmittedTx, TxLookup

if TYPE_CHECKING:
    from connectors.ledger.ethereum import EthereumLedger


class DeferredLedger:
    """A LedgerPort that builds the real one (connectors/ledger/ethereum.py) when first called.

    The import and construction run in a worker thread: on the event loop they stalled
    every request of a serving hub for over a second at its first anchoring cycle."""

    def __init__(self, kind: str, confirmations: int, make: Callable[[], EthereumLedger]) -> None:
        self.kind = kind
        self.confirmations = confirmations
        self._make = make
        self._ledger: EthereumLedger | None = None
        self._building = asyncio.Lock()

    async def _real(self) -> EthereumLedger:
        if self._ledger is None:
            async with self._building:
                if self._ledger is None:
                    self._ledger = await asyncio.to_thread(_keeping_recursion_limit, self._make)
        return self._ledger

    async def anchor(self, tenant: str, root_hash: str, tree_size: int) -> SubmittedTx:
        return await (await self._real()).anchor(tenant, root_hash, tree_size)

    async def lookup(self, tx_hash: str, tenant: str, root_hash: str, tree_size: int) -> TxLookup:
        return await (await self._real()).lookup(tx_hash, tenant, root_hash, tree_size)

    async def health(self) -> LedgerHealth:
        return await (await self._real()).health()

    async def rpc(self, method: str, params: list[Any]) -> Any:
        return await (await self._real()).rpc(method, params)

    async def close(self) -> None:
        if self._ledger is not None:
            await self._ledger.close()


def _keeping_recursion_limit(make: Callable[[], EthereumLedger]) -> EthereumLedger:
    """Build the ledger and put back the interpreter's recursion limit.

    Importing py-evm (`eth`) raises it to 12,288 and py_ecc to 100,000, for the whole
    process. With that limit a C-recursive decoder (msgspec, json) given deeply nested input
    overflows the C stack and kills the process instead of raising RecursionError (issue 12).
    The hub's EVM work (deploying the anchor contract, anchoring, receipts) never nests
    calls and runs at the normal limit (tests/integration/chain)."""
    limit = sys.getrecursionlimit()
    try:
        return make()
    finally:
        sys.setrecursionlimit(limit)


def ledger_for(
    url: str, private_key: str, contract: str | None, confirmations: int
) -> DeferredLedger:
    """The embedded eth-tester chain when `url` is empty, else the JSON-RPC node at `url`."""

    def make() -> EthereumLedger:
        from connectors.ledger.ethereum import EthereumLedger

        if not url:
            return EthereumLedger.embedded(confirmations)
        return EthereumLedger.json_rpc(url, private_key, contract, confirmations)

    return DeferredLedger("json-rpc" if url else "embedded", confirmations, make)
