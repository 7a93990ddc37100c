"""Waiting on a condition in tests (never a fixed sleep for something to happen)."""

from __future__ import annotations

import time
from typing import Any


def eventually(check: Any, timeout: float = 20.0, every: float = 0.05) -> Any:
    """`check()`'s first truthy result, polled every `every` s; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s (last: {last!r})")
