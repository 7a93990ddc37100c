"""A task's form in HTML and back (hub/api/console/task_forms.py): the inputs each field
type gets, and a posted form turned into the values the workflow service checks, with
whatever does not convert passed on as typed for the service to refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.api.console.task_forms import (
    convert,
    field_views,
    shown_values,
    submitted_values,
    typed_values,
)
from hub.api.console.tasks import is_overdue
from hub.engine.forms import value_problem

FORM: list[dict[str, Any]] = [
    {"id": "notes", "type": "string", "required": False, "label": "Notes"},
    {"id": "count", "type": "integer", "required": True},
    {"id": "weight", "type": "number", "required": False, "default": 2.5},
    {"id": "ok", "type": "boolean", "required": True, "default": True},
    {"id": "grade", "type": "enum", "required": True, "options": ["A", 2, "<b>"], "default": 2},
    {"id": "day", "type": "date", "required": False},
    {"id": "at", "type": "datetime", "required": False, "default": "2024-02-29T11:00:00+01:00"},
    {"id": "pin", "type": "secret", "required": True, "default": "not-shown"},
]


def _by_id(views: list[Any]) -> dict[str, Any]:
    return {v.id: v for v in views}


def test_fields_show_their_defaults_and_never_a_secret() -> None:
    views = _by_id(field_views(FORM))
    assert views["notes"].label == "Notes" and views["count"].label == "count"
    assert views["weight"].value == "2.5" and views["weight"].input_type == "number"
    assert views["weight"].step == "any" and views["count"].step == "1"
    assert views["ok"].value == "true"
    assert [c.label for c in views["ok"].choices] == ["Yes", "No"]
    assert views["grade"].value == "1"  # the index of the default option 2
    assert [c.label for c in views["grade"].choices] == ["A", "2", "<b>"]
    assert views["at"].value == "2024-02-29T10:00:00" and views["at"].input_type == "datetime-local"
    assert views["pin"].value == "" and views["pin"].input_type == "password"
    assert views["day"].input_type == "date" and views["count"].required


def test_after_a_refusal_the_typed_values_and_problems_are_shown_but_no_secret() -> None:
    typed = {"count": "twelve", "day": "2024-02-30", "at": "2024-01-01T10:00", "pin": "s3cret"}
    views = _by_id(field_views(FORM, typed, {"count": "must be an integer"}))
    assert views["count"].value == "twelve" and views["count"].problem == "must be an integer"
    assert views["count"].input_type == "text" and views["count"].step is None
    assert views["day"].input_type == "text"  # a date input would blank it
    assert views["at"].input_type == "datetime-local"
    assert views["pin"].value == ""
    assert views["notes"].value == "" and views["notes"].problem is None


def test_typed_values_take_text_of_the_forms_fields_only() -> None:
    posted = {"field.count": "3", "field.other": "x", "count": "9", "field.pin": object()}
    assert typed_values(FORM, posted) == {"count": "3"}


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ({"type": "integer"}, "12", 12),
        ({"type": "integer"}, "12.0", 12),
        ({"type": "integer"}, "1.5", 1.5),  # the service says: must be an integer
        ({"type": "integer"}, "twelve", "twelve"),
        ({"type": "number"}, "3.25", 3.25),
        ({"type": "number"}, "-4", -4),
        ({"type": "number"}, "1e400", "1e400"),  # not finite: passed on as typed
        ({"type": "number"}, "nan", "nan"),
        ({"type": "boolean"}, "true", True),
        ({"type": "boolean"}, "false", False),
        ({"type": "boolean"}, "maybe", "maybe"),
        ({"type": "enum", "options": ["A", 2]}, "1", 2),
        ({"type": "enum", "options": ["A", 2]}, "2", "2"),
        ({"type": "enum", "options": ["A", 2]}, "A", "A"),  # not an index: as typed
        ({"type": "enum", "options": ["A", 2]}, "²", "²"),
        ({"type": "enum", "options": ["A", 2]}, "9" * 5000, "9" * 5000),
        ({"type": "integer"}, "9" * 5000, "9" * 5000),
        ({"type": "datetime"}, "2024-02-29T10:15", "2024-02-29T10:15:00Z"),
        ({"type": "datetime"}, "2024-02-29T10:15:30", "2024-02-29T10:15:30Z"),
        ({"type": "datetime"}, "2024-02-29T10:15:30+01:00", "2024-02-29T10:15:30+01:00"),
        ({"type": "date"}, "2024-02-29", "2024-02-29"),
        ({"type": "string"}, " a ", " a "),
    ],
)
def test_convert(field: dict[str, Any], text: str, value: Any) -> None:
    converted = convert(field, text)
    assert converted == value and type(converted) is type(value)


def test_the_converted_values_pass_the_services_rules() -> None:
    typed = {
        "notes": "  kept as typed ",
        "count": " 7 ",
        "weight": "",
        "ok": "false",
        "grade": "2",
        "day": "2024-02-29",
        "at": "2024-02-29T10:15",
        "pin": " p ",
    }
    values = submitted_values(FORM, typed)
    assert "weight" not in values  # empty: not given (the service applies the default)
    assert values["notes"] == "  kept as typed " and values["pin"] == " p "
    assert values["count"] == 7 and values["ok"] is False and values["grade"] == "<b>"
    for field in FORM:
        if field["id"] in values:
            kind, options = field["type"], field.get("options") or ()
            assert value_problem(kind, options, values[field["id"]]) is None, field["id"]


def test_a_completed_tasks_values_mask_the_secret() -> None:
    shown = shown_values(FORM, {"notes": "x", "ok": True, "pin": "hmac-sha256:ab", "gone": 1})
    assert shown == [
        ("Notes", "x"),
        ("ok", "Yes"),
        ("pin", "•••••• (secret, not shown)"),
        ("gone", "1"),
    ]
    assert shown_values(FORM, None) == []


def test_overdue_is_an_active_task_past_its_due_time() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)
    assert is_overdue("open", past, now) and is_overdue("claimed", past, now)
    assert not is_overdue("completed", past, now)
    assert not is_overdue("open", future, now) and not is_overdue("open", None, now)
