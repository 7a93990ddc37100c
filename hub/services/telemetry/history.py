"""A tag's history, raw or in buckets, in pages that say when they are cut.

Bucketed: a page is up to `limit` buckets of time. A bucket's figure comes from the
summaries of the chunks it wholly holds, summed in the database, merged with the samples
of the few chunks that straddle a bucket's edge, which are decoded. So a day at `1m` reads
1,440 rows of figures and decodes about as many chunks, whatever the sample rate.

Raw: a page is up to `limit` samples, taken chunk by chunk in stored order (ts_last, id)
and sorted by time within the page. Chunks hold their samples in time order and are
stored in time order, so pages follow each other in time unless a device's clock went
back; either way every sample comes exactly once.

A page cut short says `truncated` and gives `next_cursor`. The cursor carries the range it
was cut from, so following it without `from`/`to` (the last hour by default) does not
shift the range between pages. Decoding many chunks runs in a worker thread: the event
loop also polls PLCs and evaluates alarms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.paging import decode_cursor, encode_cursor
from hub.domain.plc import Quality
from hub.domain.samples import Sample, aggregate, unpack
from hub.services.telemetry.feed import from_micros, micros

BUCKETS = {"1s": 1, "10s": 10, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
AGGREGATES = ("avg", "min", "max", "last")
MAX_HISTORY = 10_000  # samples or buckets in one page
INLINE_CHUNKS = 256  # more chunks than this are decoded in a worker thread
FIRST_BATCH, MAX_BATCH = 64, 4096  # chunks fetched per query for a raw page, doubling
T = TypeVar("T")
Position = tuple[int, int, int]  # a raw cursor: (chunk's ts_last, chunk id, samples to skip)


@dataclass(frozen=True)
class HistoryPage:
    items: list[dict[str, Any]]
    truncated: bool = False
    next_cursor: str | None = None


@dataclass(frozen=True)
class Window:
    """What a page reads: the range asked [start, end) in µs, the bucket width in µs (None
    for raw samples) and where the page begins."""

    start: int
    end: int
    width: int | None
    begin: int  # bucketed: the page's first µs
    after: Position | None = None  # raw: the first sample's place


def window(
    start: datetime | None,
    end: datetime | None,
    bucket: str | None,
    agg: str,
    cursor: str | None,
    now: datetime,
) -> Window:
    """The page a request asks for, or ValidationFailed naming every bad field."""
    problems = []
    if bucket is not None and bucket not in BUCKETS:
        problems.append(FieldProblem("bucket", f"one of {', '.join(BUCKETS)}"))
    if agg not in AGGREGATES:
        problems.append(FieldProblem("agg", f"one of {', '.join(AGGREGATES)}"))
    width = BUCKETS[bucket] * 1_000_000 if bucket in BUCKETS else None
    if cursor is not None:
        return _resume(cursor, start, end, width, problems)
    end = end or now
    start = start or end - timedelta(hours=1)
    if start >= end:
        problems.append(FieldProblem("from", "must be before 'to'"))
    if problems:
        raise ValidationFailed(problems)
    low = micros(start)
    return Window(low, micros(end), width, low)


def _resume(
    cursor: str,
    start: datetime | None,
    end: datetime | None,
    width: int | None,
    problems: list[FieldProblem],
) -> Window:
    """The window a cursor names; `from`, `to` and `bucket`, if given, must be its own."""
    found = _parse_cursor(cursor)
    if found is None:
        problems.append(FieldProblem("cursor", "not a cursor this API handed out"))
        raise ValidationFailed(problems)
    if (
        (start is not None and micros(start) != found.start)
        or (end is not None and micros(end) != found.end)
        or width != found.width
    ):
        problems.append(FieldProblem("cursor", "belongs to another range or bucket"))
    if problems:
        raise ValidationFailed(problems)
    return found


def _parse_cursor(cursor: str) -> Window | None:
    try:
        kind, *fields = (decode_cursor(cursor) or "").split(":")
        numbers = [int(f) for f in fields]
    except (ValidationFailed, ValueError):
        return None
    if kind == "b" and len(numbers) == 4:
        start, end, width, begin = numbers
        if width in {s * 1_000_000 for s in BUCKETS.values()} and start <= begin < end:
            return Window(start, end, width, begin)
    if kind == "r" and len(numbers) == 5 and numbers[0] < numbers[1] and numbers[4] >= 0:
        start, end, ts_last, chunk, skip = numbers
        return Window(start, end, None, start, (ts_last, chunk, skip))
    return None


def _cursor(w: Window, *rest: int) -> str:
    kind = "r" if w.width is None else "b"
    fields = [w.start, w.end] + ([] if w.width is None else [w.width]) + list(rest)
    return encode_cursor(":".join([kind, *map(str, fields)]))


async def read(
    plc: Any, tenant_id: str, series: int, kind: int, w: Window, agg: str, limit: int
) -> HistoryPage:
    """One page of the series' history (plc: the unit of work's PLC repository)."""
    if w.width is None:
        return await _raw(plc, tenant_id, series, kind, w, limit)
    return await _bucketed(plc, tenant_id, series, kind, w, agg, limit)


async def _bucketed(
    plc: Any, tenant_id: str, series: int, kind: int, w: Window, agg: str, limit: int
) -> HistoryPage:
    width = w.width or 1
    stop = min(w.end, (w.begin // width + limit) * width)  # at most `limit` buckets
    figures = await plc.bucket_figures(tenant_id, series, w.begin, stop, width, agg)
    edges = await plc.edge_chunks(tenant_id, series, w.begin, stop, width)
    buckets = await _off_loop(len(edges), _merge, kind, edges, figures, w.begin, stop, width, agg)
    items = [{"ts": from_micros(ts), "value": value, "count": n} for ts, value, n in buckets]
    more = stop < w.end and await plc.any_chunk(tenant_id, series, stop, w.end)
    return HistoryPage(items, more, _cursor(w, stop) if more else None)


def _merge(
    kind: int,
    edges: Sequence[tuple[Any, ...]],
    figures: Sequence[tuple[int, int, float | None, int | None]],
    low: int,
    high: int,
    width: int,
    agg: str,
) -> list[tuple[int, Any, int]]:
    samples = [s for c in edges for s in unpack(kind, *c) if low <= s[0] < high]
    return aggregate(samples, width, agg, figures)


async def _raw(
    plc: Any, tenant_id: str, series: int, kind: int, w: Window, limit: int
) -> HistoryPage:
    """Up to `limit` samples from the cursor's place; one more tells whether there are more."""
    key = None if w.after is None else (w.after[0], w.after[1])
    taken: list[Sample] = []
    last: Position | None = None
    batch = FIRST_BATCH
    while len(taken) <= limit:
        rows = await plc.chunk_page(tenant_id, series, w.start, w.end, key, batch)
        more, place = await _off_loop(len(rows), _take, kind, rows, w, limit + 1 - len(taken))
        taken, last = taken + more, place or last
        if len(rows) < batch:
            break
        key, batch = (rows[-1][0], rows[-1][1] + 1), min(batch * 2, MAX_BATCH)
    cut = len(taken) > limit
    page = sorted(taken[:limit], key=lambda s: s[0])  # stable: equal times keep their order
    items = [{"ts": from_micros(ts), "value": v, "quality": Quality(q).label} for ts, v, q in page]
    return HistoryPage(items, cut, _cursor(w, *last) if cut and last else None)


def _take(
    kind: int, rows: Sequence[tuple[Any, ...]], w: Window, room: int
) -> tuple[list[Sample], Position | None]:
    """Up to `room` samples in [start, end) of the chunks, less those of the cursor's chunk
    that an earlier page took; and the place of the last one taken (the chunk's ts_last and
    id, and the sample's index among the chunk's samples in the range)."""
    out: list[Sample] = []
    last: Position | None = None
    for ts_last, chunk, *blob in rows:
        inside = [s for s in unpack(kind, *blob) if w.start <= s[0] < w.end]
        begin = w.after[2] if w.after is not None and w.after[:2] == (ts_last, chunk) else 0
        wanted = inside[begin : begin + room - len(out)]
        if wanted:
            out += wanted
            last = (ts_last, chunk, begin + len(wanted) - 1)
        if len(out) >= room:
            break
    return out, last


async def _off_loop(weight: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on the loop when it is light, else in a worker thread."""
    if weight <= INLINE_CHUNKS:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)
