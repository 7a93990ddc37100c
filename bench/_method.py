"""The method every comparison follows (no hub imports here, so peers' processes use it too).

- **Alternating turns:** `alternate()` runs the sides in turns, the order flipping every
  turn (hub, peer, peer, hub, ...), so neither side always runs on a warmer or a colder
  machine.
- **Repeated runs, medians with spread:** each side runs `turns()` times (at least 3,
  HUB_BENCH_TURNS); `summary()` gives the median, min and max and every run's value, and
  `comparison()` builds the JSON from the medians, never from a selected best run.
- **Random phase:** `random_phase()` sleeps a uniform random part of a periodic process's
  period before an action, so no side is lucky or unlucky against a publishing interval or
  a poll cycle.
- **Matched settings:** `sqlite_settings()` reads the durability a SQLite connection really
  runs with (not what the code meant to set); both sides' settings go into the JSON.
- **Honest percentiles:** `percentile_name()` calls a percentile p99 only over 100 samples
  or more; below that the figure is the sample's maximum and is named so.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import sqlite3
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

MIN_TURNS = 3
T = TypeVar("T")


def turns(default: int = MIN_TURNS) -> int:
    """How many runs each side gets: HUB_BENCH_TURNS, never fewer than three."""
    raw = os.environ.get("HUB_BENCH_TURNS", "").strip()
    try:
        wanted = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"HUB_BENCH_TURNS={raw!r} is not an integer") from None
    return max(MIN_TURNS, wanted)


def alternate(
    sides: Mapping[str, Callable[[int], T]],
    count: int,
    *,
    log: Callable[[str], None] | None = None,
) -> dict[str, list[T]]:
    """Call each side `count` times, in alternating order; each side's results in order.

    A side is called with the turn's index (0-based)."""
    names = list(sides)
    results: dict[str, list[T]] = {name: [] for name in names}
    for turn in range(count):
        order = names if turn % 2 == 0 else list(reversed(names))
        for name in order:
            if log:
                log(f"turn {turn + 1}/{count}: {name}")
            results[name].append(sides[name](turn))
    return results


def summary(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """The median of repeated runs, their min-max spread and every value."""
    if not values:
        raise ValueError("no runs to summarise")
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "values": [round(v, digits) for v in values],
    }


def comparison(
    *,
    bench: str,
    metric: str,
    unit: str,
    hub: Sequence[float],
    peer: Sequence[float],
    peer_name: str,
    hub_settings: Mapping[str, Any],
    peer_settings: Mapping[str, Any],
    higher_is_better: bool = True,
    digits: int = 2,
    **extra: Any,
) -> dict[str, Any]:
    """The result JSON: medians as `hub`/`peer`, the spread of each side, both settings.

    `ratio` is hub/peer for a figure where higher is better and peer/hub for one where lower
    is better (a latency), so a ratio above 1 always means the hub is ahead."""
    hub_s, peer_s = summary(hub, digits), summary(peer, digits)
    h, p = hub_s["median"], peer_s["median"]
    better, worse = (h, p) if higher_is_better else (p, h)
    ratio = better / worse if worse else math.inf
    result: dict[str, Any] = {
        "bench": bench,
        "metric": metric,
        "hub": h,
        "peer": p,
        "peer_name": peer_name,
        "ratio": round(ratio, 4),
        "ratio_means": "hub/peer" if higher_is_better else "peer/hub (lower is better)",
        "unit": unit,
        "runs": min(len(hub), len(peer)),
        "hub_spread": [hub_s["min"], hub_s["max"]],
        "peer_spread": [peer_s["min"], peer_s["max"]],
        "hub_runs": hub_s["values"],
        "peer_runs": peer_s["values"],
        "hub_settings": dict(hub_settings),
        "peer_settings": dict(peer_settings),
    }
    result.update(extra)
    return result


async def random_phase(period_s: float, rng: random.Random | None = None) -> float:
    """Sleep a uniform random share of `period_s`; returns the seconds slept."""
    delay = (rng or random).uniform(0.0, period_s)
    await asyncio.sleep(delay)
    return delay


SYNCHRONOUS = {0: "off", 1: "normal", 2: "full", 3: "extra"}


class Executes(Protocol):
    """A sqlite3.Connection, or anything with its `execute(sql).fetchone()` (the hub's
    pooled SQLAlchemy connection, whose `synchronous` a fresh connection would not show)."""

    def execute(self, sql: str, /) -> Any: ...


def sqlite_settings(connection: sqlite3.Connection | Executes) -> dict[str, str]:
    """The durability a SQLite connection runs with, read back from SQLite itself."""
    journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    level = connection.execute("PRAGMA synchronous").fetchone()[0]
    return {"journal_mode": str(journal).lower(), "synchronous": SYNCHRONOUS.get(level, str(level))}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def percentile_name(q: int, samples: int) -> str:
    """`p99` over 100 samples or more; below that the tail figure is called `max`."""
    return f"p{q}" if samples >= 100 else "max"


def tail(values: Sequence[float], q: int = 99) -> tuple[str, float | None]:
    """(name, value) of the tail percentile: p99 when there are enough samples, else max."""
    name = percentile_name(q, len(values))
    if name == "max":
        return name, (max(values) if values else None)
    return name, percentile(values, q)
