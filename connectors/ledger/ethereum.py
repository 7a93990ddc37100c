"""LedgerPort over web3: anchors signed tree heads with the AuditAnchor contract.

Two chains: the embedded one (eth-tester on py-evm, in this process, the contract deployed
when it starts; its state dies with the process) and any JSON-RPC node (HUB_CHAIN_URL).
web3 is used synchronously on one thread of its own: py-evm is not thread-safe, the event
loop never waits for the EVM or the node, and one thread hands out nonces one at a time.
Transactions are signed here with the hub's key (EIP-1559 fees) and sent raw.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress, HexStr
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception
from web3.types import TxParams

from hub.domain.anchors import (
    LedgerHealth,
    LedgerRejected,
    LedgerUnavailable,
    SubmittedTx,
    TxLookup,
    TxState,
)

log = logging.getLogger("hub.chain")
ARTIFACT = Path(__file__).resolve().parent.parent / "contracts" / "AuditAnchor.json"
ANCHORED = Web3.keccak(text="Anchored(bytes32,bytes32,uint64,uint64)")
EMBEDDED_KEY = "0x" + "00" * 31 + "01"  # eth-tester's first funded account
RPC_TIMEOUT = 10.0
T = TypeVar("T")


@cache
def artifact() -> dict[str, Any]:
    return json.loads(ARTIFACT.read_text())


def tenant_key(slug: str) -> bytes:
    """The contract's `tenant` argument: keccak256 of the slug."""
    return bytes(Web3.keccak(text=slug))


def account_of(private_key: str) -> LocalAccount:
    """The account of a hex private key; ValueError when it is not one."""
    try:
        return Account.from_key(private_key)
    except Exception as exc:  # eth_keys raises several types for malformed keys
        raise ValueError(f"not a secp256k1 private key: {exc}") from None


def _unavailable(exc: BaseException) -> LedgerUnavailable:
    text = str(exc) or type(exc).__name__
    return LedgerUnavailable(f"{type(exc).__name__}: {text}"[:500])


def _fees(w3: Web3) -> dict[str, int]:
    """EIP-1559 fees: twice the base fee plus the node's suggested tip (legacy if no base fee)."""
    latest = w3.eth.get_block("latest")
    base = latest.get("baseFeePerGas")
    if base is None:
        return {"gasPrice": int(w3.eth.gas_price)}
    try:
        tip = int(w3.eth.max_priority_fee)
    except (Web3Exception, ValueError):
        tip = Web3.to_wei(1, "gwei")
    return {"maxFeePerGas": 2 * int(base) + tip, "maxPriorityFeePerGas": tip, "type": 2}


def _send(w3: Web3, signer: LocalAccount, tx: dict[str, Any]) -> tuple[str, int]:
    """Sign and send; the nonce is the node's pending count, so a chain that was reset
    (or another process using the key) is followed instead of leaving a nonce gap."""
    nonce = w3.eth.get_transaction_count(signer.address, "pending")
    tx = {**tx, "nonce": nonce, "chainId": w3.eth.chain_id, **_fees(w3)}
    signed = signer.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return "0x" + bytes(tx_hash).hex(), nonce


def deploy_contract(w3: Web3, signer: LocalAccount) -> tuple[ChecksumAddress, str]:
    """Deploy AuditAnchor owned by `signer`; returns (address, tx hash) once mined."""
    spec = artifact()
    factory = w3.eth.contract(abi=spec["abi"], bytecode=spec["bytecode"])
    tx = factory.constructor().build_transaction({"from": signer.address, "nonce": 0, "gas": 0})
    data: TxParams = {"from": signer.address, "data": tx["data"]}
    gas = int(w3.eth.estimate_gas(data) * 1.2)
    tx_hash, _ = _send(w3, signer, {**data, "gas": gas, "value": 0})
    receipt = w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=120, poll_latency=0.2)
    if receipt["status"] != 1:
        raise LedgerRejected(f"deploying AuditAnchor reverted in {tx_hash}")
    address = receipt["contractAddress"]
    if address is None:  # never, for a successful deployment
        raise LedgerRejected(f"deploying AuditAnchor in {tx_hash} created no contract")
    return address, tx_hash


def connect(url: str) -> Web3:
    return Web3(HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT}))


class EthereumLedger:
    """The LedgerPort adapter. Nothing touches the chain until the first call."""

    def __init__(
        self,
        make_web3: Callable[[], Web3],
        private_key: str,
        contract: str | None,
        *,
        kind: str,
        confirmations: int = 1,
    ) -> None:
        self.kind = kind
        self.confirmations = confirmations
        self._make_web3 = make_web3
        self._signer = account_of(private_key)
        self._contract_address = Web3.to_checksum_address(contract) if contract else None
        self._w3: Web3 | None = None
        self._contract: Any = None
        self._chain_id: int | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"ledger-{kind}")

    @classmethod
    def embedded(cls, confirmations: int = 1) -> EthereumLedger:
        """eth-tester in process; the contract is deployed on first use."""
        return cls(
            lambda: Web3(EthereumTesterProvider()),
            EMBEDDED_KEY,
            None,
            kind="embedded",
            confirmations=confirmations,
        )

    @classmethod
    def json_rpc(
        cls, url: str, private_key: str, contract: str | None, confirmations: int = 1
    ) -> EthereumLedger:
        return cls(
            lambda: connect(url),
            private_key,
            contract,
            kind="json-rpc",
            confirmations=confirmations,
        )

    @property
    def signer(self) -> str:
        return str(self._signer.address)

    # --- the port ---

    async def anchor(self, tenant: str, root_hash: str, tree_size: int) -> SubmittedTx:
        return await self._call(lambda: self._anchor(tenant, root_hash, tree_size))

    async def lookup(self, tx_hash: str, tenant: str, root_hash: str, tree_size: int) -> TxLookup:
        return await self._call(lambda: self._lookup(tx_hash, tenant, root_hash, tree_size))

    async def health(self) -> LedgerHealth:
        try:
            return await self._call(self._health)
        except LedgerUnavailable as exc:
            return LedgerHealth(
                False,
                self.kind,
                self._chain_id,
                self._contract_address,
                None,
                self.signer,
                str(exc),
            )

    async def rpc(self, method: str, params: list[Any]) -> Any:
        """A JSON-ready answer to a read-only JSON-RPC call (for the embedded chain's proxy)."""
        return await self._call(lambda: self._rpc(method, params))

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- on the ledger's thread ---

    async def _call(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._guarded, fn)

    def _guarded(self, fn: Callable[[], T]) -> T:
        try:
            self._ready()
            return fn()
        except (LedgerRejected, LedgerUnavailable):
            raise
        except Exception as exc:  # requests, web3 and node errors: the chain is not usable now
            raise _unavailable(exc) from exc

    def _ready(self) -> Web3:
        if self._w3 is None:
            if self._contract_address is None and self.kind != "embedded":
                raise LedgerUnavailable(
                    "HUB_ANCHOR_CONTRACT is not set: deploy the contract with "
                    "`hub chain deploy` and set it"
                )
            w3 = self._make_web3()
            if self._contract_address is None:  # embedded: deploy now
                self._contract_address, _ = deploy_contract(w3, self._signer)
                log.info("embedded chain: AuditAnchor at %s", self._contract_address)
            self._contract = w3.eth.contract(address=self._contract_address, abi=artifact()["abi"])
            self._w3 = w3
        if self._chain_id is None:
            self._chain_id = int(self._w3.eth.chain_id)
        return self._w3

    def _address(self) -> ChecksumAddress:
        """The contract's address: given to the constructor, or deployed by _ready."""
        if self._contract_address is None:
            raise LedgerUnavailable("the AuditAnchor contract is not deployed yet")
        return self._contract_address

    def _check_code(self, w3: Web3) -> None:
        if not w3.eth.get_code(self._address()):
            raise LedgerUnavailable(
                f"no contract at {self._contract_address} on chain {self._chain_id}: the chain "
                "was reset or HUB_ANCHOR_CONTRACT is wrong; deploy it with `hub chain deploy`"
            )

    def _anchor(self, tenant: str, root_hash: str, tree_size: int) -> SubmittedTx:
        w3 = self._ready()
        self._chain_id = int(w3.eth.chain_id)  # a restarted node may be another chain
        self._check_code(w3)
        call = self._contract.functions.anchor(
            tenant_key(tenant), bytes.fromhex(root_hash), tree_size
        )
        try:
            gas = call.estimate_gas({"from": self._signer.address})
        except (ContractLogicError, TransactionFailed) as exc:  # a node's, eth-tester's revert
            raise LedgerRejected(f"the contract refused the anchor: {exc}") from None
        data = call._encode_transaction_data()
        tx = {
            "from": self._signer.address,
            "to": self._contract_address,
            "data": data,
            "gas": int(gas * 1.25) + 1000,
            "value": 0,
        }
        tx_hash, nonce = _send(w3, self._signer, tx)
        return SubmittedTx(tx_hash, self._chain_id, str(self._contract_address), nonce)

    def _lookup(self, tx_hash: str, tenant: str, root_hash: str, tree_size: int) -> TxLookup:
        w3 = self._ready()
        chain_id = int(w3.eth.chain_id)
        try:
            receipt = w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            receipt = None
        if receipt is None:
            try:
                w3.eth.get_transaction(HexStr(tx_hash))
            except TransactionNotFound:
                return TxLookup(TxState.MISSING, chain_id, detail="the node does not know it")
            return TxLookup(TxState.QUEUED, chain_id)
        block = int(receipt["blockNumber"])
        confirmations = int(w3.eth.block_number) - block + 1
        block_hash = "0x" + bytes(receipt["blockHash"]).hex()
        if receipt["status"] != 1:
            return TxLookup(
                TxState.REVERTED,
                chain_id,
                block,
                block_hash,
                None,
                confirmations,
                "the transaction reverted",
            )
        index = self._event_index(receipt, tenant, root_hash, tree_size)
        if index is None:
            return TxLookup(
                TxState.MISSING,
                chain_id,
                block,
                block_hash,
                None,
                confirmations,
                "mined, but without the Anchored event of this head",
            )
        return TxLookup(TxState.MINED, chain_id, block, block_hash, index, confirmations)

    def _event_index(self, receipt: Any, tenant: str, root_hash: str, tree_size: int) -> int | None:
        want_topics = [bytes(ANCHORED), tenant_key(tenant)]
        for entry in receipt["logs"]:
            if entry["address"].lower() != str(self._contract_address).lower():
                continue
            if [bytes(t) for t in entry["topics"]] != want_topics:
                continue
            data = bytes(entry["data"])
            if data[:32].hex() == root_hash and int.from_bytes(data[32:64]) == tree_size:
                return int(entry["logIndex"])
        return None

    def _health(self) -> LedgerHealth:
        w3 = self._ready()
        block = int(w3.eth.block_number)
        has_code = bool(w3.eth.get_code(self._address()))
        detail = "" if has_code else f"no contract code at {self._contract_address}"
        return LedgerHealth(
            has_code,
            self.kind,
            int(w3.eth.chain_id),
            self._contract_address,
            block,
            self.signer,
            detail,
        )

    def _rpc(self, method: str, params: list[Any]) -> Any:
        w3 = self._ready()
        if method == "eth_chainId":
            return hex(w3.eth.chain_id)
        if method == "eth_blockNumber":
            return hex(w3.eth.block_number)
        if method == "eth_getTransactionReceipt" and len(params) == 1:
            try:
                receipt = w3.eth.get_transaction_receipt(HexStr(str(params[0])))
            except (TransactionNotFound, ValueError):
                return None
            # web3 annotates to_json as taking a dict; it takes its own receipts (AttributeDict)
            return json.loads(Web3.to_json(receipt))  # type: ignore[arg-type]
        raise LookupError(f"method {method!r} is not served")
