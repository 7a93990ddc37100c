"""The egress rules of each tenant (issue 12, item 3).

They share `metadata` with hub/store/tables/core.py, which imports this module at its end so
that every table is known wherever the metadata is.
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from hub.store.tables.base import Timestamp, metadata

# One row per tenant that set rules; no row: the platform's list as it is.
tenant_egress = Table(
    "tenant_egress",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("mode", String(16), nullable=False),  # inherit | only_listed
    Column("allow", Text, nullable=False),  # JSON list of entries
    Column("deny", Text, nullable=False),  # JSON list of entries
    Column("updated_at", Timestamp, nullable=False),
    Column("updated_by", String(64), nullable=False),
)
