"""Tables of industry packs (issue 7): installations, per-tenant policy lines, incidents.

They share `metadata` with hub/store/tables/core.py, which imports this module at its end so
that every table is known wherever the metadata is.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from hub.store.tables.base import Timestamp, metadata

# One row per (tenant, pack): what is installed, with which parameters (secrets kept as
# given, hashed ones as their digest) and what the install created (JSON).
pack_installations = Table(
    "pack_installations",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("pack", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # installed | uninstalled
    Column("parameters", Text, nullable=False),
    Column("resources", Text, nullable=False),
    Column("installed_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

# casbin p lines a pack adds in its tenant's domain.
tenant_policies = Table(
    "tenant_policies",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("pack", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("resource", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Index("ix_tenant_policies_tenant_id", "tenant_id", "pack"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("pack", String(64), nullable=False),
    Column("area", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # open | reviewed
    Column("severity", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON: the event, actions taken, outcome
    Column("opened_at", Timestamp, nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    Column("review", Text, nullable=True),  # JSON: outcome, comment, by, at
    Index("uq_incidents_run", "tenant_id", "run_id", unique=True),
)
