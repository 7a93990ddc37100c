"""The store's integrity errors as the domain's conflict (hub.domain.errors.DuplicateKey)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from hub.domain.errors import DuplicateKey


@contextmanager
def duplicates_conflict(what: str) -> Iterator[None]:
    """Around a write: a uniqueness violation becomes DuplicateKey(`what`)."""
    try:
        yield
    except IntegrityError as exc:
        raise DuplicateKey(what) from exc
