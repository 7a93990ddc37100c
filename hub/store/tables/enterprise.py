"""Each tenant's ERP connections (issue 15, item 1)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from hub.store.tables.base import Timestamp, metadata

# One row per connection, keyed by (tenant, name): the name is how the API, workflow steps
# and the sealed secrets' context name it.
enterprise_connections = Table(
    "enterprise_connections",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("config", Text, nullable=False),  # JSON: version, auth (no secret), headers...
    Column("secrets", Text, nullable=False),  # JSON: secret field -> sealed value, never clear
    Column("revision", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)
