"""Workflow waits: runs waiting for an event-bus topic.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_waits",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(1024), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "step", name="pk_workflow_waits"),
    )


def downgrade() -> None:
    op.drop_table("workflow_waits")
