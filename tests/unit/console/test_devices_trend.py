"""The devices page's pure pieces: the trend's SVG shapes from history buckets, the window
arithmetic of range and zoom, values for people, the write form's value, the trend query."""

from __future__ import annotations

import itertools
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from hub.api.console import devices_trend as trend
from hub.api.console.devices import format_value, parse_value, short_time, trend_query
from hub.domain.plc import Datatype

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
POINT = re.compile(r"(-?\d+\.\d),(-?\d+\.\d)")


def _window(minutes: int = 10, bucket: str = "1m") -> trend.Window:
    return trend.Window(T0, T0 + timedelta(minutes=minutes), bucket)


def _bucket(
    minute: int, avg: float, low: float | None = None, high: float | None = None
) -> trend.Bucket:
    return trend.Bucket(
        T0 + timedelta(minutes=minute),
        avg if low is None else low,
        avg if high is None else high,
        avg,
        10,
    )


def _points(path: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in POINT.findall(path)]


def test_buckets_become_a_band_and_an_average_line() -> None:
    buckets = [_bucket(i, 5.0 + i, 4.5 + i, 5.5 + i) for i in range(10)]
    shape = trend.trend_shape(buckets, _window())
    assert shape.points == 10
    line = _points(shape.line)
    assert shape.line.startswith("M") and shape.line.count("M") == 1
    assert len(line) == 10
    xs = [x for x, _ in line]
    assert xs == sorted(xs) and trend.LEFT < xs[0] < xs[-1] < trend.RIGHT
    ys = [y for _, y in line]
    assert ys == sorted(ys, reverse=True)  # rising values are drawn higher (smaller y)
    assert all(trend.TOP <= y <= trend.BOTTOM for _, y in line)
    band = _points(shape.band)
    assert shape.band.endswith("Z") and len(band) == 40  # 2 top + 2 bottom corners a bucket
    # the band holds the line: each bucket's max above (smaller y) its average
    assert min(y for _, y in band) < min(ys) and max(y for _, y in band) > max(ys)
    assert shape.bad == ()
    assert shape.low is not None and shape.high is not None
    assert shape.low <= 4.5 and shape.high >= 14.5


def test_the_value_axis_has_round_labels_covering_the_data() -> None:
    shape = trend.trend_shape([_bucket(0, 5.0, 4.2, 6.9), _bucket(1, 6.0)], _window())
    labels = [t.label for t in shape.y_ticks]
    values = [float(label) for label in labels]
    assert values == sorted(values) and values[0] <= 4.2 and values[-1] >= 6.9
    assert 3 <= len(values) <= 8
    positions = [t.pos for t in shape.y_ticks]
    assert positions[0] == trend.BOTTOM and positions[-1] == trend.TOP


def test_a_flat_series_still_has_an_axis() -> None:
    shape = trend.trend_shape([_bucket(i, 7.0) for i in range(3)], _window())
    assert shape.low is not None and shape.high is not None and shape.low < 7.0 < shape.high
    assert all(math.isclose(y, _points(shape.line)[0][1]) for _, y in _points(shape.line))


def test_a_missing_bucket_breaks_the_line_and_is_marked_bad() -> None:
    buckets = [_bucket(0, 1.0), _bucket(1, 2.0), _bucket(4, 3.0), _bucket(5, 4.0)]
    shape = trend.trend_shape(buckets, _window())
    assert shape.line.count("M") == 2 and shape.band.count("M") == 2
    assert len(shape.bad) == 1  # minutes 2 and 3, one stretch
    span = shape.bad[0]
    step = (trend.RIGHT - trend.LEFT) / 10
    assert span.x == pytest.approx(trend.LEFT + 2 * step, abs=0.2)
    assert span.width == pytest.approx(2 * step, abs=0.2)


def test_the_stretch_after_the_last_data_is_bad_only_when_the_tag_is_bad_now() -> None:
    buckets = [_bucket(0, 1.0), _bucket(1, 2.0)]
    assert trend.trend_shape(buckets, _window()).bad == ()
    bad = trend.trend_shape(buckets, _window(), bad_at_end=True).bad
    assert len(bad) == 1
    assert bad[0].x + bad[0].width == pytest.approx(trend.RIGHT, abs=0.2)
    # nothing before the first bucket is marked: the history may start there
    late = trend.trend_shape([_bucket(5, 1.0)], _window(), bad_at_end=True).bad
    assert late[0].x > trend.LEFT + 5 * (trend.RIGHT - trend.LEFT) / 10


def test_no_data_at_all() -> None:
    empty = trend.trend_shape([], _window())
    assert empty.empty and empty.line == "" and empty.band == "" and empty.bad == ()
    assert empty.x_ticks  # the time axis is still labelled
    down = trend.trend_shape([], _window(), bad_at_end=True)
    assert down.empty and len(down.bad) == 1
    assert down.bad[0].x == trend.LEFT and down.bad[0].width == pytest.approx(
        trend.RIGHT - trend.LEFT
    )


def test_one_bucket_is_drawn_across_its_width() -> None:
    shape = trend.trend_shape([_bucket(3, 2.0)], _window())
    (a, b) = _points(shape.line)
    assert a[1] == b[1] and b[0] - a[0] == pytest.approx((trend.RIGHT - trend.LEFT) / 10, abs=0.2)


def test_text_and_non_finite_values_are_not_drawn() -> None:
    merged = trend.merge(
        [
            {"ts": T0, "value": "open", "count": 3},
            {"ts": T0 + timedelta(minutes=1), "value": math.inf, "count": 1},
        ],
        [],
        [],
    )
    assert [b.avg for b in merged] == [None, None]
    assert trend.trend_shape(merged, _window()).empty


def test_merge_pairs_the_three_aggregates_by_time() -> None:
    ts = [T0 + timedelta(minutes=i) for i in range(3)]
    merged = trend.merge(
        [{"ts": t, "value": float(i), "count": 2} for i, t in enumerate(ts)][::-1],
        [{"ts": t, "value": float(i) - 1} for i, t in enumerate(ts)],
        [{"ts": t, "value": float(i) + 1} for i, t in enumerate(ts)],
    )
    assert [b.start for b in merged] == ts
    assert [(b.low, b.avg, b.high, b.count) for b in merged][1] == (0.0, 1.0, 2.0, 2)


def test_time_ticks_are_round_and_labelled() -> None:
    shape = trend.trend_shape([], trend.Window(T0, T0 + timedelta(hours=1), "10s"))
    labels = [t.label for t in shape.x_ticks]
    assert labels[0] == "10:00" and "10:30" in labels and 3 <= len(labels) <= 7
    short = trend.trend_shape([], trend.Window(T0, T0 + timedelta(seconds=30), "1s"))
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t.label) for t in short.x_ticks)
    day = trend.trend_shape([], trend.Window(T0, T0 + timedelta(hours=24), "5m"))
    assert all(re.fullmatch(r"\d\d-\d\d \d\d:\d\d", t.label) for t in day.x_ticks)


@pytest.mark.parametrize(
    ("span", "poll_ms", "bucket"),
    [
        (900, 50, "10s"),
        (3600, 50, "10s"),
        (8 * 3600, 1000, "5m"),
        (86400, 1000, "5m"),
        (150, 50, "1s"),
        (150, 1000, "10s"),  # a bucket holds at least two polls
        (10, 50, "1s"),
        (400 * 86400, 1000, "1d"),
    ],
)
def test_buckets_narrow_as_the_window_does(span: int, poll_ms: int, bucket: str) -> None:
    assert trend.choose_bucket(span, poll_ms) == bucket


def test_zoom_and_pan_keep_the_window_sane() -> None:
    start, end = T0, T0 + timedelta(hours=1)
    now = T0 + timedelta(hours=2)
    a, b = trend.zoomed(start, end, 0.5, now)
    assert (b - a) == timedelta(minutes=30) and a + (b - a) / 2 == start + (end - start) / 2
    a, b = trend.zoomed(start, start + timedelta(seconds=12), 0.5, now)
    assert (b - a).total_seconds() == trend.MIN_SPAN
    a, b = trend.zoomed(start, end, 2.0, T0 + timedelta(hours=1))
    assert b == T0 + timedelta(hours=1) and (b - a) == timedelta(hours=2)  # not past now
    a, b = trend.panned(start, end, -0.5, now)
    assert (a, b) == (start - timedelta(minutes=30), end - timedelta(minutes=30))
    a, b = trend.panned(start, end, 0.5, end)
    assert b == end  # later, but not past now
    parts = trend.slices(start, end)
    assert len(parts) == trend.SLICES and parts[0][0] == start and parts[-1][1] == end


@pytest.mark.parametrize(
    ("low", "high"),
    [(0.0, 1.0), (4.93, 7.21), (-3.0, 3.0), (1000.0, 1000.5), (0.0001, 0.0009), (-1e6, 5e6)],
)
def test_nice_ticks_cover_the_range(low: float, high: float) -> None:
    ticks = trend.nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high and 3 <= len(ticks) <= 9
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    labels = [trend.tick_label(v, step) for v in ticks]
    assert len(set(labels)) == len(labels)  # enough decimals to tell them apart


def test_labels_for_people() -> None:
    assert trend.tick_label(2.5, 0.5) == "2.5"
    assert trend.tick_label(2.25, 0.25) == "2.25"
    assert trend.tick_label(-0.0, 1.0) == "0"
    assert trend.bucket_label("10s") == "10 s" and trend.bucket_label("5m") == "5 min"
    assert trend.span_label(900) == "15 min" and trend.span_label(8 * 3600) == "8 h"
    assert trend.span_label(3600) == "1 h" and trend.span_label(5400) == "1 h 30 min"
    assert trend.span_label(90) == "90 s" and trend.span_label(3 * 86400 + 3600) == "3 d 1 h"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (6.5, "6.5"),
        (5.000000119, "5"),  # float32 noise
        (5.123456, "5.1235"),
        (-0.00001, "-1e-05"),
        (-0.0, "0"),
        (1.5e12, "1.5e+12"),
        ("<b>", "<b>"),
    ],
)
def test_values_for_people(value: object, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("datatype", "text", "value"),
    [
        (Datatype.FLOAT32, " 6.5 ", 6.5),
        (Datatype.FLOAT32, "7", 7),
        (Datatype.UINT16, "1e2", 100.0),
        (Datatype.UINT16, "abc", "abc"),  # the service says "must be a number"
        (Datatype.FLOAT64, "1_000", "1_000"),
        (Datatype.BOOL, "true", True),
        (Datatype.BOOL, "Off", False),
        (Datatype.BOOL, "maybe", "maybe"),
        (Datatype.STRING, " padded ", " padded "),
    ],
)
def test_the_write_forms_text_is_a_value_of_the_tags_type(
    datatype: Datatype, text: str, value: object
) -> None:
    parsed = parse_value(datatype, text)
    assert parsed == value and type(parsed) is type(value)


def test_nan_and_infinity_reach_the_domain_check() -> None:
    assert math.isnan(parse_value(Datatype.FLOAT32, "nan"))
    assert parse_value(Datatype.FLOAT32, "-inf") == -math.inf


def test_the_trend_query() -> None:
    assert trend_query({}).range_key == trend.DEFAULT_RANGE
    assert trend_query({"range": "8h"}).range_key == "8h"
    bad_range = trend_query({"range": "1y"})
    assert "range" in bad_range.problems and bad_range.range_key == trend.DEFAULT_RANGE
    fixed = trend_query({"from": "2025-03-01T10:00:00Z", "to": "2025-03-01T10:05:00"})
    assert fixed.range_key is None and not fixed.problems
    assert fixed.start == T0 and fixed.end == T0 + timedelta(minutes=5)  # no zone: UTC
    assert set(trend_query({"from": "yesterday", "to": ""}).problems) == {"from", "to"}
    backwards = trend_query({"from": "2025-03-01T10:05", "to": "2025-03-01T10:00"})
    assert backwards.problems == {"to": "must be after 'from'"}
    assert "to" in trend_query({"from": "2025-01-01T00:00", "to": "2025-03-01T00:00"}).problems
    assert "from" in trend_query({"from": "x" * 500, "to": "2025-03-01T00:00"}).problems


def test_tag_times_drop_todays_date() -> None:
    assert short_time(None, T0) == "—"
    assert short_time(T0 + timedelta(seconds=5), T0) == "10:00:05"
    assert short_time(T0 - timedelta(days=1), T0) == "2025-02-28 10:00:00"
