"""Tenants' expressions near the event loop that PLC polling, alarms and runs share.

An expression runs on the loop within a small CPU allowance (most take microseconds; a
hop to a worker thread per evaluation would cost far more than that), and one that needs
more is stopped and evaluated again in a worker thread within its full budget
(hub/engine/celbudget.py). So none holds the loop for longer than the allowance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import Counter

from hub.engine.expressions import OffLoop, inline_allowance

T = TypeVar("T")
OFF_LOOP = Counter(
    "hub_expressions_off_loop",
    "Units of work (transitions, trigger conditions) whose expressions went over the "
    "event loop's allowance and were taken again in a worker thread",
)

# CPU time expressions may spend on the event loop per unit of work (a transition, a
# trigger's condition and input) before the unit is taken again in a worker thread.
INLINE_CPU_SECONDS = 0.002


async def evaluate_bounded(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` on the loop within the allowance, else again in a worker thread. For
    functions that change nothing before they return (a render, a condition)."""
    try:
        with inline_allowance(INLINE_CPU_SECONDS):
            return fn(*args)
    except OffLoop:
        OFF_LOOP.inc()
        return await asyncio.to_thread(fn, *args)
