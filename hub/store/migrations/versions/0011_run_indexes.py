"""Indexes whose cost does not grow with stored runs (issue 13, item 5).

The runs list walks one index per filter combination in id order and stops at its page
(it sorted every run of the tenant); the hub_runs gauge counts the runs in flight from a
partial index of only those; retention finds a finished run's children and user tasks by
index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Written out here, not imported: a migration keeps the schema of its own day.
LIVE_RUNS = sa.text("status IN ('running', 'waiting', 'suspended')")
HAS_PARENT = sa.text("parent_run_id IS NOT NULL")
PAGING = {
    "ix_workflow_runs_tenant_id_id": ["tenant_id", "id"],
    "ix_workflow_runs_tenant_id_status_id": ["tenant_id", "status", "id"],
    "ix_workflow_runs_tenant_id_workflow_id": ["tenant_id", "workflow", "id"],
    "ix_workflow_runs_tenant_id_status_workflow_id": ["tenant_id", "status", "workflow", "id"],
}


def upgrade() -> None:
    for name, columns in PAGING.items():
        op.create_index(name, "workflow_runs", columns)
    # (tenant_id, status, id) serves every query (tenant_id, status) did
    op.drop_index("ix_workflow_runs_tenant_id_status", "workflow_runs")
    op.create_index(
        "ix_workflow_runs_live",
        "workflow_runs",
        ["tenant_id", "workflow", "status"],
        sqlite_where=LIVE_RUNS,
        postgresql_where=LIVE_RUNS,
    )
    op.create_index(
        "ix_workflow_runs_parent_run_id",
        "workflow_runs",
        ["parent_run_id"],
        sqlite_where=HAS_PARENT,
        postgresql_where=HAS_PARENT,
    )
    op.create_index("ix_user_tasks_run_id", "user_tasks", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_user_tasks_run_id", "user_tasks")
    op.drop_index("ix_workflow_runs_parent_run_id", "workflow_runs")
    op.drop_index("ix_workflow_runs_live", "workflow_runs")
    op.create_index("ix_workflow_runs_tenant_id_status", "workflow_runs", ["tenant_id", "status"])
    for name in reversed(PAGING):
        op.drop_index(name, "workflow_runs")
