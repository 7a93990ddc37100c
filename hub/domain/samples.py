"""Telemetry samples in chunks: one row holds one tag's samples of one flush.

A sample is (ts in microseconds, value, quality). A chunk packs a run of them into three
arrays (timestamps, values as float64 with NaN for none, qualities as bytes), or a JSON
list for string values. Storing a chunk per tag per flush instead of a row per sample
makes storage cost per sample a few array appends, and a tag's history a range of rows.

Each chunk also carries a summary of its usable (not bad, not empty) samples: their count,
min, max, sum and last value (with its time). A bucketed read takes the summaries of the
chunks a bucket wholly holds, in the database, and decodes only the chunks that straddle
a bucket's edge. A chunk's samples are in time order and within one minute (a flush that
crosses a minute becomes two chunks), so every bucket of a minute or more wholly holds
its chunks. Reads find a range's chunks by `ts_last` within the range plus MAX_SPAN_US,
a margin that also covers chunks stored before summaries existed (one per flush).
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Any, TypeVar

Sample = tuple[int, Any, int]  # (ts_us, value, quality)
# (usable count, min, max, sum, last value, ts of the last value); numbers None for text
Summary = tuple[int, float | None, float | None, float | None, float | None, int | None]
# first ts, last ts, count, ts blob, values blob, texts JSON, qualities blob, *summary
Chunk = tuple[Any, ...]
NUMBER, BOOL, TEXT = 0, 1, 2
BAD = 2
MINUTE_US = 60_000_000  # no chunk crosses a minute
MAX_SPAN_US = 600_000_000  # the read margin: ten minutes; a flush holds half a second
EMPTY: Summary = (0, None, None, None, None, None)
T = TypeVar("T")


def runs(items: Sequence[T], ts: Callable[[T], int]) -> list[Sequence[T]]:
    """`items` in time order, cut where a minute begins."""
    if any(ts(a) > ts(b) for a, b in pairwise(items)):
        items = sorted(items, key=ts)  # stable: equal times keep their order
    if not items or ts(items[0]) // MINUTE_US == ts(items[-1]) // MINUTE_US:
        return [items]
    out: list[Sequence[T]] = []
    begin = 0
    for i in range(1, len(items)):
        if ts(items[i]) // MINUTE_US != ts(items[begin]) // MINUTE_US:
            out.append(items[begin:i])
            begin = i
    out.append(items[begin:])
    return out


def pack_chunks(kind: int, samples: Sequence[Sample]) -> list[Chunk]:
    """One tag's samples as chunks in time order, each within one minute."""
    return [pack(kind, run) for run in runs(samples, _ts)]


def _ts(sample: Sample) -> int:
    return sample[0]


def pack(kind: int, samples: Sequence[Sample]) -> Chunk:
    """(first ts, last ts, count, ts blob, values blob, texts JSON, qualities blob,
    *summary) of samples in time order."""
    stamps = array("q", [s[0] for s in samples])
    qualities = bytes(s[2] for s in samples)
    head = (stamps[0], stamps[-1], len(samples), stamps.tobytes())
    if kind == TEXT:
        texts = [s[1] for s in samples]
        return *head, None, json.dumps(texts), qualities, *text_summary(stamps, texts, qualities)
    nan = math.nan
    if kind == BOOL:
        values = array("d", [nan if s[1] is None else float(bool(s[1])) for s in samples])
    else:
        values = array("d", [nan if s[1] is None else s[1] for s in samples])
    summary = number_summary(stamps, values, qualities)
    return *head, values.tobytes(), None, qualities, *summary


def number_summary(stamps: Sequence[int], values: array[float], qualities: bytes) -> Summary:
    """The summary of a time-ordered chunk of numbers (NaN for none)."""
    if not values:
        return EMPTY
    if max(qualities) < BAD:
        total = sum(values)  # NaN when a value is missing: then the slow way
        if not math.isnan(total):
            return len(values), min(values), max(values), total, values[-1], stamps[-1]
    usable = [
        (t, v) for t, v, q in zip(stamps, values, qualities, strict=True) if q < BAD and v == v
    ]
    if not usable:
        return EMPTY
    numbers = [v for _, v in usable]
    return len(usable), min(numbers), max(numbers), sum(numbers), usable[-1][1], usable[-1][0]


def text_summary(stamps: Sequence[int], texts: Sequence[Any], qualities: bytes) -> Summary:
    """Text has no min or max: only the count and time of its usable values."""
    stamped = zip(stamps, texts, qualities, strict=True)
    usable = [t for t, v, q in stamped if q < BAD and v is not None]
    return (len(usable), None, None, None, None, usable[-1]) if usable else EMPTY


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


# A bucket's running figures: [count, value (sum for avg), ts of the last value]
Partial = tuple[int, int, float | None, int | None]  # (bucket number, count, value, last ts)


def aggregate(
    samples: Iterable[Sample],
    bucket_us: int,
    agg: str,
    partials: Iterable[Partial] = (),
) -> list[tuple[int, Any, int]]:
    """(bucket start, avg|min|max|last, count) per bucket of the usable (not bad) samples,
    with `partials`: buckets' figures already summed from whole chunks (for avg, the sum).
    Text has no figure (None), only its count."""
    buckets: dict[int, list[Any]] = {}
    for slot, n, value, last_ts in partials:
        if n:
            buckets[slot] = [n, value, last_ts]
    fold = _FOLDS[agg]
    for ts, value, quality in samples:
        if quality >= BAD or value is None:
            continue
        number = None if isinstance(value, str) else float(value)
        slot = ts // bucket_us
        entry = buckets.get(slot)
        if entry is None:
            buckets[slot] = [1, number, ts]
            continue
        entry[0] += 1
        if agg == "last":
            if ts >= entry[2]:
                entry[1], entry[2] = number, ts
        elif number is not None:
            entry[1] = number if entry[1] is None else fold(entry[1], number)
    out = []
    for slot, (n, value, _) in sorted(buckets.items()):
        if agg == "avg" and value is not None:
            value = value / n
        out.append((slot * bucket_us, value, n))
    return out


_FOLDS: dict[str, Callable[[float, float], float]] = {
    "avg": lambda a, b: a + b,
    "min": min,
    "max": max,
    "last": lambda a, b: b,
}


def pack_column(
    kind: int,
    column: Sequence[Any],
    stamps: Sequence[int],
    scale: float,
    offset: float,
    linear: bool,
) -> tuple[bytes | None, str | None, Summary]:
    """One tag's raw values from a run of polls (all good, in time order): (values blob,
    texts JSON, summary), scaled."""
    if kind == TEXT:
        texts = list(column)
        return None, json.dumps(texts), text_summary(stamps, texts, bytes(len(texts)))
    if kind == NUMBER and not linear:
        try:
            values = array("d", column)  # the common case: all numbers, in C
        except TypeError:
            values = array("d", [math.nan if v is None else v for v in column])
        else:
            total = sum(column)  # over the numbers as read: no float boxing per value
            if total == total:  # not NaN: then no value is NaN
                summary = (len(column), min(column), max(column), total, column[-1], stamps[-1])
                return values.tobytes(), None, summary
    elif kind == BOOL:
        values = array("d", [math.nan if v is None else float(bool(v)) for v in column])
    else:
        values = array("d", [math.nan if v is None else v * scale + offset for v in column])
    return values.tobytes(), None, number_summary(stamps, values, bytes(len(values)))
