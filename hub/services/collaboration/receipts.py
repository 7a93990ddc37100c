"""A collaboration's receipt: every audit entry each participant organisation's log holds
about it, each with its inclusion proof, signed head and chain anchor, in one bundle that
any participant or an outside auditor checks offline (`hub audit verify-receipt`, or
`audit.collaboration.verify_collaboration_receipt`).

This organisation's part is built here; every other participant's part is asked of its
hub with a signed `evidence_request` (a participant only answers participants), so the
bundle holds both sides of every message: the sender's `federation.message.send` and the
receiver's `federation.message.receive` entries name the same event id and body digest.
"""

from __future__ import annotations

from typing import Any

from hub.domain.audit import SYSTEM, AuditFilter
from hub.domain.collaboration import Collaboration, to_document
from hub.domain.errors import Conflict, Forbidden, HubError, NotFound
from hub.domain.tenancy import Tenant
from hub.ports import UnitOfWorkFactory
from hub.services.anchoring.service import AnchorService
from hub.services.audit.log import AuditLog, AuditLogRef
from hub.services.audit.receipts import ReceiptService
from hub.services.collaboration.messaging import EVIDENCE_REQUEST, Incoming, Messenger
from hub.services.collaboration.organisations import Organisations
from hub.services.collaboration.service import CollaborationService
from hub.services.tenancy.tenants import TenantService

KIND = "collaboration-receipt"
MAX_ENTRIES = 2000


class CollaborationReceipts:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        audit: AuditLog,
        receipts: ReceiptService,
        anchors: AnchorService,
        organisations: Organisations,
        collaborations: CollaborationService,
        messenger: Messenger,
        tenants: TenantService,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._receipts = receipts
        self._anchors = anchors
        self._orgs = organisations
        self._collaborations = collaborations
        self._messenger = messenger
        self._tenants = tenants
        messenger.answer(EVIDENCE_REQUEST, self._on_evidence_request)

    async def bundle(self, tenant: Tenant, collab_id: str) -> dict[str, Any]:
        """The whole receipt; 409 while some participant's entries wait for their anchor
        (it is being made: ask again shortly)."""
        collab = await self._collaborations.get(tenant, collab_id)
        me = await self._orgs.org_id(tenant.id)
        parts = [await self.part(tenant, collab)]
        for participant in collab.participants:
            if participant.org_id != me:
                parts.append(await self._ask(tenant, collab, participant.org_id))
        return {"kind": KIND, "version": 1, "collaboration": to_document(collab),
                "organisations": parts}  # fmt: skip

    async def part(self, tenant: Tenant, collab: Collaboration) -> dict[str, Any]:
        """This organisation's entries about `collab`, each with its receipt."""
        ref = AuditLogRef(tenant.id, tenant.slug)
        where = AuditFilter(resource_type="collaboration", resource_id=collab.id)
        async with self._uow() as uow:
            rows = await uow.audit.search(ref.log_id, where, None, MAX_ENTRIES)
        seqs = sorted(r.seq for r in rows)
        if not seqs:
            raise NotFound(f"no audit entries of collaboration {collab.id}")
        receipts = []
        for seq in seqs:
            try:
                receipts.append(await self._receipts.for_entry(tenant, seq))
            except Conflict:  # not in an anchored tree yet: anchor the log now
                await self._anchors.anchor_now(tenant, SYSTEM)
                try:
                    receipts.append(await self._receipts.for_entry(tenant, seq))
                except Conflict as exc:
                    raise Conflict(f"{tenant.slug}: {exc.detail}; ask again shortly") from None
        public = await self._orgs.public(tenant.id)
        return {
            "org_id": public.org_id,
            "name": tenant.name,
            "signing_key": public.signing_jwk,
            "audit_public_key": self._audit.public_key(),
            "receipts": receipts,
        }

    async def _ask(self, tenant: Tenant, collab: Collaboration, org_id: str) -> dict[str, Any]:
        """`org_id`'s part, asked of its hub; a participant that is not this organisation's
        partner (two participants that only know the initiator) is asked through the
        initiator, which is everyone's partner. A relayed part proves itself: its heads
        are signed by its own hub's audit key."""
        async with self._uow() as uow:
            partner = await uow.collaboration.partner_by_org(tenant.id, org_id)
        me = await self._orgs.org_id(tenant.id)
        data: dict[str, Any] = {"collaboration_id": collab.id}
        via = org_id
        if partner is None or not partner.active:
            if collab.initiator == me:
                raise Conflict(f"organisation {org_id} is no longer an active partner")
            via, data = collab.initiator, {**data, "org_id": org_id}
        status, answer = await self._messenger.signed_request(
            tenant.id, via, await self._url(tenant, via), EVIDENCE_REQUEST, data
        )
        detail = answer.get("detail", "no answer") if isinstance(answer, dict) else "no answer"
        if status == 409:
            raise Conflict(f"{org_id}: {detail}")
        if not 200 <= status < 300 or not isinstance(answer.get("evidence"), dict):
            raise Conflict(f"organisation {org_id} gave no evidence ({status}: {detail})")
        part: dict[str, Any] = answer["evidence"]
        if part.get("org_id") != org_id:
            raise Conflict(f"organisation {org_id} answered for another organisation")
        return part

    async def _url(self, tenant: Tenant, org_id: str) -> str:
        if await self._orgs.tenant_of(org_id) is not None:
            return self._orgs.endpoint_url(org_id)
        async with self._uow() as uow:
            partner = await uow.collaboration.partner_by_org(tenant.id, org_id)
        if partner is None:
            raise Conflict(f"organisation {org_id} is not a partner")
        return partner.endpoint_url

    async def _on_evidence_request(self, msg: Incoming) -> dict[str, Any]:
        data = msg.event.get("data") or {}
        collab_id = str(data.get("collaboration_id"))
        slugs = await self._tenants.slugs([msg.tenant_id])
        tenant = await self._tenants.get(slugs[msg.tenant_id])
        try:
            collab = await self._collaborations.get(tenant, collab_id)
        except NotFound:
            raise NotFound(f"collaboration {collab_id!r} not found") from None
        if collab.participant(msg.sender) is None:  # only participants get the evidence
            raise NotFound(f"collaboration {collab_id!r} not found")
        relayed = data.get("org_id")
        me = await self._orgs.org_id(tenant.id)
        try:
            if relayed is not None and relayed != me:  # the initiator asks on their behalf
                if collab.initiator != me or collab.participant(str(relayed)) is None:
                    raise NotFound(f"collaboration {collab_id!r} not found")
                return {"evidence": await self._ask(tenant, collab, str(relayed))}
            return {"evidence": await self.part(tenant, collab)}
        except HubError:
            raise
        except Exception as exc:  # a chain away: the asker retries
            raise Forbidden(f"evidence unavailable: {type(exc).__name__}") from None
