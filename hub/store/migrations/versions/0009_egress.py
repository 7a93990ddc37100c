"""Egress rules per tenant (issue 12, item 3).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.tables.base import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_egress",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("allow", sa.Text(), nullable=False),
        sa.Column("deny", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_egress"),
    )


def downgrade() -> None:
    op.drop_table("tenant_egress")
