"""Receipts: an audit entry with its proof, signed head and chain anchor, in one document
that anyone can check with `audit.receipt` (or `hub audit verify-receipt`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from hub.domain.anchors import Anchor, ChainRef
from hub.domain.audit import AuditFilter
from hub.domain.errors import Conflict, NotFound
from hub.domain.ids import is_id
from hub.domain.tenancy import Tenant
from hub.ports import UnitOfWorkFactory
from hub.services.audit.log import AuditLog, AuditLogRef, IntegrityFailure

RUN_FINISHED = ("workflow.run.complete", "workflow.run.fail")


def _anchor_part(anchor: Anchor) -> dict[str, Any]:
    return {
        "chain_id": anchor.chain_id,
        "contract": anchor.contract,
        "tx_hash": anchor.tx_hash,
        "block_number": anchor.block_number,
        "log_index": anchor.log_index,
    }


class ReceiptService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        audit: AuditLog,
        chain: Callable[[], Awaitable[ChainRef | None]],
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._chain = chain  # the configured chain (AnchorService.configured_chain)

    async def for_entry(self, tenant: Tenant, seq: int) -> dict[str, Any]:
        """The receipt of entry `seq` in the first confirmed anchor whose tree includes it,
        on the chain the hub anchors on now: a receipt naming a chain the hub left may
        point at a chain nobody can ask any more (ANCHORING.md, "Moving to another chain")."""
        ref = AuditLogRef(tenant.id, tenant.slug)
        entry = await self._audit.entry(ref, seq)  # 404 for an unknown seq
        chain = await self._chain()
        async with self._uow() as uow:
            anchor = await uow.anchors.covering(ref.log_id, seq, chain)
            head = await uow.audit.head_at(ref.log_id, anchor.tree_size) if anchor else None
            waiting = anchor is None and await uow.anchors.any_covering(ref.log_id, seq)
        if anchor is None:
            why = "is being anchored" if waiting else "is not in an anchored tree yet"
            where = f" on chain {chain.chain_id} ({chain.contract})" if chain else ""
            raise Conflict(f"audit entry {seq} {why}: no confirmed anchor{where} includes it yet")
        proof = await self._audit.proof(ref, seq, anchor.tree_size)
        if head is None or not proof["root_hash"] == anchor.root_hash == head.root_hash:
            raise IntegrityFailure(f"anchor {anchor.id} does not match the signed log")
        proof.pop("leaf_hash", None)
        return {
            "tenant": tenant.slug,
            "entry": entry,
            "proof": proof,
            "head": head.as_dict(),
            "anchor": _anchor_part(anchor),
            "public_key": self._audit.public_key(),
        }

    async def for_run(self, tenant: Tenant, run_id: str) -> dict[str, Any]:
        """The receipt of the entry that recorded how a run ended (completed or failed),
        also once retention has removed the run: its audit entries stay."""
        if not is_id(run_id):
            raise NotFound(f"run {run_id!r} not found")
        async with self._uow() as uow:
            run = await uow.workflows.run(tenant.id, run_id)
            where = AuditFilter(resource_type="workflow_run", resource_id=run_id)
            rows = await uow.audit.search(tenant.id, where, None, 500)
        # The body's action, not the column's: for_entry refuses a row where they differ.
        seqs = [r.seq for r in rows if json.loads(r.body)["action"] in RUN_FINISHED]
        if not seqs:
            if run is None:  # never a run of this tenant's (its log would name it)
                raise NotFound(f"run {run_id!r} not found")
            raise Conflict(f"run {run_id!r} is {run['status']}: it has no receipt until it ends")
        return await self.for_entry(tenant, seqs[-1])
