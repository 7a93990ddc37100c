"""Cross-organisation collaboration (issue 18): organisation keys, partners,
collaborations, and the messages between organisations (outbox and inbox)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hub.store.tables.base import Timestamp, metadata

# One row per tenant: its organisation's keys, the private part sealed (hub.ports.Sealer).
organisation_keys = Table(
    "organisation_keys",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("org_id", String(64), nullable=False, unique=True),
    Column("public", Text, nullable=False),  # JSON: PublicOrganisationKeys.as_document()
    Column("sealed", Text, nullable=False),  # JSON: the sealed private keys
    Column("created_at", Timestamp, nullable=False),
)

partners = Table(
    "partners",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("org_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("domain", String(253), nullable=False),
    Column("endpoint_url", Text, nullable=False),
    Column("keys", Text, nullable=False),  # JSON
    Column("capabilities", Text, nullable=False),  # JSON list
    Column("status", String(16), nullable=False),
    Column("suspended_by", String(8), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("tenant_id", "org_id", name="uq_partners_tenant_id_org_id"),
)

collaborations = Table(
    "collaborations",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("initiator", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),  # JSON: hub.domain.collaboration.to_document
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_collaborations_tenant_id_status", "tenant_id", "status"),
)

# Data a partner exchanged with this organisation: kept as it arrived (a JWE for us).
collaboration_data = Table(
    "collaboration_data",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("collaboration_id", String(32), primary_key=True),
    Column("task_id", String(64), primary_key=True),
    Column("source_org", String(64), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("payload", Text, nullable=False),  # JSON: {"jwe": ...} or {"data": ...}
    Column("received_at", Timestamp, nullable=False),
)

# Messages to send, one row per target organisation, in the order they were written.
federation_outbox = Table(
    "federation_outbox",
    metadata,
    Column(
        "n", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True
    ),
    Column("tenant_id", String(32), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("target_org", String(64), nullable=False),
    Column("stream", String(64), nullable=False),  # the collaboration (ordering), or ""
    Column("type", String(128), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the CloudEvent as sent
    Column("created_at", Timestamp, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("delivered_at", Timestamp, nullable=True),
    Column("failed", Text, nullable=True),  # why it was given up (a 4xx from the partner)
    Column("last_error", Text, nullable=True),
    UniqueConstraint(
        "tenant_id", "event_id", "target_org", name="uq_federation_outbox_tenant_id_event_id"
    ),
    Index("ix_federation_outbox_due", "delivered_at", "next_attempt_at"),
)

# Messages received: an event id is taken once per sender (retransmissions are answered,
# not applied again); the nonce tells a retransmission from a replayed capture.
federation_inbox = Table(
    "federation_inbox",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("source_org", String(64), primary_key=True),
    Column("event_id", String(256), primary_key=True),
    Column("nonces", Text, nullable=False),  # JSON list of the signatures' nonces seen
    Column("received_at", Timestamp, nullable=False),
)
