"""Concurrency keys (docs/WORKFLOWS.md, "Concurrency keys"): the pure parts.

A definition's ``concurrency: {key, limit}`` makes runs of the workflow (any version) in
one tenant whose key renders the same run at most ``limit`` at a time; the others wait in
status ``queued`` and start first created, first started. This module renders a run's key
when the run is created and decides which runs of one key may start; the store locks the
key and the committer applies the decision (hub/services/workflows/commits.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from hashlib import sha256
from typing import Any

from hub.engine.model import Concurrency

# What a key template may read: the run's input and the definition's constants, both
# known when the run is created (no step has run yet).
KEY_VARIABLES = frozenset({"input", "vars"})
MAX_KEY_CHARS = 200  # longer keys are kept as their digest (workflow_runs.concurrency_key)
MAX_LIMIT = 1000


def run_key(concurrency: Concurrency, run_input: Any, variables: Mapping[str, Any]) -> str | None:
    """The run's key, or None when it renders null or empty (the run is not queued).
    ``ExpressionError`` when the template cannot be evaluated (within the expression
    budget of every template)."""
    value = concurrency.key.render({"input": run_input, "vars": dict(variables)})
    return bounded_key(value)


def bounded_key(value: Any) -> str | None:
    """A rendered key as stored: text as it is, any other value as compact JSON (keys
    sorted), None for null and empty values, and a text longer than ``MAX_KEY_CHARS`` as
    ``sha256:<hex>`` of it (as unique as the key itself), as is a text no database
    could store as it is (a NUL, a lone surrogate)."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if not text.strip():
        return None
    if len(text) > MAX_KEY_CHARS or not _storable(text):
        return f"sha256:{sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return text


def _storable(text: str) -> bool:
    """Text every database keeps as it is (PostgreSQL refuses NUL and lone surrogates)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def may_start(
    limit: int,
    active: Collection[str],
    queued: Sequence[str],
    *,
    finishing: Collection[str] = (),
    arriving: Sequence[str] = (),
) -> list[str]:
    """Which runs of one key may be active now, in the order they start.

    ``active``: the key's runs holding a slot (running, waiting, suspended); ``queued``:
    its queued runs, first created first; ``arriving``: runs created in the transaction
    deciding, behind every queued run, in their own creation order; ``finishing``: runs
    among all of these that end in that transaction (their slots and places are free).
    The first ``limit`` minus the active runs of the line (queued, then arriving) may
    start: a run never overtakes one queued before it.
    """
    gone = set(finishing)
    holding = sum(1 for run in active if run not in gone)
    line = [run for run in (*queued, *arriving) if run not in gone]
    return line[: max(0, limit - holding)]
