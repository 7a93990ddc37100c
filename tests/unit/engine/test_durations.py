"""Durations: units, plain numbers, ISO 8601, and what is refused."""

from __future__ import annotations

import pytest

from hub.engine.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("1.5m", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        (30, 30.0),
        (0.5, 0.5),
        ("45", 45.0),
        (" 10 s ", 10.0),
        ("PT4H", 14400.0),
        ("P1DT30M", 88200.0),
        ("PT0.5S", 0.5),
        ("PT1M30S", 90.0),
        ("P2W", 1209600.0),
        ("pt15m", 900.0),
        ("PT0,25S", 0.25),
        (0, 0.0),
    ],
)
def test_valid_durations(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-5s", "negative"),
        (-1, "negative"),
        ("5x", "invalid duration '5x'"),
        ("", "invalid duration"),
        ("s", "invalid duration"),
        ("P", "invalid ISO 8601"),
        ("PT", "invalid ISO 8601"),
        ("P1DT", "invalid ISO 8601"),
        ("P1Y", "years and months"),
        ("P1M", "years and months"),
        ("1.2.3s", "invalid duration"),
        (True, "invalid duration"),
        (float("inf"), "finite"),
        ([5], "expected a string or a number"),
    ],
)
def test_invalid_durations(text: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        parse_duration(text)  # type: ignore[arg-type]
