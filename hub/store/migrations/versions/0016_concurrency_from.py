"""Concurrency `from`: since when a keyed run holds or waits for its key's slot.

A definition's `concurrency.from` names the step from which its runs hold their key;
such a run takes its place in the key's queue when it reaches that step, not when it is
created. `concurrency_since` keeps that moment (the queue's order); runs holding their
key from their start have their creation there, as the runs stored before do (backfilled
here). The index of keyed runs orders the queue by it.

Revision ID: 0016
Revises: 0015
Create Date: 2027-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.tables.base import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Written out here, not imported: a migration keeps the schema of its own day.
HAS_CONCURRENCY_KEY = sa.text("concurrency_key IS NOT NULL")
LIVE_RUNS = sa.text("status IN ('queued', 'running', 'waiting', 'suspended')")
BEFORE = ["status", "tenant_id", "workflow", "concurrency_key", "created_at", "id"]
AFTER = ["status", "tenant_id", "workflow", "concurrency_key", "concurrency_since", "id"]


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("concurrency_since", UtcDateTime(), nullable=True))
    op.execute(
        "UPDATE workflow_runs SET concurrency_since = created_at WHERE concurrency_key IS NOT NULL"
    )
    _index(AFTER)


def downgrade() -> None:
    # Runs waiting at their `from` step would start nothing without it: they are
    # cancelled, as 0015's downgrade cancels queued runs.
    op.execute(
        "UPDATE workflow_runs SET status = 'cancelled' WHERE status = 'queued' AND next_seq > 1"
    )
    op.drop_index("ix_workflow_runs_concurrency", "workflow_runs")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("concurrency_since")
    _create_index(BEFORE)
    # SQLite's batch copy keeps no index predicate: the index of runs in flight again
    op.drop_index("ix_workflow_runs_live", "workflow_runs")
    op.create_index(
        "ix_workflow_runs_live",
        "workflow_runs",
        ["tenant_id", "workflow", "status"],
        sqlite_where=LIVE_RUNS,
        postgresql_where=LIVE_RUNS,
    )


def _index(columns: list[str]) -> None:
    op.drop_index("ix_workflow_runs_concurrency", "workflow_runs")
    _create_index(columns)


def _create_index(columns: list[str]) -> None:
    op.create_index(
        "ix_workflow_runs_concurrency",
        "workflow_runs",
        columns,
        sqlite_where=HAS_CONCURRENCY_KEY,
        postgresql_where=HAS_CONCURRENCY_KEY,
    )
