"""PLC connectivity: devices, tags, telemetry sample chunks, alarms and their journal.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.store.tables.base import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _serial() -> sa.types.TypeEngine[int]:
    return sa.Integer().with_variant(sa.BigInteger(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "plc_devices",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plc_devices")),
    )
    op.create_index("uq_plc_devices_tenant_name", "plc_devices", ["tenant_id", "name"], unique=True)
    op.create_table(
        "plc_tags",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plc_tags")),
    )
    op.create_index("uq_plc_tags_device_name", "plc_tags", ["device_id", "name"], unique=True)
    op.create_table(
        "telemetry_chunks",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("ts_first", sa.BigInteger(), nullable=False),
        sa.Column("ts_last", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("ts", sa.LargeBinary(), nullable=False),
        sa.Column("vals", sa.LargeBinary(), nullable=True),
        sa.Column("texts", sa.Text(), nullable=True),
        sa.Column("quality", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_chunks")),
    )
    op.create_index("ix_telemetry_chunks_series_last", "telemetry_chunks", ["series_id", "ts_last"])
    op.create_table(
        "alarms",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("condition", sa.String(16), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("since", UtcDateTime(), nullable=True),
        sa.Column("shelved_until", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    op.create_index("ix_alarms_tenant_id_state", "alarms", ["tenant_id", "state"])
    op.create_table(
        "alarm_journal",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("alarm_id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("old_state", sa.String(32), nullable=False),
        sa.Column("new_state", sa.String(32), nullable=False),
        sa.Column("condition", sa.String(16), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("limit", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_journal")),
    )
    op.create_index("ix_alarm_journal_alarm_id", "alarm_journal", ["alarm_id", "id"])


def downgrade() -> None:
    op.drop_table("alarm_journal")
    op.drop_table("alarms")
    op.drop_table("telemetry_chunks")
    op.drop_table("plc_tags")
    op.drop_table("plc_devices")
