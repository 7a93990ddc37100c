"""Table definitions (SQLAlchemy Core), one module per capability; importing the package
registers every table in `metadata`. Alembic migrations must match these."""

from hub.store.tables import (  # noqa: F401  (registers every table)
    collaboration,
    core,
    egress,
    enterprise,
    packs,
)
from hub.store.tables.base import metadata

__all__ = ["metadata"]
