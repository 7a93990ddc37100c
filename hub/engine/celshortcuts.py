"""Answers for the commonest template expressions without cel-python's interpreter.

Most expressions in templates pick a value out of the context (`steps.a.output`), test
one (`trigger.payload.action in ["a", "b"]`), or take an optional one
(`has(steps.x) ? steps.x.output : null`, `has(steps.r) && steps.r.output.ok`). The
interpreter walks a parse tree and converts the context to CEL values first, about a
millisecond for a run with a dozen steps; these forms are answered by looking up plain
values. A shortcut answers only when every part is there and of the type the form needs;
anything else (a missing key, a condition that is not a bool, a value with no JSON form)
returns MISSING and the interpreter gives CEL's own answer, so both always agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

MISSING: Any = object()

Path = tuple[str, ...]
# (path) -> the plain value there (through maps only), or MISSING
Member = Callable[[Path], Any]
Shortcut = Callable[[Member], Any]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
MEMBER_PATH = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
# Only plain double-quoted strings (no escapes): their CEL value is their text as written.
_PLAIN_STRING = r'"[^"\\\n]*"'
_MEMBERSHIP = re.compile(
    rf"({MEMBER_PATH.pattern})\s+in\s+\[\s*({_PLAIN_STRING}(?:\s*,\s*{_PLAIN_STRING})*)\s*\]"
)
_LITERAL = rf"null|true|false|-?\d{{1,15}}(?:\.\d{{1,15}})?|{_PLAIN_STRING}"
_OPERAND = rf"{MEMBER_PATH.pattern}|{_LITERAL}"
_HAS = rf"has\(\s*({_IDENT}(?:\.{_IDENT})+)\s*\)"
_HAS_CHOICE = re.compile(rf"{_HAS}\s*\?\s*({_OPERAND})\s*:\s*({_OPERAND})")
_HAS_AND = re.compile(rf"{_HAS}\s*&&\s*({MEMBER_PATH.pattern})")
_INT64 = (-(2**63), 2**63 - 1)


def shortcut(text: str, names: frozenset[str]) -> Shortcut | None:
    """The shortcut for `text`, or None when it takes the interpreter."""
    text = text.strip()
    if _is_path(text, names):
        return _picked(_path(text))
    if (found := _MEMBERSHIP.fullmatch(text)) and _is_path(found[1], names):
        strings = frozenset(s[1:-1] for s in re.findall(_PLAIN_STRING, found[2]))
        return _among(_path(found[1]), strings)
    if (found := _HAS_CHOICE.fullmatch(text)) and _is_path(found[1], names):
        then, otherwise = _operand(found[2], names), _operand(found[3], names)
        if then is not None and otherwise is not None:
            return _choice(_path(found[1]), then, otherwise)
    if (found := _HAS_AND.fullmatch(text)) and _is_path(found[1], names):
        return _has_and(_path(found[1]), _path(found[2])) if _is_path(found[2], names) else None
    return None


def plain_copy(value: Any) -> Any:
    """`value` as the interpreter would give it back, when it is plain JSON (str keys,
    64-bit ints, finite floats); MISSING for anything else (the interpreter decides)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else MISSING
    if isinstance(value, float):
        return value if math.isfinite(value) else MISSING
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or (item := plain_copy(item)) is MISSING:
                return MISSING
            copied[key] = item
        return copied
    if isinstance(value, list | tuple):
        items = [plain_copy(item) for item in value]
        return MISSING if any(item is MISSING for item in items) else items
    return MISSING


def _is_path(text: str, names: frozenset[str]) -> bool:
    return MEMBER_PATH.fullmatch(text) is not None and text.split(".", 1)[0] in names


def _path(text: str) -> Path:
    return tuple(text.split("."))


def _picked(path: Path) -> Shortcut:
    def pick(member: Member) -> Any:
        found = member(path)
        return MISSING if found is MISSING else plain_copy(found)

    return pick


def _among(path: Path, strings: frozenset[str]) -> Shortcut:
    def among(member: Member) -> Any:
        found = member(path)
        return found in strings if isinstance(found, str) else MISSING

    return among


def _has(member: Member, path: Path) -> Any:
    """CEL's has() on a map: whether the last key is there; MISSING when the parent is
    not a map that is there (CEL's answer is then an error)."""
    parent = member(path[:-1])
    return path[-1] in parent if isinstance(parent, Mapping) else MISSING


def _operand(text: str, names: frozenset[str]) -> Shortcut | None:
    if _is_path(text, names):
        return _picked(_path(text))
    if MEMBER_PATH.fullmatch(text) and text not in ("null", "true", "false"):
        return None  # an unknown root: the interpreter reports it
    value = _literal(text)
    return lambda _member: value


def _literal(text: str) -> Any:
    if text in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[text]
    if text.startswith('"'):
        return text[1:-1]
    return float(text) if "." in text else int(text)


def _choice(condition: Path, then: Shortcut, otherwise: Shortcut) -> Shortcut:
    def choose(member: Member) -> Any:
        present = _has(member, condition)
        if present is MISSING:
            return MISSING
        return then(member) if present else otherwise(member)

    return choose


def _has_and(condition: Path, path: Path) -> Shortcut:
    def both(member: Member) -> Any:
        present = _has(member, condition)
        if present is MISSING or present is False:
            return present
        found = member(path)
        return found if isinstance(found, bool) else MISSING

    return both
