"""Workflows: definitions, runs, their event history, tasks, user tasks, cron marks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:39:00.221238
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.tables.base import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("form", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("candidate_groups", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("values", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_tasks")),
    )
    with op.batch_alter_table("user_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_user_tasks_tenant_id_status", ["tenant_id", "status"], unique=False
        )

    op.create_table(
        "workflow_cron_marks",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_fired", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "workflow", "trigger", name=op.f("pk_workflow_cron_marks")
        ),
    )
    op.create_table(
        "workflow_definitions",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("patch", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "name", "version", name=op.f("pk_workflow_definitions")
        ),
    )
    op.create_table(
        "workflow_events",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_workflow_events")),
    )
    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("current_steps", sa.Text(), nullable=False),
        sa.Column("next_seq", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("parent_run_id", sa.String(length=32), nullable=True),
        sa.Column("parent_step", sa.String(length=64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
    )
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_runs_tenant_id_status", ["tenant_id", "status"], unique=False
        )
        batch_op.create_index(
            "uq_workflow_runs_idempotency", ["tenant_id", "idempotency_key"], unique=True
        )

    op.create_table(
        "workflow_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_tasks")),
    )
    with op.batch_alter_table("workflow_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_tasks_due", ["due_at", "priority"], unique=False)
        batch_op.create_index(batch_op.f("ix_workflow_tasks_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_tasks_run_id"))
        batch_op.drop_index("ix_workflow_tasks_due")

    op.drop_table("workflow_tasks")
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_workflow_runs_idempotency")
        batch_op.drop_index("ix_workflow_runs_tenant_id_status")

    op.drop_table("workflow_runs")
    op.drop_table("workflow_events")
    op.drop_table("workflow_definitions")
    op.drop_table("workflow_cron_marks")
    with op.batch_alter_table("user_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_user_tasks_tenant_id_status")

    op.drop_table("user_tasks")
