"""Event waits may carry a match: the payload fields an event must have to wake the run.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_waits") as batch:
        batch.add_column(sa.Column("match", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_waits") as batch:
        batch.drop_column("match")
