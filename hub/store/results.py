"""Rows of a query whose columns SQLAlchemy cannot type (text, literal columns), as the
plain tuples they unpack to. `Result.tuples()` did this, and is deprecated in 2.1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Result


def plain_rows(result: Result[Any]) -> Sequence[tuple[Any, ...]]:
    return cast(Sequence[tuple[Any, ...]], result.all())  # a Row is a tuple at run time
