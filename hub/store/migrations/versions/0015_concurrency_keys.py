"""Concurrency keys: the run's key, its index, and `queued` among the runs in flight.

Runs of a definition with `concurrency` store their rendered key; runs stored before
(and runs of other definitions) keep NULL and are never queued. The partial index of
runs in flight (the hub_runs gauge) is built again with `queued` in its condition.

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Written out here, not imported: a migration keeps the schema of its own day.
LIVE_RUNS_BEFORE = sa.text("status IN ('running', 'waiting', 'suspended')")
LIVE_RUNS = sa.text("status IN ('queued', 'running', 'waiting', 'suspended')")
HAS_CONCURRENCY_KEY = sa.text("concurrency_key IS NOT NULL")
CONCURRENCY_COLUMNS = ["status", "tenant_id", "workflow", "concurrency_key", "created_at", "id"]


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("concurrency_key", sa.String(200), nullable=True))
    op.create_index(
        "ix_workflow_runs_concurrency",
        "workflow_runs",
        CONCURRENCY_COLUMNS,
        sqlite_where=HAS_CONCURRENCY_KEY,
        postgresql_where=HAS_CONCURRENCY_KEY,
    )
    _live_index(LIVE_RUNS)


def downgrade() -> None:
    # Queued runs never started: nothing of them would run without their key.
    op.execute("UPDATE workflow_runs SET status = 'cancelled' WHERE status = 'queued'")
    op.drop_index("ix_workflow_runs_concurrency", "workflow_runs")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("concurrency_key")
    _live_index(LIVE_RUNS_BEFORE)  # after SQLite's batch copy, which keeps no index predicate


def _live_index(condition: sa.TextClause) -> None:
    op.drop_index("ix_workflow_runs_live", "workflow_runs")
    op.create_index(
        "ix_workflow_runs_live",
        "workflow_runs",
        ["tenant_id", "workflow", "status"],
        sqlite_where=condition,
        postgresql_where=condition,
    )
