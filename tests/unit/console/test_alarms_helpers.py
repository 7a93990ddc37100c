"""The alarms page's pure pieces: numbers with units, limits, order, filters, form checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.api.console.alarms import (
    CURRENT,
    AlarmRow,
    Filters,
    body_problems,
    friendly,
    limit_text,
    minutes_of,
    number,
    order,
    sound_key,
    with_unit,
)
from hub.api.schemas.alarms import AckIn, ShelveIn

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _view(id: str, priority: str, since: datetime, **extra: object) -> dict[str, object]:
    return {
        "id": id,
        "device_id": "d1",
        "device": "boiler-1",
        "tag": "pressure",
        "area": extra.get("area", "north"),
        "priority": priority,
        "state": extra.get("state", "active-unacknowledged"),
        "condition": "hi",
        "value": 9.51234,
        "limit": 8.0,
        "since": since,
        "shelved_until": None,
        "rule": {"message": ""},
    }


def test_numbers_read_as_an_operator_reads_them() -> None:
    assert number(9.5) == "9.5"
    assert number(8.0) == "8"
    assert number(9.51234) == "9.512"
    assert number(-0.0001) == "0"
    assert number(42) == "42"
    assert number(True) == "true"
    assert number(None) == "—"
    assert number(float("nan")) == "nan"
    assert with_unit(9.5, "bar") == "9.5 bar"
    assert with_unit(None, "bar") == "—"
    assert with_unit(3, "") == "3"


def test_limits_name_their_condition() -> None:
    assert limit_text("hi", 8.0, "bar") == "Hi 8 bar"
    assert limit_text("lolo", -2.5, "degC") == "LoLo -2.5 degC"
    assert limit_text("rate", 2.0, "bar") == "Rate 2 bar/s"
    assert limit_text("rate", 2.0, "") == "Rate 2/s"
    assert limit_text("discrete", True, "") == "Discrete = true"
    assert limit_text(None, None, "bar") == "—"


def test_rows_sort_by_priority_then_newest_first() -> None:
    rows = [
        AlarmRow.of(_view("a", "low", T0)),
        AlarmRow.of(_view("b", "critical", T0)),
        AlarmRow.of(_view("c", "high", T0)),
        AlarmRow.of(_view("d", "critical", T0 + timedelta(minutes=5))),
        AlarmRow.of(_view("e", "high", T0.replace(tzinfo=None) - timedelta(hours=1))),
    ]
    assert [r.id for r in order(rows)] == ["d", "b", "c", "e", "a"]


def test_a_row_knows_what_to_announce() -> None:
    critical = AlarmRow.of(_view("a", "critical", T0), unit="bar")
    assert critical.announce and critical.unacknowledged
    assert critical.value_text == "9.512 bar" and critical.limit_text == "Hi 8 bar"
    assert critical.sound_key == sound_key("a", T0) == f"a@{T0.isoformat()}"
    acked = AlarmRow.of(_view("b", "critical", T0, state="active-acknowledged"))
    assert not acked.announce
    assert not AlarmRow.of(_view("c", "high", T0)).announce
    returned = AlarmRow.of(_view("d", "critical", T0, state="returned-unacknowledged"))
    assert returned.announce
    assert AlarmRow.of(_view("e", "low", "2026-01-01T12:00:00Z")).since == T0  # type: ignore[arg-type]


def test_filters_keep_what_was_asked_and_name_unknown_values() -> None:
    f = Filters.parse("", "", "")
    assert f.state == CURRENT and not f.filtered and f.query() == ""
    normal = AlarmRow.of(_view("n", "low", T0, state="normal"))
    assert not f.keeps(normal)
    assert Filters.parse("", "", "all").keeps(normal)

    f = Filters.parse("north", "high", "shelved")
    assert f.filtered and not f.problems
    assert f.query() == "?area=north&priority=high&state=shelved"
    assert f.keeps(AlarmRow.of(_view("x", "high", T0, state="shelved")))
    assert not f.keeps(AlarmRow.of(_view("x", "low", T0)))
    assert not f.keeps(AlarmRow.of(_view("x", "high", T0, area="south")))

    f = Filters.parse("<b>", "urgent", "melted")
    assert set(f.problems) == {"priority", "state"}
    assert f.priority == "" and f.state == CURRENT and f.area == "<b>"
    assert f.query() == "?area=%3Cb%3E"


def test_durations_are_whole_minutes() -> None:
    assert minutes_of("30") == 30
    assert minutes_of(" 15 ") == 15
    assert minutes_of("-5") == -5  # the domain says what range is allowed
    for bad in ("", "abc", "1.5", "1e3", "0x10", "9" * 40, "\uff13"):
        assert minutes_of(bad) is None, bad


def test_form_bodies_are_checked_by_the_apis_structs() -> None:
    assert body_problems(AckIn, {"comment": ""}) == {}
    assert body_problems(AckIn, {"comment": "x" * 1001}) == {"comment": "at most 1000 characters"}
    assert body_problems(ShelveIn, {"minutes": 5, "reason": ""}) == {"reason": "required"}
    assert body_problems(ShelveIn, {"minutes": 5, "reason": "ok"}) == {}
    assert friendly("Expected `str` of length >= 3 - at `$.x`") == "at least 3 characters"
    assert friendly("Expected `int`, got `str` - at `$.minutes`") == "Expected int, got str"
