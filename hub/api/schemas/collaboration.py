"""Collaboration (issue 18): the bodies of /api/v1/tenants/{tenant}/organisation,
.../partners[...] and .../collaborations[...]. Request bodies are read by the handlers and
checked by the domain (hub/domain/collaboration.py, hub/services/collaboration/partners.py),
which name every problem; these Structs document them."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from hub.domain.collaboration import Collaboration, Partner, to_document


class OrganisationOut(msgspec.Struct):
    name: str
    domain: str
    org_id: str  # RFC 7638 thumbprint of the signing key: the organisation's global id
    public_key: str  # the Ed25519 public key, base64url
    signing_key: dict[str, Any]  # the same, as a JWK
    encryption_key: dict[str, Any]  # X25519 JWK: data exchanged with you is encrypted to it
    endpoint_url: str  # where partner hubs send you signed CloudEvents
    capabilities: list[str]


class PartnerIn(msgspec.Struct):
    """Another organisation, from its `GET .../organisation` document."""

    name: str
    domain: str
    endpoint_url: str
    public_key: str
    encryption_key: dict[str, Any]
    capabilities: list[str] = []


class PartnerOut(msgspec.Struct):
    id: str
    org_id: str
    name: str
    domain: str
    endpoint_url: str
    capabilities: list[str]
    status: Literal["invited", "pending", "active", "suspended"]
    suspended_by: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, p: Partner) -> PartnerOut:
        return cls(
            p.id, p.org_id, p.name, p.domain, p.endpoint_url, list(p.capabilities),
            p.status.value,
            p.suspended_by, p.created_at.isoformat(), p.updated_at.isoformat(),
        )  # fmt: skip


class PartnerList(msgspec.Struct):
    items: list[PartnerOut]


class ParticipantIn(msgspec.Struct):
    organisation: str  # an active partner's org_id, or "self"
    role: Literal["initiator", "participant"] = "participant"
    can_terminate: bool = False
    need_activity_notifications: bool = False


class CollaborationTaskIn(msgspec.Struct):
    id: str
    type: Literal["activity", "approval", "data_exchange", "notification"]
    assigned_to: str  # a participant's org_id, or "self"
    title: str | None = None
    parameters: dict[str, Any] = {}
    timeout_s: int = 3600
    retries: int = 0
    target_orgs: list[str] | None = None  # data_exchange, notification
    data_schema: dict[str, Any] | None = None  # data_exchange: JSON Schema of the payload
    share_fields: list[str] | None = None  # data_exchange: the fields that may leave
    encryption_required: bool = True  # data_exchange
    message: str | None = None  # notification
    requires_acknowledgment: bool = False  # notification


class CollaborationIn(msgspec.Struct):
    name: str
    participants: list[ParticipantIn]
    tasks: list[CollaborationTaskIn]


class CollaborationOut(msgspec.Struct):
    id: str
    name: str
    initiator: str
    status: Literal["created", "ready", "in_progress", "completed", "failed", "terminated"]
    version: int
    created_at: str
    updated_at: str
    reason: str | None
    terminated_by: str | None
    joined: list[str]
    participants: list[dict[str, Any]]
    tasks: list[dict[str, Any]]

    @classmethod
    def of(cls, c: Collaboration) -> CollaborationOut:
        return msgspec.convert(to_document(c), cls)


class CollaborationList(msgspec.Struct):
    items: list[CollaborationOut]


class TaskResultIn(msgspec.Struct):
    """approval: {approval_decision: approved|rejected, comments}; data_exchange: the
    payload (checked against the task's data_schema); activity: any object; notification:
    {} (an acknowledgement)."""

    result: dict[str, Any] = {}


class TerminateIn(msgspec.Struct):
    reason: str


class ExchangedData(msgspec.Struct):
    task_id: str
    source_org: str
    event_id: str
    received_at: str
    encrypted: bool
    data: Any  # decrypted for this organisation


class ExchangedDataList(msgspec.Struct):
    items: list[ExchangedData]


class MessagesIn(msgspec.Struct):
    """Direct messages: each a JSON object (at most 64 KiB), sent as one signed
    CloudEvent (type org.industrialhub.direct_message) through the outbox."""

    messages: list[dict[str, Any]]


class MessagesOut(msgspec.Struct):
    event_ids: list[str]


class OrganisationEvidence(msgspec.Struct):
    """One participant's part: its audit entries about the collaboration, each an audit
    receipt (entry, proof, signed head, anchor) as GET .../audit/{seq}/receipt gives it."""

    org_id: str
    name: str
    signing_key: dict[str, Any]
    audit_public_key: dict[str, Any]
    receipts: list[dict[str, Any]]


class CollaborationReceipt(msgspec.Struct):
    kind: Literal["collaboration-receipt"]
    version: int
    collaboration: dict[str, Any]
    organisations: list[OrganisationEvidence]


class InboxAnswer(msgspec.Struct, omit_defaults=True):
    """202: the message was taken (`accepted`, its `id`, what the handler made of it in
    `status`); 200: a retransmission already taken (`duplicate`), or the answer to a
    request (`evidence`)."""

    accepted: bool | None = None
    duplicate: bool | None = None
    id: str | None = None
    status: str | None = None
    evidence: dict[str, Any] | None = None
