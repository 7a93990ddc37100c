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

from hub.engine.expressions import OffLoop, inline_allowance
from hub.ports import EngineMetrics

T = TypeVar("T")

# CPU time expressions may spend on the event loop per unit of work (a transition, a
# trigger's condition and input) before the unit is taken again in a worker thread.
INLINE_CPU_SECONDS = 0.002


async def evaluate_bounded(metrics: EngineMetrics, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` on the loop within the allowance, else again in a worker thread (and
    counted in `metrics`). For functions that change nothing before they return (a
    render, a condition)."""
    try:
        with inline_allowance(INLINE_CPU_SECONDS):
            return fn(*args)
    except OffLoop:
        metrics.expressions_off_loop()
        return await asyncio.to_thread(fn, *args)
