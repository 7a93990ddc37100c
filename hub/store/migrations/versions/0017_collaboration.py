"""Cross-organisation collaboration (issue 18): organisation keys, partners,
collaborations, exchanged data, and the federation outbox and inbox.

Revision ID: 0017
Revises: 0016
Create Date: 2027-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.tables.base import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation_keys",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("public", sa.Text(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_organisation_keys"),
        sa.UniqueConstraint("org_id", name="uq_organisation_keys_org_id"),
    )
    op.create_table(
        "partners",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("endpoint_url", sa.Text(), nullable=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.Column("capabilities", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suspended_by", sa.String(8), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_partners"),
        sa.UniqueConstraint("tenant_id", "org_id", name="uq_partners_tenant_id_org_id"),
    )
    op.create_table(
        "collaborations",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("initiator", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_collaborations"),
    )
    op.create_index("ix_collaborations_tenant_id_status", "collaborations", ["tenant_id", "status"])
    op.create_table(
        "collaboration_data",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("collaboration_id", sa.String(32), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("source_org", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "collaboration_id", "task_id", name="pk_collaboration_data"
        ),
    )
    op.create_table(
        "federation_outbox",
        sa.Column(
            "n",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("target_org", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("failed", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("n", name="pk_federation_outbox"),
        sa.UniqueConstraint(
            "tenant_id", "event_id", "target_org", name="uq_federation_outbox_tenant_id_event_id"
        ),
    )
    op.create_index(
        "ix_federation_outbox_due", "federation_outbox", ["delivered_at", "next_attempt_at"]
    )
    op.create_table(
        "federation_inbox",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("source_org", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("nonces", sa.Text(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "source_org", "event_id", name="pk_federation_inbox"),
    )


def downgrade() -> None:
    for table in ("federation_inbox", "federation_outbox", "collaboration_data",
                  "collaborations", "partners", "organisation_keys"):  # fmt: skip
        op.drop_table(table)
