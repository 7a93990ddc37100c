"""Anchors of audit tree heads on a chain.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.tables.base import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big = sa.BigInteger()
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("log_id", sa.String(32), nullable=False),
        sa.Column("tree_size", big, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("chain_id", big, nullable=True),
        sa.Column("contract", sa.String(42), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("nonce", big, nullable=True),
        sa.Column("block_number", big, nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resubmissions", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=True),
        sa.Column("confirmed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_anchors"),
    )
    op.create_index(
        "uq_audit_anchors_log_id_tree_size", "audit_anchors", ["log_id", "tree_size"], unique=True
    )
    op.create_index(
        "ix_audit_anchors_status_next_attempt_at", "audit_anchors", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_audit_anchors_status_next_attempt_at", "audit_anchors")
    op.drop_index("uq_audit_anchors_log_id_tree_size", "audit_anchors")
    op.drop_table("audit_anchors")
