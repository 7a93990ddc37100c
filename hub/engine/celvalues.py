"""Conversions between plain Python values and cel-python's types, and the hub's CEL functions.

Plain values are what definitions, run inputs and step outputs hold: JSON values, plus
``datetime`` (becomes a CEL timestamp) and ``timedelta`` (a CEL duration) for convenience.
Results go back to JSON-able values: timestamps become RFC 3339 strings in UTC, durations
become seconds (float), bytes become base64 text.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError


class ConversionError(ValueError):
    """A value that has no CEL or no JSON counterpart."""


# Deterministic replay needs a pinned clock and id source; a context variable lets one
# evaluation use them without rebuilding the compiled program.
_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("cel_clock", default=None)
_ids: ContextVar[Callable[[], str] | None] = ContextVar("cel_ids", default=None)


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def cel_now() -> celtypes.TimestampType:
    clock = _clock.get()
    moment = clock() if clock is not None else datetime.now(UTC)
    return celtypes.TimestampType(_as_utc(moment))


def cel_uuid() -> celtypes.StringType:
    source = _ids.get()
    return celtypes.StringType(source() if source is not None else str(uuid.uuid4()))


HUB_FUNCTIONS: dict[str, Callable[..., Any]] = {"now": cel_now, "uuid": cel_uuid}


def to_cel(value: Any) -> Any:
    """The CEL value for a plain Python value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return _cel_int(value)
    if isinstance(value, float | Decimal):
        return celtypes.DoubleType(float(value))
    if isinstance(value, Enum):
        return to_cel(value.value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, Mapping):
        return celtypes.MapType({to_cel(k): to_cel(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return celtypes.ListType([to_cel(item) for item in value])
    return _to_cel_special(value)


def _cel_int(value: int) -> celtypes.IntType:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ConversionError(f"{value} is outside CEL's 64-bit integer range")
    # IntType(value) builds a range-checking wrapper per call (~10 us); the check above is
    # the same rule, and int.__new__ makes the identical object for 2% of the cost.
    return int.__new__(celtypes.IntType, value)


def _to_cel_special(value: Any) -> Any:
    if isinstance(value, datetime):
        return celtypes.TimestampType(_as_utc(value))
    if isinstance(value, date):
        return celtypes.StringType(value.isoformat())
    if isinstance(value, timedelta):
        return celtypes.DurationType(value)
    if isinstance(value, bytes):
        return celtypes.BytesType(value)
    if isinstance(value, uuid.UUID):
        return celtypes.StringType(str(value))
    raise ConversionError(f"a {type(value).__name__} cannot be used in an expression")


def to_plain(value: Any) -> Any:
    """The JSON-able Python value for a CEL result; ``CELEvalError`` anywhere is raised."""
    if value is None:
        return None
    if isinstance(value, CELEvalError):
        raise value
    if isinstance(value, celtypes.BoolType | bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _finite(float(value))
    if isinstance(value, str):
        return str(value)
    return _to_plain_structured(value)


def _to_plain_structured(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_plain_key(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, type):
        return _TYPE_NAMES.get(value, value.__name__)
    raise ConversionError(f"a CEL {type(value).__name__} has no JSON form")


_TYPE_NAMES: dict[type, str] = {
    celtypes.BoolType: "bool",
    celtypes.IntType: "int",
    celtypes.UintType: "uint",
    celtypes.DoubleType: "double",
    celtypes.StringType: "string",
    celtypes.BytesType: "bytes",
    celtypes.ListType: "list",
    celtypes.MapType: "map",
    celtypes.TimestampType: "google.protobuf.Timestamp",
    celtypes.DurationType: "google.protobuf.Duration",
    type(None): "null_type",
}


def _plain_key(key: Any) -> str:
    # JSON objects only have string keys; CEL maps may be keyed by ints or bools.
    plain = to_plain(key)
    return plain if isinstance(plain, str) else string_form(plain)


def _finite(number: float) -> float:
    if math.isnan(number) or math.isinf(number):
        raise ConversionError(f"{number} has no JSON form")
    return number


def string_form(value: Any) -> str:
    """How a plain value reads inside text and as a decision case key.

    Booleans are ``true``/``false`` and null is ``null`` (as in JSON and CEL), integral
    floats drop their ``.0`` so that ``2.0`` selects the case ``2``, and lists and maps are
    compact JSON.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def rfc3339(moment: datetime) -> str:
    text = _as_utc(moment).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC: the hub stores and passes UTC everywhere.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_OPERATORS = {
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
}
_TOKEN = re.compile(r"Token\('RULE', '(\w+)'\)|'(\w+)'(?= applied)")
_CLASS = re.compile(r"<class '(?:celpy\.celtypes\.)?([\w.]+)'>")


def describe_eval_error(error: BaseException) -> str:
    """A one-line reason from a celpy error, without celpy's internal reprs."""
    reason = str(error.args[0]) if error.args else type(error).__name__
    reason = reason.split(" (in activation", 1)[0].split(" (in container", 1)[0]
    reason = _TOKEN.sub(lambda m: repr(_OPERATORS.get(m[1] or m[2], m[1] or m[2])), reason)
    reason = _CLASS.sub(lambda m: _short_type(m[1]), reason)
    return reason


def _short_type(name: str) -> str:
    short = name.removesuffix("Type").lower()
    return {"nonetype": "null"}.get(short, short)


def pinned(
    clock: Callable[[], datetime] | None, ids: Callable[[], str] | None
) -> Callable[[], None]:
    """Pin ``now()``/``uuid()`` for the current context; call the result to undo."""
    clock_token = _clock.set(clock)
    ids_token = _ids.set(ids)

    def undo() -> None:
        _ids.reset(ids_token)
        _clock.reset(clock_token)

    return undo
