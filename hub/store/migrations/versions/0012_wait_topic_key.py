"""Event waits are looked up by topic key (indexed with the tenant), not read all per event.

Revision ID: 0012
Revises: 0010 (temporarily on branch h-waits; 0011 once merged)
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.engine.topics import wait_key
from hub.store.results import plain_rows

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_waits = sa.table(
    "workflow_waits",
    sa.column("run_id", sa.String()),
    sa.column("step", sa.String()),
    sa.column("topic", sa.String()),
    sa.column("topic_key", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("workflow_waits") as batch:
        batch.add_column(sa.Column("topic_key", sa.String(256), nullable=True))
    _backfill()
    with op.batch_alter_table("workflow_waits") as batch:
        batch.alter_column("topic_key", existing_type=sa.String(256), nullable=False)
        batch.create_index("ix_workflow_waits_topic_key_tenant_id", ["topic_key", "tenant_id"])


def _backfill() -> None:
    """The key of every wait stored before this revision."""
    conn = op.get_bind()
    rows = plain_rows(conn.execute(sa.select(_waits.c.run_id, _waits.c.step, _waits.c.topic)))
    if rows:
        conn.execute(
            _waits.update()
            .where(_waits.c.run_id == sa.bindparam("r"), _waits.c.step == sa.bindparam("s"))
            .values(topic_key=sa.bindparam("k")),
            [{"r": run_id, "s": step, "k": wait_key(topic)} for run_id, step, topic in rows],
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_waits") as batch:
        batch.drop_index("ix_workflow_waits_topic_key_tenant_id")
        batch.drop_column("topic_key")
