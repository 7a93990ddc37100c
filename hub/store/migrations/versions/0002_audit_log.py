"""Audit log: entries, complete subtree hashes and signed tree heads per log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.tables.base import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_logs",
        sa.Column("log_id", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", name="pk_audit_logs"),
    )
    op.create_table(
        "audit_entries",
        sa.Column("log_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "seq", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_log_id_ts", "audit_entries", ["log_id", "ts"])
    op.create_index("ix_audit_entries_log_id_actor", "audit_entries", ["log_id", "actor"])
    op.create_index(
        "ix_audit_entries_log_id_resource",
        "audit_entries",
        ["log_id", "resource_type", "resource_id"],
    )
    op.create_table(
        "audit_nodes",
        sa.Column("log_id", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "level", "idx", name="pk_audit_nodes"),
    )
    op.create_table(
        "audit_heads",
        sa.Column("log_id", sa.String(32), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.String(40), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "tree_size", name="pk_audit_heads"),
    )


def downgrade() -> None:
    op.drop_table("audit_heads")
    op.drop_table("audit_nodes")
    op.drop_index("ix_audit_entries_log_id_resource", "audit_entries")
    op.drop_index("ix_audit_entries_log_id_actor", "audit_entries")
    op.drop_index("ix_audit_entries_log_id_ts", "audit_entries")
    op.drop_table("audit_entries")
    op.drop_table("audit_logs")
