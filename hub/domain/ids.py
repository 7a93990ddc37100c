"""Opaque, time-ordered ids, so cursors can page by id."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime

ID_RE = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    """48 bits of milliseconds then 80 random bits, as 32 hex characters."""
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


def is_id(value: str) -> bool:
    return ID_RE.match(value) is not None


def time_ordered_floor(at: datetime) -> str:
    """The smallest id new_id() gives at `at`: every id made before `at` sorts below it."""
    return f"{int(at.timestamp() * 1000):012x}" + "0" * 20
