"""The audit log, its proofs, anchors and receipts, and the chain's JSON-RPC: the bodies of
/api/v1/tenants/{tenant}/audit[...], .../runs/{run_id}/receipt and /api/v1/chain/rpc."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

Hex = Annotated[str, msgspec.Meta(description="lowercase hex")]


class AuditEntryOut(msgspec.Struct):
    """An entry as signed into the log, with its leaf hash (RFC 6962)."""

    seq: int
    ts: Annotated[str, msgspec.Meta(description="RFC 3339, UTC")]
    actor: str | None
    actor_type: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    outcome: Annotated[str, msgspec.Meta(description="success, failure, granted or denied")]
    request_id: str | None
    ip: str | None
    details: dict[str, Any]
    leaf_hash: Hex


class AuditEntryList(msgspec.Struct):
    """A page of entries; with `Accept: text/csv` the same page as CSV (next cursor in the
    X-Next-Cursor header)."""

    items: list[AuditEntryOut]
    next_cursor: str | None


class SignedHead(msgspec.Struct):
    tree_size: int
    root_hash: Hex
    timestamp: str
    signature: Annotated[str, msgspec.Meta(description="Ed25519 over the head, base64")]
    key_id: str


class ConsistencyProof(msgspec.Struct):
    first: int
    second: int
    first_root: Hex
    second_root: Hex
    proof: list[Hex]


class InclusionProof(msgspec.Struct):
    leaf_index: int
    tree_size: int
    leaf_hash: Hex
    audit_path: list[Hex]
    root_hash: Hex


class PublicKeyOut(msgspec.Struct):
    algorithm: str
    key_id: str
    public_key: Annotated[str, msgspec.Meta(description="raw key, base64")]
    pem: str


class AnchorOut(msgspec.Struct):
    id: str
    status: Annotated[str, msgspec.Meta(description="pending, submitted, confirmed or failed")]
    tree_size: int
    root_hash: Hex
    chain_id: int | None
    contract: str | None
    tx_hash: str | None
    block_number: int | None
    log_index: int | None
    attempts: int
    resubmissions: int
    last_error: str | None
    created_at: datetime
    submitted_at: datetime | None
    confirmed_at: datetime | None
    on_configured_chain: Annotated[
        bool | None,
        msgspec.Meta(description="false: on a chain or contract the hub no longer anchors on"),
    ]


class AnchorList(msgspec.Struct):
    items: list[AnchorOut]
    next_cursor: str | None


class ReceiptProof(msgspec.Struct):
    leaf_index: int
    tree_size: int
    audit_path: list[Hex]
    root_hash: Hex


class ReceiptAnchor(msgspec.Struct):
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    log_index: int


class ReceiptOut(msgspec.Struct):
    """Everything needed to check an entry offline: the entry, its inclusion proof, the
    signed head of that tree, the anchor holding it, and the signing key."""

    tenant: str
    entry: AuditEntryOut
    proof: ReceiptProof
    head: SignedHead
    anchor: ReceiptAnchor
    public_key: PublicKeyOut


class RpcRequest(msgspec.Struct):
    """A JSON-RPC 2.0 request; only eth_chainId, eth_blockNumber and
    eth_getTransactionReceipt are served."""

    method: Annotated[Any, msgspec.Meta(description="eth_chainId, eth_blockNumber or ...")] = None
    params: Annotated[
        Any, msgspec.Meta(description="a list; eth_getTransactionReceipt: [hash]")
    ] = None
    id: Annotated[Any, msgspec.Meta(description="echoed in the answer")] = None
    jsonrpc: Annotated[Any, msgspec.Meta(description='"2.0"')] = None


class RpcError(msgspec.Struct):
    code: int
    message: str


class RpcResponse(msgspec.Struct, omit_defaults=True):
    """`result`, or `error` (-32601: method not served, -32000: the chain is unavailable)."""

    jsonrpc: str
    id: Any
    result: Any = None
    error: RpcError | None = None
