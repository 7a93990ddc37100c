"""User task form fields: parsing them, and checking a submitted form against them."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from hub.engine.fields import Reader, describe_type
from hub.engine.model import FORM_FIELD_TYPES, FormField

FIELD_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_KEYS = ("id", "type", "required", "default", "options", "label")


def parse_form(reader: Reader) -> tuple[FormField, ...]:
    raw = reader.get("form")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        reader.problem("form", f"must be a list of fields, got {describe_type(raw)}")
        return ()
    fields: list[FormField] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        field = _parse_field(reader, f"form[{index}]", item)
        if field is None:
            continue
        if field.id in seen:
            reader.problem(f"form[{index}].id", f"duplicate field id {field.id!r}")
        seen.add(field.id)
        fields.append(field)
    return tuple(fields)


def _parse_field(reader: Reader, where: str, item: Any) -> FormField | None:
    if not isinstance(item, Mapping):
        reader.problem(where, f"a form field must be a mapping, got {describe_type(item)}")
        return None
    field = Reader(item, reader.collector, step=reader.step, allowed=_KEYS, prefix=f"{where}.")
    field_id = field.text("id", required=True)
    if field_id and not FIELD_ID_RE.match(field_id):
        field.problem("id", "must start with a letter or '_' and use letters, digits, '_'")
    kind = field.get("type")
    if kind not in FORM_FIELD_TYPES:
        field.problem("type", f"must be one of {', '.join(FORM_FIELD_TYPES)}, got {kind!r}")
        kind = "string"
    required = field.get("required")
    if required is not None and not isinstance(required, bool):
        field.problem("required", "must be true or false")
    options = _options(field, kind)
    default = field.get("default")
    if default is not None and (problem := value_problem(kind, options, default)):
        field.problem("default", problem)
    return FormField(field_id or "", kind, required is True, default, options, field.text("label"))


def _options(field: Reader, kind: str) -> tuple[Any, ...]:
    raw = field.get("options")
    if kind != "enum":
        if raw is not None:
            field.problem("options", "only enum fields have options")
        return ()
    valid = (
        isinstance(raw, list)
        and raw
        and all(isinstance(option, str | int | float) for option in raw)
    )
    if not valid:
        field.problem("options", "an enum needs a non-empty list of strings or numbers")
        return ()
    if len({repr(option) for option in raw}) != len(raw):
        field.problem("options", "options must be unique")
    return tuple(raw)


def value_problem(kind: str, options: Sequence[Any], value: Any) -> str | None:
    """Why ``value`` does not fit a field of type ``kind``, or None if it does."""
    if kind == "enum":
        return None if value in options else f"must be one of {list(options)!r}"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool):
        return f"must be {'an' if kind == 'integer' else 'a'} {kind}, got a boolean"
    if kind == "integer":
        return None if isinstance(value, int) else f"must be an integer, got {describe_type(value)}"
    if kind == "number":
        return None if isinstance(value, int | float) else f"must be a number, got {value!r}"
    if kind == "date":
        return _date_problem(value)
    if kind == "datetime":
        return _datetime_problem(value)
    return None if isinstance(value, str) else f"must be a string, got {describe_type(value)}"


SecretDigest = Callable[[str], str]


def secret_digester(key: bytes) -> SecretDigest:
    """How a secret value is kept (task row, run history, pack parameters): its HMAC-SHA256
    under the hub's secret key. Equal values keep equal digests, so they can be compared,
    but a reader of the history cannot test guesses offline without the key."""

    def digest(value: str) -> str:
        return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    return digest


# Python's fromisoformat also takes "20240101" and other ISO 8601 forms; a form takes
# the one form people and programs write, checked for shape first, then for the calendar.
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})"
)


def _date_problem(value: Any) -> str | None:
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            date.fromisoformat(value)
            return None
        except ValueError:
            pass
    return f"must be a date as YYYY-MM-DD, got {_shown(value)}"


def _datetime_problem(value: Any) -> str | None:
    """RFC 3339: a date, a time and an offset (Z or +hh:mm); a time without one is
    ambiguous across sites."""
    if isinstance(value, str) and _DATETIME_RE.fullmatch(value):
        try:
            datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            return None
        except ValueError:
            pass
    return f"must be a date-time as YYYY-MM-DDThh:mm:ssZ (or +hh:mm), got {_shown(value)}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_form_values(form: Sequence[FormField], values: Mapping[str, Any]) -> list[str]:
    """Problems with a submitted form (missing required fields, wrong types, extras)."""
    problems: list[str] = []
    known = {field.id for field in form}
    for field in form:
        value = values.get(field.id)
        if value is None:
            if field.required:
                problems.append(f"{field.id}: is required")
            continue
        if problem := value_problem(field.type, field.options, value):
            problems.append(f"{field.id}: {problem}")
    problems.extend(f"{key}: unknown field" for key in values if key not in known)
    return problems
