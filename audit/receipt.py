"""Verify an audit receipt without trusting the hub: leaf, proof, signed head, chain anchor.

A receipt (`GET .../audit/{seq}/receipt`) holds an entry, its inclusion proof in a tree,
the hub's signed head of that tree and where the head was anchored on an EVM chain. The
entry existed no later than the anchoring block, unchanged, if:

1. its leaf hash is SHA-256(0x00 || RFC 8785 of the entry without `leaf_hash`);
2. the audit path leads from that leaf to the root (RFC 9162 section 2.1.3.2);
3. the head has that size and root and is signed by the hub's Ed25519 key (pin its key id);
4. the transaction's receipt on the chain is successful and has, at `log_index`, the
   AuditAnchor contract's `Anchored(keccak256(tenant), root, tree_size, timestamp)` event,
   on the expected chain, with enough confirmations.

Steps 1-3 need no network (`verify_receipt_offline`). Step 4 needs a JSON-RPC endpoint of
the chain; it is asked for three things only (chain id, block number, the transaction's
receipt), through a callable so any transport will do (`http_rpc(url)` is stdlib urllib).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import rfc8785
from Crypto.Hash import keccak

from audit.canonical import CanonicalizationError, entry_leaf
from audit.signing import load_public_key_document, verify_tree_head
from audit.verify import verify_inclusion

__all__ = [
    "ANCHORED_TOPIC",
    "ReceiptReport",
    "RpcError",
    "content_hash",
    "http_rpc",
    "keccak256",
    "tenant_topic",
    "verify_anchor_on_chain",
    "verify_receipt",
    "verify_receipt_offline",
]

Rpc = Callable[[str, list[Any]], Any]


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


ANCHORED_TOPIC = keccak256(b"Anchored(bytes32,bytes32,uint64,uint64)")


def tenant_topic(slug: str) -> bytes:
    """The contract's indexed `tenant`: keccak256 of the tenant's slug."""
    return keccak256(slug.encode("utf-8"))


def content_hash(value: Any) -> str:
    """Hex SHA-256 of the RFC 8785 form of any JSON value: how workflow receipts name a
    definition, an input and a result, so anyone holding them can recompute the hash."""
    return sha256(rfc8785.dumps(value)).hexdigest()


@dataclass
class ReceiptReport:
    ok: bool = True
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    block_timestamp: int | None = None

    def check(self, name: str, passed: bool, problem: str) -> bool:
        self.checks[name] = passed
        if not passed:
            self.ok = False
            self.problems.append(problem)
        return passed


def _hex_bytes(value: Any, size: int | None = None) -> bytes | None:
    if not isinstance(value, str):
        return None
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if size is None or len(raw) == size else None


def _hashes(path: Any) -> list[bytes] | None:
    """An audit path's hashes, or None unless it is a list of 32-byte hex strings."""
    if not isinstance(path, list):
        return None
    hashes = [_hex_bytes(p, 32) for p in path]
    return [h for h in hashes if h is not None] if all(hashes) else None


def _quantity(value: Any) -> int | None:
    """A JSON-RPC quantity: "0x1a" on the wire; plain integers are accepted too."""
    if type(value) is int:
        return value
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


_Parts = tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]


def _parts(receipt: Any) -> _Parts | None:
    """The receipt's entry, proof, head and anchor, if it is a mapping and all four are."""
    if not isinstance(receipt, Mapping):
        return None
    entry, proof, head, anchor = (receipt.get(k) for k in ("entry", "proof", "head", "anchor"))
    if (
        isinstance(entry, Mapping)
        and isinstance(proof, Mapping)
        and isinstance(head, Mapping)
        and isinstance(anchor, Mapping)
    ):
        return entry, proof, head, anchor
    return None


def verify_receipt_offline(
    receipt: Mapping[str, Any],
    *,
    public_key: Mapping[str, Any] | None = None,
    expected_key_id: str | None = None,
) -> ReceiptReport:
    """Steps 1-3: leaf, inclusion proof, signed head. No network.

    `public_key` is the hub's key document (`GET /api/v1/audit/public-key`); without it the
    receipt's own copy is used, which only proves anything when `expected_key_id` pins it.
    """
    report = ReceiptReport()
    parts = _parts(receipt)
    tenant = receipt.get("tenant") if isinstance(receipt, Mapping) else None
    if not report.check(
        "format",
        parts is not None and isinstance(tenant, str),
        "not a receipt: needs tenant, entry, proof, head and anchor",
    ):
        return report
    assert parts is not None and isinstance(tenant, str)  # the format check passed
    entry, proof, head, _ = parts
    try:
        leaf = entry_leaf(entry)
    except (CanonicalizationError, ValueError, TypeError):
        report.check("leaf", False, "the entry is not canonical JSON")
        return report
    served = _hex_bytes(entry.get("leaf_hash"), 32)
    report.check(
        "leaf",
        served is None or served == leaf,
        "the entry does not hash to its leaf_hash (the entry was changed)",
    )
    # JSON values, whatever they are: checked below and again by verify_inclusion
    seq: Any = entry.get("seq")
    index: Any = proof.get("leaf_index")
    size: Any = proof.get("tree_size")
    root = _hex_bytes(proof.get("root_hash"), 32)
    hashes = _hashes(proof.get("audit_path"))
    shaped = type(seq) is int and index == seq - 1 and type(size) is int and root is not None
    if (
        report.check(
            "proof", shaped and hashes is not None, "the proof is malformed or not for this entry"
        )
        and hashes is not None
        and root is not None
    ):
        report.check(
            "proof",
            verify_inclusion(leaf, index, size, hashes, root),
            "the audit path does not lead from the entry to the root",
        )
    same = head.get("tree_size") == size and _hex_bytes(head.get("root_hash"), 32) == root
    report.check("head", same, "the signed head is not the head of the proof's tree")
    _check_signature(report, receipt, tenant, head, public_key, expected_key_id)
    return report


def _check_signature(
    report: ReceiptReport,
    receipt: Mapping[str, Any],
    tenant: str,
    head: Mapping[str, Any],
    public_key: Mapping[str, Any] | None,
    expected_key_id: str | None,
) -> None:
    document = public_key if public_key is not None else receipt.get("public_key")
    try:
        key = load_public_key_document(document)
    except ValueError as exc:
        report.check("signature", False, f"no usable public key: {exc}")
        return
    assert isinstance(document, Mapping)  # the loader refuses anything else
    if expected_key_id is not None and (
        document.get("key_id") != expected_key_id or head.get("key_id") != expected_key_id
    ):
        report.check("signature", False, f"the head is not signed by key {expected_key_id}")
        return
    report.check(
        "signature", verify_tree_head(key, tenant, head), "the head's signature does not verify"
    )


def verify_anchor_on_chain(
    receipt: Mapping[str, Any],
    rpc: Rpc,
    *,
    expected_chain_id: int | None = None,
    expected_contract: str | None = None,
    min_confirmations: int = 1,
    report: ReceiptReport | None = None,
) -> ReceiptReport:
    """Step 4: the Anchored event of the receipt's head, read from the chain through `rpc`."""
    report = report or ReceiptReport()
    parts = _parts(receipt)
    if parts is None:
        report.check("format", False, "not a receipt")
        return report
    _, proof, _, anchor = parts
    tenant = str(receipt.get("tenant"))
    chain_id = _quantity(rpc("eth_chainId", []))
    want_chain = expected_chain_id if expected_chain_id is not None else anchor.get("chain_id")
    report.check(
        "chain_id",
        chain_id is not None and chain_id == want_chain,
        f"the node is chain {chain_id}, the anchor is on chain {want_chain}",
    )
    contract = str(anchor.get("contract", "")).lower()
    if expected_contract is not None and contract != expected_contract.lower():
        report.check("contract", False, f"anchored by {contract}, not by {expected_contract}")
    tx = rpc("eth_getTransactionReceipt", [anchor.get("tx_hash")])
    if not report.check(
        "transaction",
        isinstance(tx, Mapping) and _quantity(tx.get("status")) == 1,
        f"transaction {anchor.get('tx_hash')} is not on this chain, or reverted",
    ):
        return report
    block = _quantity(tx.get("blockNumber"))
    report.check(
        "block",
        block == anchor.get("block_number"),
        f"the transaction is in block {block}, not {anchor.get('block_number')}",
    )
    event = _event(tx, anchor.get("log_index"))
    expected = [ANCHORED_TOPIC, tenant_topic(tenant)]
    found = (
        event is not None
        and [_hex_bytes(t) for t in event.get("topics", [])] == expected
        and str(event.get("address", "")).lower() == contract
    )
    if (
        report.check(
            "event", found, "no Anchored event of this tenant by the contract at log_index"
        )
        and event is not None
    ):
        data = _hex_bytes(event.get("data")) or b""
        same = data[:32] == _hex_bytes(proof.get("root_hash"), 32) and (
            int.from_bytes(data[32:64]) == proof.get("tree_size")
        )
        report.check(
            "event", same and len(data) == 96, "the anchored root or tree size is not the proof's"
        )
        report.block_timestamp = int.from_bytes(data[64:96]) if len(data) == 96 else None
    head_block = _quantity(rpc("eth_blockNumber", []))
    depth = (head_block - block + 1) if head_block is not None and block is not None else 0
    report.check(
        "confirmations",
        depth >= min_confirmations,
        f"{depth} confirmations, fewer than the {min_confirmations} asked for",
    )
    return report


def _event(tx: Mapping[str, Any], log_index: Any) -> Mapping[str, Any] | None:
    for event in tx.get("logs") or []:
        if isinstance(event, Mapping) and _quantity(event.get("logIndex")) == log_index:
            return event
    return None


def verify_receipt(
    receipt: Mapping[str, Any],
    rpc: Rpc,
    *,
    public_key: Mapping[str, Any] | None = None,
    expected_key_id: str | None = None,
    expected_chain_id: int | None = None,
    expected_contract: str | None = None,
    min_confirmations: int = 1,
) -> ReceiptReport:
    """All four steps; `report.ok` is True only when every check passed."""
    report = verify_receipt_offline(receipt, public_key=public_key, expected_key_id=expected_key_id)
    if report.checks.get("format") is False:
        return report
    return verify_anchor_on_chain(
        receipt,
        rpc,
        expected_chain_id=expected_chain_id,
        expected_contract=expected_contract,
        min_confirmations=min_confirmations,
        report=report,
    )


class RpcError(Exception):
    """The JSON-RPC endpoint could not be reached or answered with an error."""


def http_rpc(url: str, timeout: float = 10.0) -> Rpc:
    """A JSON-RPC caller over HTTP(S) with the standard library."""

    def call(method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        request = urllib.request.Request(
            url, body.encode(), {"content-type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read())
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise RpcError(f"{url}: {exc}") from None
        if not isinstance(answer, dict) or "error" in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise RpcError(f"{url}: {method} failed: {error}")
        return answer.get("result")

    return call
