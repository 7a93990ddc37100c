"""A tag's trend as an SVG drawn by the server: pure functions from the history's buckets
(hub/services/telemetry/history.py: min, max and avg per bucket of good and uncertain
samples) to the shapes the template draws, and the window arithmetic of range and zoom.

No I/O and no clock here (the caller passes `now`): unit-tested in tests/unit/console/.

- The band is the min/max envelope, one step per bucket; the line joins the buckets'
  averages at their centres. A run of buckets ends where a bucket is missing.
- A missing bucket between two with data held no usable sample: the samples were bad (or
  none were read), so it is marked as bad. After the last bucket with data it is marked
  too when the tag is not good now (the device went away); before the first, it is not
  (the history may simply start there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.services.telemetry.history import BUCKETS

RANGES: dict[str, int] = {"15m": 900, "1h": 3600, "8h": 8 * 3600, "24h": 86400}
RANGE_LABELS = {"15m": "15 min", "1h": "1 h", "8h": "8 h", "24h": "24 h"}
DEFAULT_RANGE = "1h"
MAX_POINTS = 360  # buckets drawn at most across the window
MIN_SPAN = 10  # seconds: the narrowest window one may zoom into
MAX_SPAN = 31 * 86400  # seconds: the widest
SLICES = 6  # zoom targets across the plot
# The drawing, in SVG user units (the SVG scales to its box; static/devices.css places
# the zoom links over the plot with the same proportions).
WIDTH, HEIGHT = 600, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 590, 24, 228
TIME_STEPS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600,
    43200, 86400, 172800, 604800,
)  # fmt: skip


@dataclass(frozen=True)
class Bucket:
    start: datetime
    low: float | None
    high: float | None
    avg: float | None
    count: int


@dataclass(frozen=True)
class Tick:
    pos: float  # x (time axis) or y (value axis) in SVG units
    label: str


@dataclass(frozen=True)
class Span:
    x: float
    width: float


@dataclass(frozen=True)
class TrendShape:
    band: str  # SVG path data: the min/max envelope
    line: str  # SVG path data: the averages
    bad: tuple[Span, ...]  # buckets without a usable sample
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    points: int  # buckets drawn
    low: float | None  # the value axis' range
    high: float | None

    @property
    def empty(self) -> bool:
        return self.points == 0


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    bucket: str  # a key of BUCKETS

    @property
    def span(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def bucket_seconds(self) -> int:
        return BUCKETS[self.bucket]


def choose_bucket(span_seconds: float, poll_ms: int) -> str:
    """The narrowest bucket that draws at most MAX_POINTS across the span and holds at
    least two polls (so a bucket is not empty merely because no poll fell in it)."""
    ordered = sorted(BUCKETS.items(), key=lambda kv: kv[1])
    for name, seconds in ordered:
        if span_seconds / seconds <= MAX_POINTS and seconds * 1000 >= 2 * poll_ms:
            return name
    return ordered[-1][0]


def window_for(start: datetime, end: datetime, poll_ms: int) -> Window:
    return Window(start, end, choose_bucket((end - start).total_seconds(), poll_ms))


def live_window(range_key: str, now: datetime, poll_ms: int) -> Window:
    return window_for(now - timedelta(seconds=RANGES[range_key]), now, poll_ms)


def zoomed(
    start: datetime, end: datetime, factor: float, now: datetime
) -> tuple[datetime, datetime]:
    """The window `factor` times as wide around the same centre (0.5: zoom in), kept
    between MIN_SPAN and MAX_SPAN and not reaching past `now`."""
    span = (end - start).total_seconds()
    wanted = min(max(span * factor, MIN_SPAN), MAX_SPAN)
    centre = start + (end - start) / 2
    new_start = centre - timedelta(seconds=wanted / 2)
    new_end = centre + timedelta(seconds=wanted / 2)
    return _not_after(new_start, new_end, now)


def panned(
    start: datetime, end: datetime, fraction: float, now: datetime
) -> tuple[datetime, datetime]:
    """The window moved by `fraction` of its width (negative: earlier), not past `now`."""
    shift = (end - start) * fraction
    return _not_after(start + shift, end + shift, now)


def _not_after(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    if end > now:
        start, end = start - (end - now), now
    return start, end


def slices(start: datetime, end: datetime, n: int = SLICES) -> list[tuple[datetime, datetime]]:
    """`n` equal parts of the window, the zoom targets across the plot."""
    step = (end - start) / n
    return [(start + step * i, start + step * (i + 1)) for i in range(n)]


def merge(
    avg: Iterable[Mapping[str, Any]],
    low: Iterable[Mapping[str, Any]],
    high: Iterable[Mapping[str, Any]],
) -> list[Bucket]:
    """The history's three answers (agg avg, min and max: items with ts, value and
    count) as one list of buckets, in time order."""
    lows = {item["ts"]: item["value"] for item in low}
    highs = {item["ts"]: item["value"] for item in high}
    out = []
    for item in avg:
        ts = item["ts"]
        out.append(
            Bucket(
                ts,
                _number(lows.get(ts)),
                _number(highs.get(ts)),
                _number(item["value"]),
                int(item.get("count") or 0),
            )
        )
    return sorted(out, key=lambda b: b.start)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values covering [low, high], about `count` of them (steps of 1, 2, 2.5 or 5
    times a power of ten)."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    n = round((last - first) / step)
    return [round(first + i * step, 12) for i in range(n + 1)]


def tick_label(value: float, step: float) -> str:
    """A value axis label with as many decimals as the step needs."""
    decimals = max(0, math.ceil(-math.log10(step) - 1e-9)) if step > 0 else 0
    if not math.isclose(round(step, decimals), step, rel_tol=1e-9):
        decimals += 1
    text = f"{value:.{decimals}f}"
    return "0" if text.strip("-0.") == "" else text


def time_step(span_seconds: float, most: int = 6) -> int:
    return next((s for s in TIME_STEPS if span_seconds / s <= most), TIME_STEPS[-1])


def time_label(at: datetime, step: int, span_seconds: float) -> str:
    at = at.astimezone(UTC)
    if step < 60:
        return at.strftime("%H:%M:%S")
    if span_seconds > 43200:
        return at.strftime("%m-%d %H:%M")
    return at.strftime("%H:%M")


def _epoch(at: datetime) -> float:
    return at.timestamp()


def trend_shape(
    buckets: Sequence[Bucket], window: Window, *, bad_at_end: bool = False
) -> TrendShape:
    """What the trend's SVG draws for `buckets` across `window` (see the module's doc)."""
    t0, t1 = _epoch(window.start), _epoch(window.end)
    width = window.bucket_seconds
    span = max(t1 - t0, 1e-9)

    def x_of(t: float) -> float:
        return LEFT + (min(max(t, t0), t1) - t0) / span * (RIGHT - LEFT)

    drawn = [b for b in buckets if b.avg is not None and t0 - width < _epoch(b.start) < t1]
    x_ticks = _time_ticks(t0, t1, x_of)
    bad = _bad_spans(drawn, t0, t1, width, bad_at_end, x_of)
    if not drawn:
        return TrendShape("", "", bad, (), x_ticks, 0, None, None)
    lows = [b.low if b.low is not None else b.avg for b in drawn]
    highs = [b.high if b.high is not None else b.avg for b in drawn]
    low, high = min(v for v in lows if v is not None), max(v for v in highs if v is not None)
    pad = (high - low) * 0.08 if high > low else max(abs(high) * 0.05, 0.5)
    values = nice_ticks(low - pad, high + pad)
    axis_low, axis_high = values[0], values[-1]
    step = values[1] - values[0] if len(values) > 1 else 1.0

    def y_of(v: float) -> float:
        return BOTTOM - (v - axis_low) / (axis_high - axis_low) * (BOTTOM - TOP)

    band: list[str] = []
    line: list[str] = []
    for run in _runs(drawn, width):
        tops, bottoms, centres = [], [], []
        for b in run:
            left, right = x_of(_epoch(b.start)), x_of(_epoch(b.start) + width)
            hi = b.high if b.high is not None else b.avg
            lo = b.low if b.low is not None else b.avg
            assert hi is not None and lo is not None and b.avg is not None
            tops += [(left, y_of(hi)), (right, y_of(hi))]
            bottoms += [(left, y_of(lo)), (right, y_of(lo))]
            centres.append(((left + right) / 2, y_of(b.avg)))
        outline = tops + bottoms[::-1]
        band.append("M" + " L".join(_pt(p) for p in outline) + " Z")
        if len(run) == 1:  # one bucket: its average across its width
            b = run[0]
            y = y_of(b.avg or 0.0)
            left, right = x_of(_epoch(b.start)), x_of(_epoch(b.start) + width)
            centres = [(left, y), (right, y)]
        line.append("M" + " L".join(_pt(p) for p in centres))
    y_ticks = tuple(Tick(round(y_of(v), 1), tick_label(v, step)) for v in values)
    return TrendShape(
        " ".join(band), " ".join(line), bad, y_ticks, x_ticks, len(drawn), axis_low, axis_high
    )


def _pt(point: tuple[float, float]) -> str:
    return f"{point[0]:.1f},{point[1]:.1f}"


def _runs(buckets: Sequence[Bucket], width: int) -> list[list[Bucket]]:
    runs: list[list[Bucket]] = []
    for b in buckets:
        if runs and _epoch(b.start) - _epoch(runs[-1][-1].start) <= width * 1.001:
            runs[-1].append(b)
        else:
            runs.append([b])
    return runs


def _bad_spans(
    drawn: Sequence[Bucket], t0: float, t1: float, width: int, bad_at_end: bool, x_of: Any
) -> tuple[Span, ...]:
    """Spans of the buckets without a usable sample that count as bad (module doc)."""
    first_slot, last_slot = math.floor(t0 / width), math.ceil(t1 / width) - 1
    have = {math.floor(_epoch(b.start) / width) for b in drawn}
    if have:
        begin, end = min(have), (last_slot if bad_at_end else max(have))
    elif bad_at_end:
        begin, end = first_slot, last_slot
    else:
        return ()
    missing = [s for s in range(max(begin, first_slot), end + 1) if s not in have]
    spans: list[Span] = []
    run_start: int | None = None
    for i, slot in enumerate(missing):
        if run_start is None:
            run_start = slot
        if i + 1 == len(missing) or missing[i + 1] != slot + 1:
            left, right = x_of(run_start * width), x_of((slot + 1) * width)
            if right > left:
                spans.append(Span(round(left, 1), round(right - left, 1)))
            run_start = None
    return tuple(spans)


def _time_ticks(t0: float, t1: float, x_of: Any) -> tuple[Tick, ...]:
    span = t1 - t0
    step = time_step(span)
    first = math.ceil(t0 / step) * step
    ticks = []
    t = first
    while t <= t1:
        at = datetime.fromtimestamp(t, UTC)
        ticks.append(Tick(round(x_of(t), 1), time_label(at, step, span)))
        t += step
    return tuple(ticks)


def bucket_label(bucket: str) -> str:
    seconds = BUCKETS[bucket]
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def span_label(seconds: float) -> str:
    """A window's width for people: 90 s, 15 min, 8 h, 2 d 3 h."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")
    hours = seconds // 3600
    if hours < 48:
        minutes = seconds % 3600 // 60
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{hours // 24} d" + (f" {hours % 24} h" if hours % 24 else "")
