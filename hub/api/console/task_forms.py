"""A user task's form in the browser: its fields as HTML inputs, and a posted HTML form
turned back into the JSON values the workflow service checks.

The form definition is the task's `form` (hub/engine/forms.py: each field has an `id`, a
`type` among string, number, integer, boolean, date, datetime, enum and secret, and may
have `required`, `default`, `options` (enum) and `label`). Nothing here decides whether
a value is acceptable: values are converted as far as their type says (digits to a
number, an enum choice to its option, a `datetime-local` input to RFC 3339 in UTC) and
whatever cannot be converted is passed on as typed, so the service's own rules
(`WorkflowService.complete`) refuse it with a 422 naming the field, as the API would.

Secret values are never sent back to the browser: a secret input is a password input
without a value, before and after a refused submission.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

FIELD_PREFIX = "field."  # the HTML names of the form's inputs: field.<id>
TEXT_KINDS = ("string", "secret")  # taken as typed (not trimmed)
_INDEX_RE = re.compile(r"\d{1,6}")
_INTEGER_RE = re.compile(r"[+-]?\d{1,400}")
_DECIMAL_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOCAL_DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(?:\.\d{1,6})?)?")
INPUT_TYPES = {
    "string": "text",
    "number": "number",
    "integer": "number",
    "date": "date",
    "datetime": "datetime-local",
    "secret": "password",
}


@dataclass(frozen=True)
class Choice:
    value: str  # what the browser posts (the option's index for an enum)
    label: str  # what it shows, as text


@dataclass(frozen=True)
class FieldView:
    """One field of a task's form, ready for the template."""

    id: str
    kind: str
    label: str
    required: bool
    value: str  # what the input shows (never a secret's)
    choices: tuple[Choice, ...] = ()  # enum options, or the boolean's answers
    problem: str | None = None

    @property
    def name(self) -> str:
        return FIELD_PREFIX + self.id

    @property
    def html_id(self) -> str:
        return "task-field-" + self.id

    @property
    def input_type(self) -> str:
        """The input's type; a plain text input for a number, date or date-time field
        holding text the browser's own input would blank (kept after a refusal)."""
        if self.value and not _shown_as_typed(self.kind, self.value):
            return "text"
        return INPUT_TYPES.get(self.kind, "text")

    @property
    def step(self) -> str | None:
        """The number input's step: whole numbers for integers, any for numbers, seconds
        for date-times."""
        if self.input_type == "text":
            return None
        return {"integer": "1", "number": "any", "datetime": "1"}.get(self.kind)


def _shown_as_typed(kind: str, text: str) -> bool:
    """Would the browser's input for `kind` show `text` (rather than blank it)? A finite
    decimal for numbers, a calendar day for dates, a local date-time for date-times."""
    text = text.strip()
    try:
        if kind in ("number", "integer"):
            return _DECIMAL_RE.fullmatch(text) is not None and math.isfinite(float(text))
        if kind == "date":
            return _DATE_RE.fullmatch(text) is not None and bool(date.fromisoformat(text))
        if kind == "datetime":
            return _LOCAL_DATETIME_RE.fullmatch(text) is not None and bool(
                datetime.fromisoformat(text)
            )
    except ValueError:
        return False
    return True


def input_name(field_id: str) -> str:
    return FIELD_PREFIX + field_id


def _kind(field: Mapping[str, Any]) -> str:
    return str(field.get("type") or "string")


def _options(field: Mapping[str, Any]) -> list[Any]:
    options = field.get("options")
    return list(options) if isinstance(options, list | tuple) else []


def _text(value: Any) -> str:
    """A value as the browser shows it (true/false for booleans, JSON's spelling)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _datetime_input(value: Any) -> str:
    """An RFC 3339 default as a `datetime-local` input's value, in UTC."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def shown_default(field: Mapping[str, Any]) -> str:
    """What a field's input holds before anything is typed: its default (a secret's
    input stays empty)."""
    kind, default = _kind(field), field.get("default")
    if default is None or kind == "secret":
        return ""
    if kind == "enum":
        options = _options(field)
        matches = [i for i, option in enumerate(options) if _same(option, default)]
        return str(matches[0]) if matches else ""
    if kind == "datetime":
        return _datetime_input(default)
    return _text(default)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _choices(field: Mapping[str, Any]) -> tuple[Choice, ...]:
    kind = _kind(field)
    if kind == "enum":
        return tuple(Choice(str(i), _text(o)) for i, o in enumerate(_options(field)))
    if kind == "boolean":
        return (Choice("true", "Yes"), Choice("false", "No"))
    return ()


def field_views(
    form: Sequence[Mapping[str, Any]],
    typed: Mapping[str, str] | None = None,
    problems: Mapping[str, str] | None = None,
) -> list[FieldView]:
    """The form's fields for the template: with their defaults, or, after a refused
    submission, with what was typed (`typed`, by field id; never a secret) and the
    service's problem for each field (`problems`, by field id)."""
    views: list[FieldView] = []
    for field in form:
        fid = str(field.get("id", ""))
        kind = _kind(field)
        if typed is None:
            value = shown_default(field)
        else:
            value = "" if kind == "secret" else typed.get(fid, "")
        views.append(
            FieldView(
                id=fid,
                kind=kind,
                label=str(field.get("label") or fid),
                required=bool(field.get("required")),
                value=value,
                choices=_choices(field),
                problem=(problems or {}).get(fid),
            )
        )
    return views


def typed_values(form: Sequence[Mapping[str, Any]], posted: Mapping[str, Any]) -> dict[str, str]:
    """What the user typed into each field of the form (text only, by field id; files and
    names that are not the form's are left out)."""
    typed: dict[str, str] = {}
    for field in form:
        fid = str(field.get("id", ""))
        raw = posted.get(input_name(fid))
        if isinstance(raw, str):
            typed[fid] = raw
    return typed


def _number(text: str, *, whole: bool) -> Any:
    if _INTEGER_RE.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text  # not a number: the service says so, naming the field
    if not math.isfinite(number):
        return text
    if whole and number.is_integer():
        return int(number)
    return number


def _datetime(text: str) -> str:
    """A `datetime-local` input's value (no offset) as RFC 3339 in UTC, the console's
    time zone; anything else as typed."""
    found = _LOCAL_DATETIME_RE.fullmatch(text)
    if found is None:
        return text
    day, minutes, seconds = found.groups()
    return f"{day}T{minutes}{seconds or ':00'}Z"


def convert(field: Mapping[str, Any], text: str) -> Any:
    """One typed value as the JSON value of its field's type, as far as it converts."""
    kind = _kind(field)
    if kind in ("number", "integer"):
        return _number(text, whole=kind == "integer")
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if kind == "enum":
        options = _options(field)
        if _INDEX_RE.fullmatch(text) and int(text) < len(options):
            return options[int(text)]
        return text
    if kind == "datetime":
        return _datetime(text)
    return text


def submitted_values(form: Sequence[Mapping[str, Any]], typed: Mapping[str, str]) -> dict[str, Any]:
    """The values to complete the task with: each field the user filled in, converted.
    An empty input is a field not given (the service applies its default, or says it
    is required)."""
    values: dict[str, Any] = {}
    for field in form:
        fid = str(field.get("id", ""))
        text = typed.get(fid)
        if text is None:
            continue
        if _kind(field) not in TEXT_KINDS:
            text = text.strip()
        if text == "":
            continue
        values[fid] = convert(field, text)
    return values


def shown_values(
    form: Sequence[Mapping[str, Any]], values: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """A completed task's values as (label, text), a secret's as a mask (the task keeps
    only its digest, which is not shown either)."""
    if not values:
        return []
    shown: list[tuple[str, str]] = []
    kinds = {str(f.get("id", "")): f for f in form}
    for fid, value in values.items():
        field = kinds.get(fid, {})
        label = str(field.get("label") or fid)
        if _kind(field) == "secret":
            shown.append((label, "•••••• (secret, not shown)"))
        elif isinstance(value, bool):
            shown.append((label, "Yes" if value else "No"))
        else:
            shown.append((label, _text(value)))
    return shown
