"""Table definitions (SQLAlchemy Core), one module per capability; importing the package
registers every table in `metadata`. Alembic migrations must match these."""

from hub.store.tables import core, egress, enterprise, packs  # noqa: F401  (registers every table)
from hub.store.tables.base import metadata

__all__ = ["metadata"]
