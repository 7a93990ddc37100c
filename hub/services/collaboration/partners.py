"""Partner organisations: registered by each side and activated by an exchange of signed
messages (both sides confirm); either side suspends and resumes.

    A registers B  -> A: pending,  invitation A->B  -> B: invited (trusted for nothing)
    B accepts A (or registers A with the same key) -> B: active, acceptance B->A -> A: active

An invitation is signed by the key it brings (its thumbprint is the organisation id it
claims), so B learns A's key from A's own signature, and B's administrator confirms it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from hub.domain.audit import AuditEvent, RequestContext
from hub.domain.collaboration import Partner, PartnerStatus
from hub.domain.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from hub.domain.ids import is_id, new_id
from hub.domain.tenancy import Tenant
from hub.ports import Clock, UnitOfWorkFactory
from hub.ports.unit_of_work import UnitOfWork
from hub.security.federation import FederationError, PublicOrganisationKeys
from hub.services.audit.log import AuditLog
from hub.services.collaboration.messaging import (
    DIRECT_MESSAGE,
    PARTNER_ACCEPTANCE,
    PARTNER_INVITATION,
    PARTNER_RESUMPTION,
    PARTNER_SUSPENSION,
    Handled,
    Incoming,
    Messenger,
)
from hub.services.collaboration.organisations import Organisations

MAX_MESSAGES = 1000  # direct messages in one request
MAX_MESSAGE_BYTES = 64 * 1024
MAX_INVITATIONS = 100  # unconfirmed invitations a tenant keeps (an unknown sender's spam)
FIELDS = frozenset(
    {
        "name",
        "domain",
        "endpoint_url",
        "public_key",
        "encryption_key",
        "capabilities",
        "org_id",
        "signing_key",
    }
)


def _text(body: dict[str, Any], key: str, limit: int, problems: list[FieldProblem]) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        problems.append(FieldProblem(key, f"a non-empty string of at most {limit} characters"))
        return ""
    return value.strip()


def _endpoint(value: str, problems: list[FieldProblem]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        problems.append(FieldProblem("endpoint_url", "an http(s) URL"))
    return value


def parse_partner(
    body: dict[str, Any],
) -> tuple[str, str, str, PublicOrganisationKeys, tuple[str, ...]]:
    problems: list[FieldProblem] = []
    unknown = set(body) - FIELDS
    if unknown:
        problems.append(FieldProblem("body", f"unknown fields: {', '.join(sorted(unknown))}"))
    name = _text(body, "name", 200, problems)
    domain = _text(body, "domain", 253, problems)
    endpoint = _endpoint(_text(body, "endpoint_url", 2000, problems), problems)
    capabilities = body.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(
        isinstance(c, str) and 0 < len(c) <= 64 for c in capabilities
    ) or len(capabilities) > 32:  # fmt: skip
        problems.append(FieldProblem("capabilities", "a list of at most 32 names"))
        capabilities = []
    keys: PublicOrganisationKeys | None = None
    try:
        keys = PublicOrganisationKeys.from_document(
            {"public_key": body.get("public_key"), "encryption_key": body.get("encryption_key")}
        )
    except FederationError as exc:
        problems.append(FieldProblem("public_key", exc.reason))
    if problems or keys is None:
        raise ValidationFailed(problems)
    return name, domain, endpoint, keys, tuple(capabilities)


class PartnerService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        organisations: Organisations,
        messenger: Messenger,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self._orgs = organisations
        self._messenger = messenger
        messenger.handle(PARTNER_INVITATION, self._on_invitation)
        messenger.handle(PARTNER_ACCEPTANCE, self._on_acceptance)
        messenger.handle(PARTNER_SUSPENSION, self._on_suspension)
        messenger.handle(PARTNER_RESUMPTION, self._on_resumption)
        messenger.handle(DIRECT_MESSAGE, self._on_direct_message)

    async def all(self, tenant: Tenant) -> list[Partner]:
        async with self._uow() as uow:
            return await uow.collaboration.partners(tenant.id)

    async def get(self, tenant: Tenant, partner_id: str) -> Partner:
        if not is_id(partner_id):
            raise NotFound(f"partner {partner_id!r} not found")
        async with self._uow() as uow:
            found = await uow.collaboration.partner(tenant.id, partner_id)
        if found is None:
            raise NotFound(f"partner {partner_id!r} not found")
        return found

    async def register(self, tenant: Tenant, body: dict[str, Any], ctx: RequestContext) -> Partner:
        name, domain, endpoint, keys, capabilities = parse_partner(body)
        me = await self._orgs.org_id(tenant.id)
        if keys.org_id == me:
            raise ValidationFailed([FieldProblem("public_key", "is your own organisation's")])
        now = self._clock.now()
        async with self._uow(write=True) as uow:
            found = await uow.collaboration.partner_by_org(tenant.id, keys.org_id)
            if found is not None and found.status is not PartnerStatus.INVITED:
                raise Conflict(f"organisation {keys.org_id} is already a partner ({found.id})")
            partner = Partner(
                tenant_id=tenant.id,
                id=found.id if found else new_id(),
                org_id=keys.org_id,
                name=name,
                domain=domain,
                endpoint_url=endpoint,
                keys=keys.as_document(),
                capabilities=capabilities,
                status=PartnerStatus.ACTIVE if found else PartnerStatus.PENDING,
                suspended_by=None,
                created_at=found.created_at if found else now,
                updated_at=now,
            )
            await uow.collaboration.save_partner(partner, new=found is None)
            await self._tell(
                uow, tenant, partner, PARTNER_ACCEPTANCE if found else PARTNER_INVITATION
            )
            await self._record(uow, tenant, ctx, "partner.register", partner)
            await uow.commit()
        self._messenger.wake()
        return partner

    async def accept(self, tenant: Tenant, partner_id: str, ctx: RequestContext) -> Partner:
        """Confirm an invitation (after checking its organisation id out of band)."""
        return await self._change(tenant, partner_id, ctx, "accept")

    async def suspend(self, tenant: Tenant, partner_id: str, ctx: RequestContext) -> Partner:
        return await self._change(tenant, partner_id, ctx, "suspend")

    async def resume(self, tenant: Tenant, partner_id: str, ctx: RequestContext) -> Partner:
        return await self._change(tenant, partner_id, ctx, "resume")

    async def _change(
        self, tenant: Tenant, partner_id: str, ctx: RequestContext, action: str
    ) -> Partner:
        await self.get(tenant, partner_id)  # 404 first
        async with self._uow(write=True) as uow:
            partner = await uow.collaboration.partner(tenant.id, partner_id)
            assert partner is not None
            changed, message = _changed(partner, action)
            changed = replace(changed, updated_at=self._clock.now())
            await uow.collaboration.save_partner(changed, new=False)
            await self._tell(uow, tenant, changed, message)
            await self._record(uow, tenant, ctx, f"partner.{action}", changed)
            await uow.commit()
        self._messenger.wake()
        return changed

    async def send_messages(
        self, tenant: Tenant, partner_id: str, messages: Any, ctx: RequestContext
    ) -> list[str]:
        """Direct messages (the design's DirectMessage) to an active partner, each signed,
        audited on both sides and delivered through the outbox; their event ids."""
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            raise ValidationFailed([FieldProblem("messages", f"a list of 1 to {MAX_MESSAGES}")])
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or len(json.dumps(message)) > MAX_MESSAGE_BYTES:
                raise ValidationFailed(
                    [FieldProblem(f"messages[{i}]", f"an object of at most {MAX_MESSAGE_BYTES} B")]
                )
        partner = await self.get(tenant, partner_id)
        if not partner.active:
            raise Conflict(f"partner {partner_id} is {partner.status.value}")
        async with self._uow(write=True) as uow:
            ids = [
                await self._messenger.enqueue(
                    uow, tenant.id, [partner.org_id], DIRECT_MESSAGE, message, ctx=ctx
                )
                for message in messages
            ]
            await uow.commit()
        self._messenger.wake()
        return ids

    async def _on_direct_message(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        return Handled({"status": "received"})  # the inbox row and audit entry are the record

    async def _tell(self, uow: UnitOfWork, tenant: Tenant, partner: Partner, kind: str) -> None:
        data: dict[str, Any] = {"organisation": await self._orgs.document(tenant)}
        await self._messenger.enqueue(uow, tenant.id, [partner.org_id], kind, data)

    async def _record(
        self, uow: UnitOfWork, tenant: Tenant, ctx: RequestContext, action: str, partner: Partner
    ) -> None:
        details = {"org_id": partner.org_id, "name": partner.name, "status": partner.status.value}
        await self._audit.record(
            uow, [tenant.id], ctx, AuditEvent(action, "partner", partner.id, details=details)
        )

    # --- their side of the exchange -------------------------------------------------------

    async def _on_invitation(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        partner = msg.partner
        if partner is not None:
            if partner.status is PartnerStatus.PENDING:  # we registered them first
                await self._activate(uow, partner, msg.tenant_id)
            return Handled({"status": "known"})
        if await uow.collaboration.count_invitations(msg.tenant_id) >= MAX_INVITATIONS:
            raise Forbidden("too many unconfirmed invitations")
        doc = (msg.event.get("data") or {}).get("organisation") or {}
        try:
            name, domain, endpoint, keys, capabilities = parse_partner(
                {k: doc.get(k) for k in ("name", "domain", "endpoint_url", "capabilities")}
                | {
                    "public_key": msg.sender_keys.public_key,
                    "encryption_key": msg.sender_keys.encryption_jwk,
                }
            )
        except ValidationFailed as exc:
            raise ValidationFailed(exc.problems) from None
        now = self._clock.now()
        invited = Partner(
            tenant_id=msg.tenant_id,
            id=new_id(),
            org_id=keys.org_id,
            name=name,
            domain=domain,
            endpoint_url=endpoint,
            keys=keys.as_document(),
            capabilities=capabilities,
            status=PartnerStatus.INVITED,
            suspended_by=None,
            created_at=now,
            updated_at=now,
        )
        await uow.collaboration.save_partner(invited, new=True)
        return Handled({"status": "invited"})

    async def _activate(self, uow: UnitOfWork, partner: Partner, tenant_id: str) -> None:
        active = replace(partner, status=PartnerStatus.ACTIVE, updated_at=self._clock.now())
        await uow.collaboration.save_partner(active, new=False)

    async def _on_acceptance(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        partner = msg.partner
        if partner is None or partner.status is PartnerStatus.INVITED:
            raise Forbidden("this organisation has not invited you")
        if partner.status is PartnerStatus.PENDING:
            await self._activate(uow, partner, msg.tenant_id)
        return Handled({"status": "active"})

    async def _on_suspension(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        partner = msg.partner
        if partner is None or partner.status is PartnerStatus.INVITED:
            raise Forbidden("not a partner")
        if partner.status is PartnerStatus.ACTIVE:
            suspended = replace(
                partner,
                status=PartnerStatus.SUSPENDED,
                suspended_by="them",
                updated_at=self._clock.now(),
            )
            await uow.collaboration.save_partner(suspended, new=False)
        return Handled({"status": "suspended"})

    async def _on_resumption(self, uow: UnitOfWork, msg: Incoming) -> Handled:
        partner = msg.partner
        if partner is None or partner.status is PartnerStatus.INVITED:
            raise Forbidden("not a partner")
        if partner.status is PartnerStatus.SUSPENDED and partner.suspended_by == "them":
            await self._activate(uow, replace(partner, suspended_by=None), msg.tenant_id)
        return Handled({"status": "active"})


def _changed(partner: Partner, action: str) -> tuple[Partner, str]:
    status = partner.status
    if action == "accept":
        if status is not PartnerStatus.INVITED:
            raise Conflict(f"partner {partner.id} is {status.value}: nothing to accept")
        return replace(partner, status=PartnerStatus.ACTIVE), PARTNER_ACCEPTANCE
    if action == "suspend":
        if status is not PartnerStatus.ACTIVE:
            raise Conflict(
                f"partner {partner.id} is {status.value}: only an active one is suspended"
            )
        suspended = replace(partner, status=PartnerStatus.SUSPENDED, suspended_by="us")
        return suspended, PARTNER_SUSPENSION
    if status is not PartnerStatus.SUSPENDED or partner.suspended_by != "us":
        raise Conflict(f"partner {partner.id} is not suspended by your organisation")
    return replace(partner, status=PartnerStatus.ACTIVE, suspended_by=None), PARTNER_RESUMPTION
