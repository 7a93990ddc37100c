"""Telemetry samples in chunks: one row holds one tag's samples of one flush.

A sample is (ts in microseconds, value, quality). A chunk packs a run of them into three
arrays (timestamps, values as float64 with NaN for none, qualities as bytes), or a JSON
list for string values. Storing a chunk per tag per flush instead of a row per sample
makes storage cost per sample a few array appends, and a tag's history a range of rows.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

Sample = tuple[int, Any, int]  # (ts_us, value, quality)
NUMBER, BOOL, TEXT = 0, 1, 2
BAD = 2


def pack(
    kind: int, samples: Sequence[Sample]
) -> tuple[int, int, int, bytes, bytes | None, str | None, bytes]:
    """(first ts, last ts, count, ts blob, values blob, texts JSON, qualities blob)."""
    stamps = array("q", [s[0] for s in samples])
    qualities = bytes(s[2] for s in samples)
    if kind == TEXT:
        texts = json.dumps([s[1] for s in samples])
        return stamps[0], stamps[-1], len(samples), stamps.tobytes(), None, texts, qualities
    nan = math.nan
    if kind == BOOL:
        values = array("d", [nan if s[1] is None else float(bool(s[1])) for s in samples])
    else:
        values = array("d", [nan if s[1] is None else s[1] for s in samples])
    return stamps[0], stamps[-1], len(samples), stamps.tobytes(), values.tobytes(), None, qualities


def unpack(
    kind: int, ts: bytes, values: bytes | None, texts: str | None, qualities: bytes
) -> list[Sample]:
    stamps = array("q")
    stamps.frombytes(ts)
    if texts is not None:
        decoded: Iterable[Any] = json.loads(texts)
    else:
        numbers = array("d")
        numbers.frombytes(values or b"")
        if kind == BOOL:
            decoded = [None if math.isnan(v) else bool(v) for v in numbers]
        else:
            decoded = [None if math.isnan(v) else v for v in numbers]
    return list(zip(stamps, decoded, qualities, strict=True))


def aggregate(samples: Iterable[Sample], bucket_us: int, agg: str) -> list[tuple[int, Any, int]]:
    """(bucket start, avg|min|max|last, count) per bucket of the usable (not bad) samples."""
    buckets: dict[int, list[Any]] = {}
    for ts, value, quality in samples:
        if quality >= BAD or value is None:
            continue
        slot = ts // bucket_us
        entry = buckets.get(slot)
        number = float(value) if not isinstance(value, str) else math.nan
        if entry is None:
            buckets[slot] = [number, number, number, number, 1]  # sum, min, max, last, n
            continue
        entry[0] += number
        entry[1] = min(entry[1], number)
        entry[2] = max(entry[2], number)
        entry[3] = number
        entry[4] += 1
    pick = {
        "avg": lambda e: e[0] / e[4],
        "min": lambda e: e[1],
        "max": lambda e: e[2],
        "last": lambda e: e[3],
    }[agg]
    return [(slot * bucket_us, pick(e), e[4]) for slot, e in sorted(buckets.items())]


def pack_column(
    kind: int, column: Sequence[Any], scale: float, offset: float, linear: bool
) -> tuple[bytes | None, str | None]:
    """One tag's raw values from a run of polls: (values blob, texts JSON), scaled."""
    if kind == TEXT:
        return None, json.dumps(list(column))
    if kind == BOOL:
        return array(
            "d", [math.nan if v is None else float(bool(v)) for v in column]
        ).tobytes(), None
    if linear:
        values = [math.nan if v is None else v * scale + offset for v in column]
        return array("d", values).tobytes(), None
    try:
        return array("d", column).tobytes(), None  # the common case: all numbers, in C
    except TypeError:
        return array("d", [math.nan if v is None else v for v in column]).tobytes(), None
