"""Anchors: signed tree heads of a tenant's audit log, published on an EVM chain.

An anchor moves pending -> submitted -> confirmed. It goes back to pending when the
chain is unreachable (retried with backoff) or its transaction vanished (a reorg, a dev
chain restarted); it is failed only when the chain refused it (the transaction reverted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

# Audit actions of the anchoring service itself. They do not count as growth of the log,
# or every anchor would make the next one necessary.
ANCHOR_CREATE = "audit.anchor.create"
ANCHOR_SUBMIT = "audit.anchor.submit"
ANCHOR_CONFIRM = "audit.anchor.confirm"
ANCHOR_RESUBMIT = "audit.anchor.resubmit"
ANCHOR_FAIL = "audit.anchor.fail"
ANCHOR_ACTIONS = (ANCHOR_CREATE, ANCHOR_SUBMIT, ANCHOR_CONFIRM, ANCHOR_RESUBMIT, ANCHOR_FAIL)
# In the platform's log: the hub now anchors on another chain or contract.
CHAIN_CHANGE = "audit.anchor.chain_change"


class AnchorStatus(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class TxState(StrEnum):
    """What the chain says about a transaction."""

    QUEUED = "queued"  # known to the node, not mined yet
    MINED = "mined"
    REVERTED = "reverted"
    MISSING = "missing"  # the node does not know it (never sent, or reorged away)


class LedgerUnavailable(Exception):
    """The chain cannot be used now (down, contract missing, nonce race): retry later."""


class LedgerRejected(Exception):
    """The chain refused the anchor (the call reverts): retrying the same will not help."""


@dataclass(frozen=True)
class SubmittedTx:
    tx_hash: str
    chain_id: int
    contract: str
    nonce: int


@dataclass(frozen=True)
class TxLookup:
    state: TxState
    chain_id: int
    block_number: int | None = None
    block_hash: str | None = None
    log_index: int | None = None
    confirmations: int = 0
    detail: str = ""


@dataclass(frozen=True)
class LedgerHealth:
    ok: bool
    kind: str  # "embedded" or "json-rpc"
    chain_id: int | None
    contract: str | None
    block_number: int | None
    signer: str | None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kind": self.kind,
            "chain_id": self.chain_id,
            "contract": self.contract,
            "block_number": self.block_number,
            "signer": self.signer,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ChainRef:
    """A chain as anchors know it: its id and the AuditAnchor contract on it. Moving to
    another node of the same chain and contract is no change; a new contract is."""

    chain_id: int
    contract: str

    @classmethod
    def of(cls, health: LedgerHealth) -> ChainRef | None:
        if health.chain_id is None or health.contract is None:
            return None
        return cls(health.chain_id, health.contract)

    def holds(self, anchor: Anchor) -> bool:
        return (
            anchor.chain_id == self.chain_id
            and (anchor.contract or "").lower() == self.contract.lower()
        )

    def as_dict(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "contract": self.contract}


@dataclass(frozen=True)
class Anchor:
    id: str
    log_id: str
    tree_size: int
    root_hash: str
    status: AnchorStatus
    created_at: datetime
    chain_id: int | None = None
    contract: str | None = None
    tx_hash: str | None = None
    nonce: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    log_index: int | None = None
    attempts: int = 0
    resubmissions: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    submitted_at: datetime | None = None
    confirmed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "chain_id": self.chain_id,
            "contract": self.contract,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "log_index": self.log_index,
            "attempts": self.attempts,
            "resubmissions": self.resubmissions,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "submitted_at": self.submitted_at,
            "confirmed_at": self.confirmed_at,
        }


def retry_delay(attempts: int, maximum: float) -> float:
    """Seconds before the next try after `attempts` failed ones: 1, 2, 4, ... up to maximum."""
    return float(min(maximum, 2 ** max(0, attempts - 1)))
