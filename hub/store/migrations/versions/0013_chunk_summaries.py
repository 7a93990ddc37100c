"""Each telemetry chunk carries a summary of its usable samples (count, min, max, sum,
last value and its time), so a bucketed history takes whole chunks' figures in the
database instead of decoding every chunk. Chunks stored before have none (null) and are
decoded when read, until retention removes them; a partial index finds them (it holds
only those, so new chunks cost it nothing).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NUMBERS = ("v_min", "v_max", "v_sum", "v_last")


def upgrade() -> None:
    with op.batch_alter_table("telemetry_chunks") as batch:
        batch.add_column(sa.Column("usable", sa.Integer(), nullable=True))
        for name in NUMBERS:
            batch.add_column(sa.Column(name, sa.Double(), nullable=True))
        batch.add_column(sa.Column("v_last_ts", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_telemetry_chunks_unsummarised",
        "telemetry_chunks",
        ["series_id", "ts_last"],
        sqlite_where=sa.text("usable IS NULL"),
        postgresql_where=sa.text("usable IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_telemetry_chunks_unsummarised", "telemetry_chunks")
    with op.batch_alter_table("telemetry_chunks") as batch:
        for name in ("usable", *NUMBERS, "v_last_ts"):
            batch.drop_column(name)
