"""Declarative data mapping: the product design's DataMapper (issue 15, item 7).

A mapping spec is plain data (YAML or JSON), validated once by :func:`compile_mapping`,
which returns a :class:`Mapper` or raises ``ValidationFailed`` listing every problem, each
naming its field (``fields[2].transform: unknown transform 'uppr'``)::

    fields:
      - target: order.id                 # dot path into the output (see below)
        path: $.d.SalesOrder             # JSONPath into the input: the first match
        required: true                   # no value: the mapping fails (default false)
      - target: order.customer
        template: "Order {order.id} for {customer.name}"   # dot paths into the input
      - target: order.kind
        value: standard                  # a constant
      - target: order.items
        path: $.items[*]                 # every match ...
        each:                            # ... mapped by a nested spec (a list of objects)
          fields: [{target: qty, path: $.quantity, transform: {number: {decimals: 3}}}]
      - target: order.skus
        path: $.items[*].sku
        many: true                       # every match, as a list (transforms per item)
        transform: [trim, upper]         # one transform or a list, applied in order
        default: []                      # the output when nothing is found (not transformed)

Exactly one source per field: ``path``, ``template`` or ``value``; ``each`` and ``many``
need ``path``. A field whose source finds nothing (no JSONPath match) and has no
``default`` is left out of the output; an input ``null`` is kept as ``null`` (unless
there is a ``default``: it replaces both).

Targets: dot-separated segments; a segment of digits is a list index (the list is padded
with ``null`` up to it, index <= ``MAX_INDEX``), any other segment an object key; the first
segment is a key (the output is always an object). Keys holding a ``.`` cannot be
written. Two fields may not write the same target, nor one inside another's value, nor use
one segment as both a key and an index: all checked at compile time, so applying a
compiled mapping never meets a conflict.

Transforms (a name, or ``{name: options}``):

* ``upper``, ``lower``, ``trim``: strings only; other values pass unchanged.
* ``string``: a scalar as text (``true``/``false`` for booleans); objects and lists fail.
* ``number``: text or a number to a number. ``{number: {decimals: 2}}`` rounds half up
  (0 decimals gives an integer); ``as: string`` keeps it as fixed-point text
  (``"10.000"``, as OData V2 sends ``Edm.Decimal``); ``{number: ",.2f"}`` (or
  ``{number: {format: ",.2f"}}``) formats with a restricted Python format spec: an
  optional sign, grouping ``,`` or ``_``, precision <= 12 and type ``f``, ``e``, ``g`` or
  ``%`` (no width, so the output stays short).
* ``date``: parses ISO 8601 (a date, or a date-time; without an offset it is UTC) and
  OData V2 ``/Date(<ms>[+-<minutes>])/``; ``date`` alone outputs the ISO date
  (``2024-03-01``); ``{date: iso}`` the ISO date-time, ``{date: odata_v2}``
  ``/Date(<ms>)/``, ``{date: epoch_ms}`` milliseconds, and anything holding ``%`` is a
  strftime pattern of the directives ``aAbBdfHIjmMpSyYz%`` (at most 64 characters).
* ``default``: ``{default: x}`` replaces a missing or ``null`` value at that point.
* ``lookup``: ``{lookup: {table: {A: high, B: low}, fallback: normal}}``; keys compare
  with the value's text (``1`` finds ``"1"``); with no fallback an unknown value fails
  the mapping (a code table that silently passed unknown codes would hide errors).

Transforms other than ``default`` pass a missing value or ``null`` through unchanged.

Templates: ``{dot.path}`` placeholders (segments of ``A-Z a-z 0-9 _ @ -``, digits index
lists) resolved against the mapping's input; ``{{`` and ``}}`` write literal braces.
Nothing is evaluated: no expressions, filters or calls. A missing value or ``null``
renders as nothing, an object or list as compact JSON, booleans as ``true``/``false``.

Bounds, so that a spec is cheap to compile and applying it to untrusted input cannot
explode: at most ``MAX_FIELDS`` fields per spec and ``MAX_NESTING`` levels of ``each``,
target paths of ``MAX_TARGET_SEGMENTS`` segments and ``MAX_TARGET_CHARS`` characters,
JSONPath expressions of ``MAX_JSONPATH_CHARS`` characters using only plain selection
(fields, indexes, slices, wildcards, ``..``, unions, filters with comparisons and
``len``; no arithmetic, regular expressions or string functions), templates of
``MAX_TEMPLATE_CHARS`` characters with ``MAX_PLACEHOLDERS`` placeholders, lookup tables of
``MAX_LOOKUP_ENTRIES`` entries. The input may hold ``MAX_INPUT_NODES`` values nested
``MAX_INPUT_DEPTH`` levels, a path ``MAX_MATCHES`` matches, and the output at most
``MAX_OUTPUT_NODES`` values and ``MAX_OUTPUT_CHARS`` characters of text (a value copied
many times counts each time). Applying raises :class:`MappingError` naming the field.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse as parse_jsonpath
from jsonpath_ng.ext.filter import And, Expression, Filter, Or
from jsonpath_ng.ext.iterable import Len
from jsonpath_ng.jsonpath import (
    Child,
    Descendants,
    Fields,
    Index,
    Root,
    Slice,
    This,
    Wildcard,
    _Union,
)

from hub.domain.errors import FieldProblem, ValidationFailed

MAX_FIELDS = 200
MAX_NESTING = 3
MAX_TARGET_SEGMENTS = 16
MAX_TARGET_CHARS = 256
MAX_INDEX = 999
MAX_JSONPATH_CHARS = 512
MAX_TEMPLATE_CHARS = 2000
MAX_PLACEHOLDERS = 64
MAX_LOOKUP_ENTRIES = 1000
MAX_MATCHES = 1000
MAX_INPUT_NODES = 100_000
MAX_INPUT_DEPTH = 64
MAX_OUTPUT_NODES = 100_000
MAX_OUTPUT_CHARS = 4_000_000

_FIELD_KEYS = frozenset({"target", "path", "template", "value", "transform", "default",
                         "required", "many", "each", "description"})  # fmt: skip
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_@$-]+$")
_PLACEHOLDER_RE = re.compile(r"^[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*$")
_NUMBER_TEXT_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?\s*$")
_FORMAT_SPEC_RE = re.compile(r"^[+ -]?[,_]?(\.(\d|1[0-2]))?[fFeEgG%]$")
_ODATA_DATE_RE = re.compile(r"^/Date\((-?\d{1,15})([+-]\d{1,4})?\)/$")
_STRFTIME_DIRECTIVES = frozenset("aAbBdfHIjmMpSyYz%")
# Node types a JSONPath may use: selection only (see the module docstring).
_JSONPATH_NODES = (Root, This, Child, Fields, Index, Slice, Wildcard, Descendants, _Union,
                   Filter, Expression, And, Or, Len)  # fmt: skip
_MAX_NUMBER_EXPONENT = 30  # |x| < 1e30: no formatting produces a runaway string


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # "no value": distinct from a JSON null


class MappingError(ValueError):
    """Applying a compiled mapping failed; ``field`` names the spec field responsible."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- compiled parts -----------------------------------------------------------------


@dataclass(frozen=True)
class _Transform:
    where: str
    fn: Callable[[Any, str], Any]  # (value, where) -> value; raises MappingError


@dataclass(frozen=True)
class _Field:
    where: str
    target: tuple[str | int, ...]
    source: Callable[[Any, str], Any]  # (input, where) -> value or MISSING
    transforms: tuple[_Transform, ...]
    default: Any
    required: bool
    many: bool
    each: Mapper | None


@dataclass(frozen=True)
class Mapper:
    """A compiled mapping: ``apply(data)`` returns a new object, ``data`` is not changed."""

    fields: tuple[_Field, ...]

    @property
    def targets(self) -> tuple[tuple[str | int, ...], ...]:
        """Each field's target path, in order (profiles check these are plain names)."""
        return tuple(field.target for field in self.fields)

    def apply(self, data: Any) -> dict[str, Any]:
        _check_input(data)
        return self._apply(data, _Budget())

    def _apply(self, data: Any, budget: _Budget) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in self.fields:
            value = _field_value(field, data, budget)
            if value is MISSING:
                if field.required:
                    raise MappingError(field.where, "no value (the field is required)")
                continue
            budget.charge(value, field.where)
            _place(out, field.target, value)
        return out


class _Budget:
    """What the output holds so far: values copied from the input count each time."""

    def __init__(self) -> None:
        self.nodes = 0
        self.chars = 0

    def charge(self, value: Any, where: str) -> None:
        stack = [value]
        while stack:
            item = stack.pop()
            self.nodes += 1
            if isinstance(item, str):
                self.chars += len(item)
            elif isinstance(item, Mapping):
                self.chars += sum(len(str(key)) for key in item)
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
            if self.nodes > MAX_OUTPUT_NODES or self.chars > MAX_OUTPUT_CHARS:
                raise MappingError(
                    where,
                    f"the output would exceed {MAX_OUTPUT_NODES} values "
                    f"or {MAX_OUTPUT_CHARS} characters",
                )


def _field_value(field: _Field, data: Any, budget: _Budget) -> Any:
    value = field.source(data, field.where)
    if field.each is not None and value is not MISSING:
        value = [field.each._apply(item, budget) for item in value]
    elif field.many and value is not MISSING:
        value = [_transformed(field.transforms, item) for item in value]
    else:
        value = _transformed(field.transforms, value)
    if (value is MISSING or value is None) and field.default is not MISSING:
        return field.default
    return value


def _transformed(transforms: tuple[_Transform, ...], value: Any) -> Any:
    for transform in transforms:
        value = transform.fn(value, transform.where)
    return value


def _place(out: dict[str, Any], target: tuple[str | int, ...], value: Any) -> None:
    # Compile-time checks guarantee every container on the way has the expected kind.
    node: Any = out
    for segment, following in pairwise(target):
        fresh: Any = [] if isinstance(following, int) else {}
        node = _slot(node, segment, fresh)
    last = target[-1]
    if isinstance(last, int):
        _pad(node, last)
        node[last] = value
    else:
        node[last] = value


def _slot(node: Any, segment: str | int, fresh: Any) -> Any:
    if isinstance(segment, int):
        _pad(node, segment)
        if node[segment] is None:
            node[segment] = fresh
        return node[segment]
    return node.setdefault(segment, fresh)


def _pad(items: list[Any], index: int) -> None:
    if len(items) <= index:
        items.extend([None] * (index + 1 - len(items)))


def _check_input(data: Any) -> None:
    # Iterative: hostile input must not reach a recursive walk (JSONPath's `..` recurses).
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_INPUT_NODES:
            raise MappingError("input", f"more than {MAX_INPUT_NODES} values")
        if isinstance(item, Mapping | list | tuple):
            if depth >= MAX_INPUT_DEPTH:
                raise MappingError("input", f"nested deeper than {MAX_INPUT_DEPTH} levels")
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, depth + 1) for child in children)


# --- compiling ----------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(FieldProblem(where, message))


def compile_mapping(spec: Any, *, where: str = "") -> Mapper:
    """The compiled mapping, or ``ValidationFailed`` naming every problem; ``where``
    prefixes each problem's field (``mapping`` gives ``mapping.fields[0].target``)."""
    problems = _Problems()
    mapper = _compile(spec, where, problems, nesting=0)
    if problems.items or mapper is None:
        raise ValidationFailed(problems.items or [FieldProblem(where or "mapping", "invalid")])
    return mapper


def mapping_problems(spec: Any, *, where: str = "") -> list[FieldProblem]:
    """Every problem of ``spec`` (empty when it compiles)."""
    try:
        compile_mapping(spec, where=where)
    except ValidationFailed as failed:
        return failed.problems
    return []


def _join(where: str, key: str) -> str:
    if not where:
        return key
    return f"{where}{key}" if key.startswith("[") else f"{where}.{key}"


def _compile(spec: Any, where: str, problems: _Problems, nesting: int) -> Mapper | None:
    if not isinstance(spec, Mapping):
        problems.add(where or "mapping", "must be a mapping with a 'fields' list")
        return None
    for key in spec:
        if key != "fields":
            problems.add(_join(where, str(key)), "unknown field")
    raw_fields = spec.get("fields")
    at = _join(where, "fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.add(at, "must be a non-empty list of fields")
        return None
    if len(raw_fields) > MAX_FIELDS:
        problems.add(at, f"at most {MAX_FIELDS} fields, got {len(raw_fields)}")
        return None
    fields = [
        _compile_field(raw, f"{at}[{i}]", problems, nesting) for i, raw in enumerate(raw_fields)
    ]
    _check_targets([f for f in fields if f is not None], problems)
    return Mapper(tuple(f for f in fields if f is not None))


def _compile_field(raw: Any, where: str, problems: _Problems, nesting: int) -> _Field | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "a field must be a mapping with a target and a source")
        return None
    before = len(problems.items)
    for key in raw:
        if key not in _FIELD_KEYS:
            problems.add(_join(where, str(key)), "unknown field")
    target = _compile_target(raw.get("target"), _join(where, "target"), problems)
    many, each = _flag(raw, "many", where, problems), None
    if "each" in raw:
        each = _compile_each(raw["each"], _join(where, "each"), problems, nesting)
        if raw.get("transform") is not None:
            problems.add(_join(where, "transform"), "not allowed with each (transform inside it)")
    source = _compile_source(raw, where, problems, many or "each" in raw)
    transforms = _compile_transforms(raw.get("transform"), _join(where, "transform"), problems)
    field = _Field(
        where=where,
        target=target or ("",),
        source=source or _missing_source,
        transforms=transforms,
        default=raw.get("default", MISSING),
        required=_flag(raw, "required", where, problems),
        many=many,
        each=each,
    )
    return field if len(problems.items) == before else None


def _flag(raw: Mapping[str, Any], key: str, where: str, problems: _Problems) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        problems.add(_join(where, key), "must be true or false")
        return False
    return value


def _compile_each(raw: Any, where: str, problems: _Problems, nesting: int) -> Mapper | None:
    if nesting + 1 >= MAX_NESTING:
        problems.add(where, f"each may nest at most {MAX_NESTING - 1} levels deep")
        return None
    return _compile(raw, where, problems, nesting + 1)


def _missing_source(data: Any, where: str) -> Any:
    return MISSING


def _compile_target(raw: Any, where: str, problems: _Problems) -> tuple[str | int, ...] | None:
    if not isinstance(raw, str) or not raw:
        problems.add(where, "is required: a dot path such as order.items.0.qty")
        return None
    if len(raw) > MAX_TARGET_CHARS:
        problems.add(where, f"at most {MAX_TARGET_CHARS} characters")
        return None
    segments = raw.split(".")
    if len(segments) > MAX_TARGET_SEGMENTS:
        problems.add(where, f"at most {MAX_TARGET_SEGMENTS} segments")
        return None
    if not all(_SEGMENT_RE.match(segment) for segment in segments):
        problems.add(where, f"{raw!r}: segments are letters, digits, '_', '@', '$' or '-'")
        return None
    if segments[0].isdigit():
        problems.add(where, "must start with a key (the output is an object)")
        return None
    path = tuple(int(s) if s.isdigit() else s for s in segments)
    if any(isinstance(s, int) and s > MAX_INDEX for s in path):
        problems.add(where, f"list indexes go up to {MAX_INDEX}")
        return None
    return path


_Target = tuple[str | int, ...]


def _check_targets(fields: list[_Field], problems: _Problems) -> None:
    written: dict[_Target, str] = {}  # target -> the field writing it
    containers: dict[_Target, tuple[bool, str]] = {}  # path -> (holds a list, first field)
    for field in fields:
        where = _join(field.where, "target")
        clash = _clash(field.target, written, containers)
        if clash is not None:
            problems.add(where, f"overlaps the target of {clash}")
            continue
        mixed = _mixed(field.target, field.where, containers)
        if mixed is not None:
            problems.add(where, f"uses a segment as both a list index and a key (see {mixed})")
            continue
        written[field.target] = field.where


def _clash(
    target: _Target, written: dict[_Target, str], containers: dict[_Target, tuple[bool, str]]
) -> str | None:
    if target in written:
        return written[target]
    if target in containers:  # another field writes inside this target
        return containers[target][1]
    prefixes = (target[:n] for n in range(1, len(target)))
    return next((written[p] for p in prefixes if p in written), None)


def _mixed(target: _Target, where: str, containers: dict[_Target, tuple[bool, str]]) -> str | None:
    for n in range(1, len(target)):
        holds_list = isinstance(target[n], int)
        seen = containers.setdefault(target[:n], (holds_list, where))
        if seen[0] != holds_list:
            return seen[1]
    return None


def _compile_source(
    raw: Mapping[str, Any], where: str, problems: _Problems, many: bool
) -> Callable[[Any, str], Any] | None:
    given = [key for key in ("path", "template", "value") if key in raw]
    if len(given) != 1:
        problems.add(where, "give exactly one of path, template or value")
        return None
    (kind,) = given
    if many and kind != "path":
        problems.add(_join(where, kind), "many and each need a path")
        return None
    at = _join(where, kind)
    if kind == "value":
        constant = raw["value"]
        return lambda data, _where: constant
    if kind == "template":
        return _compile_template_source(raw["template"], at, problems)
    expression = _compile_jsonpath(raw["path"], at, problems)
    if expression is None:
        return None
    return _all_matches(expression) if many else _first_match(expression)


# --- JSONPath -----------------------------------------------------------------------


def _compile_jsonpath(raw: Any, where: str, problems: _Problems) -> JSONPath | None:
    if not isinstance(raw, str) or not raw.strip():
        problems.add(where, "must be a JSONPath expression such as $.order.id")
        return None
    if len(raw) > MAX_JSONPATH_CHARS:
        problems.add(where, f"at most {MAX_JSONPATH_CHARS} characters")
        return None
    try:
        expression = _parse_jsonpath(raw)
    except Exception as error:  # the parser raises plain Exception subclasses
        problems.add(where, f"invalid JSONPath {raw!r}: {_first_line(error)}")
        return None
    refused = _refused_node(expression)
    if refused is not None:
        problems.add(where, f"invalid JSONPath {raw!r}: {refused} is not allowed")
        return None
    return expression


@functools.lru_cache(maxsize=512)
def _parse_jsonpath(text: str) -> JSONPath:
    # Parsing builds a parser each time (~1 ms); found expressions are immutable.
    return parse_jsonpath(text)


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def _refused_node(node: Any) -> str | None:
    """The first part of a parsed JSONPath outside the allowed selection, if any."""
    stack, seen = [node], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > 10 * MAX_JSONPATH_CHARS:
            return "an expression this large"
        if isinstance(item, list | tuple):
            stack.extend(item)
            continue
        if not isinstance(item, JSONPath):
            continue
        if type(item) not in _JSONPATH_NODES:
            return f"{type(item).__name__.lower()} ({item})"
        if isinstance(item, Expression) and item.op == "=~":
            return "a regular expression match (=~)"
        stack.extend(
            value for value in vars(item).values() if isinstance(value, JSONPath | list | tuple)
        )
    return None


def _matches(expression: JSONPath, data: Any, where: str) -> list[Any]:
    try:
        found = expression.find(data)
    except RecursionError:
        raise MappingError(where, "the input is nested too deeply for this path") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise MappingError(where, f"the path cannot be applied: {error}") from None
    if len(found) > MAX_MATCHES:
        raise MappingError(where, f"more than {MAX_MATCHES} matches")
    return [match.value for match in found]


def _first_match(expression: JSONPath) -> Callable[[Any, str], Any]:
    def source(data: Any, where: str) -> Any:
        values = _matches(expression, data, where)
        return values[0] if values else MISSING

    return source


def _all_matches(expression: JSONPath) -> Callable[[Any, str], Any]:
    def source(data: Any, where: str) -> Any:
        return _matches(expression, data, where) or MISSING

    return source


# --- templates ----------------------------------------------------------------------

_Part = str | tuple[str | int, ...]


def _compile_template_source(
    raw: Any, where: str, problems: _Problems
) -> Callable[[Any, str], Any] | None:
    parts = _compile_text_template(raw, where, problems)
    if parts is None:
        return None
    return lambda data, _where: _render_text_template(parts, data)


def _compile_text_template(raw: Any, where: str, problems: _Problems) -> tuple[_Part, ...] | None:
    """``"Order {order.id}"`` as literal text and dot paths; None (and a problem) if bad."""
    if not isinstance(raw, str):
        problems.add(where, "must be a string")
        return None
    if len(raw) > MAX_TEMPLATE_CHARS:
        problems.add(where, f"at most {MAX_TEMPLATE_CHARS} characters")
        return None
    parts: list[_Part] = []
    text: list[str] = []
    position = 0
    for match in re.finditer(r"\{\{|\}\}|\{([^{}]*)\}|[{}]", raw):
        text.append(raw[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            text.append(token[0])
        elif match.group(1) is None:
            problems.add(where, f"unmatched {token!r} at {match.start()} (write {token * 2})")
            return None
        elif not _PLACEHOLDER_RE.match(name := match.group(1).strip()):
            problems.add(where, f"invalid placeholder {token!r}: use a dot path such as {{a.b}}")
            return None
        else:
            parts.extend(["".join(text), _dot_path(name)])
            text = []
    parts.append("".join(text) + raw[position:])
    if sum(isinstance(part, tuple) for part in parts) > MAX_PLACEHOLDERS:
        problems.add(where, f"at most {MAX_PLACEHOLDERS} placeholders")
        return None
    return tuple(part for part in parts if part != "")


def _dot_path(text: str) -> tuple[str | int, ...]:
    return tuple(int(s) if s.isdigit() else s for s in text.split("."))


def _render_text_template(parts: tuple[_Part, ...], data: Any) -> str:
    return "".join(part if isinstance(part, str) else _text(resolve(data, part)) for part in parts)


def resolve(data: Any, path: tuple[str | int, ...]) -> Any:
    """The value at a dot path (keys, and list indexes for digit segments), or MISSING."""
    node = data
    for segment in path:
        if isinstance(node, Mapping) and str(segment) in node:
            node = node[str(segment)]
        elif isinstance(node, list) and isinstance(segment, int) and segment < len(node):
            node = node[segment]
        else:
            return MISSING
    return node


def _text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


# --- transforms ---------------------------------------------------------------------


def _compile_transforms(raw: Any, where: str, problems: _Problems) -> tuple[_Transform, ...]:
    if raw is None:
        return ()
    if isinstance(raw, list):
        found = (_compile_transform(item, f"{where}[{i}]", problems) for i, item in enumerate(raw))
        return tuple(t for t in found if t is not None)
    transform = _compile_transform(raw, where, problems)
    return () if transform is None else (transform,)


def _compile_transform(raw: Any, where: str, problems: _Problems) -> _Transform | None:
    options: Any = None
    if isinstance(raw, str):
        name, bare = raw, True
    elif isinstance(raw, Mapping) and len(raw) == 1:
        name, options = next(iter(raw.items()))
        bare = False
    else:
        problems.add(where, "must be a transform name or a {name: options} mapping")
        return None
    maker = _TRANSFORMS.get(name) if isinstance(name, str) else None
    if maker is None:
        known = ", ".join(sorted(_TRANSFORMS))
        problems.add(where, f"unknown transform {name!r} (one of: {known})")
        return None
    fn = maker(options, bare, _join(where, str(name)) if not bare else where, problems)
    return None if fn is None else _Transform(where, fn)


_Fn = Callable[[Any, str], Any]


def _passes_missing(fn: Callable[[Any, str], Any]) -> _Fn:
    def wrapped(value: Any, where: str) -> Any:
        return value if value is MISSING or value is None else fn(value, where)

    return wrapped


def _simple(fn: Callable[[str], str]) -> Callable[[Any, bool, str, _Problems], _Fn | None]:
    def make(options: Any, bare: bool, where: str, problems: _Problems) -> _Fn | None:
        if not bare and options is not None:
            problems.add(where, "takes no options")
            return None
        return _passes_missing(lambda v, _w: fn(v) if isinstance(v, str) else v)

    return make


def _make_string(options: Any, bare: bool, where: str, problems: _Problems) -> _Fn | None:
    if not bare and options is not None:
        problems.add(where, "takes no options")
        return None

    def to_string(value: Any, at: str) -> str:
        if isinstance(value, Mapping | list):
            raise MappingError(at, "string takes a scalar, not an object or a list")
        return _text(value)

    return _passes_missing(to_string)


def _make_default(options: Any, bare: bool, where: str, problems: _Problems) -> _Fn | None:
    if bare:
        problems.add(where, "needs a value: {default: <value>}")
        return None
    return lambda value, _w: options if value is MISSING or value is None else value


def _make_lookup(options: Any, bare: bool, where: str, problems: _Problems) -> _Fn | None:
    table = options.get("table") if isinstance(options, Mapping) else None
    if not isinstance(options, Mapping) or not isinstance(table, Mapping):
        problems.add(where, "needs {table: {key: value, ...}, fallback?: value}")
        return None
    for key in options:
        if key not in ("table", "fallback"):
            problems.add(_join(where, str(key)), "unknown field")
    if len(table) > MAX_LOOKUP_ENTRIES:
        problems.add(_join(where, "table"), f"at most {MAX_LOOKUP_ENTRIES} entries")
        return None
    entries = {_text(key): value for key, value in table.items()}
    fallback, has_fallback = options.get("fallback"), "fallback" in options

    def lookup(value: Any, at: str) -> Any:
        if not isinstance(value, Mapping | list) and (key := _text(value)) in entries:
            return entries[key]
        if has_fallback:
            return fallback
        raise MappingError(at, f"{_text(value)[:64]!r} is not in the lookup table")

    return _passes_missing(lookup)


# --- number -----------------------------------------------------------------------


def _make_number(options: Any, bare: bool, where: str, problems: _Problems) -> _Fn | None:
    if bare:
        return _passes_missing(lambda v, at: _plain_number(_decimal(v, at)))
    if isinstance(options, str):
        options = {"format": options}
    if not isinstance(options, Mapping):
        problems.add(where, "options are {decimals: n, as: number|string} or {format: spec}")
        return None
    before = len(problems.items)
    for key in options:
        if key not in ("decimals", "as", "format"):
            problems.add(_join(where, str(key)), "unknown field")
    if "format" in options:
        return _number_format(options, where, problems, before)
    decimals = options.get("decimals")
    if decimals is not None and (type(decimals) is not int or not 0 <= decimals <= 12):
        problems.add(_join(where, "decimals"), "must be an integer from 0 to 12")
    as_text = options.get("as", "number")
    if as_text not in ("number", "string"):
        problems.add(_join(where, "as"), "must be number or string")
    if len(problems.items) > before:
        return None
    return _passes_missing(_rounder(decimals, as_text == "string"))


def _number_format(
    options: Mapping[str, Any], where: str, problems: _Problems, before: int
) -> _Fn | None:
    spec = options["format"]
    if "decimals" in options or "as" in options:
        problems.add(where, "give either format or decimals/as")
    if not isinstance(spec, str) or not _FORMAT_SPEC_RE.match(spec):
        problems.add(
            _join(where, "format"),
            f"{spec!r}: use [sign][,|_][.precision<=12]type with type f, e, g or %",
        )
    if len(problems.items) > before:
        return None
    return _passes_missing(lambda v, at: format(_decimal(v, at), spec))


def _rounder(decimals: int | None, as_text: bool) -> Callable[[Any, str], Any]:
    def rounded(value: Any, at: str) -> Any:
        number = _decimal(value, at)
        if decimals is not None:
            number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        if as_text:
            return format(number, "f")
        return int(number) if decimals == 0 else _plain_number(number)

    return rounded


def _decimal(value: Any, at: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise MappingError(at, f"not a number: {_text(value)[:64]!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise MappingError(at, "not a finite number")
    if isinstance(value, str) and (len(value) > 64 or not _NUMBER_TEXT_RE.match(value)):
        raise MappingError(at, f"not a number: {value[:64]!r}")
    if isinstance(value, int) and value.bit_length() > 100:
        raise MappingError(at, "number out of range")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise MappingError(at, f"not a number: {_text(value)[:64]!r}") from None
    if number and abs(number.adjusted()) > _MAX_NUMBER_EXPONENT:
        raise MappingError(at, "number out of range (|exponent| > 30)")
    return number


def _plain_number(number: Decimal) -> int | float:
    # "10" stays an integer, "10.0" and "10.5" are floats: the input's own precision.
    exponent = number.as_tuple().exponent
    return int(number) if isinstance(exponent, int) and exponent >= 0 else float(number)


# --- date -------------------------------------------------------------------------


def _make_date(options: Any, bare: bool, where: str, problems: _Problems) -> _Fn | None:
    output = "date" if bare else options
    if not isinstance(output, str) or not output:
        problems.add(where, "give an output: date, iso, odata_v2, epoch_ms or a strftime pattern")
        return None
    if output not in ("date", "iso", "odata_v2", "epoch_ms") and not _strftime_ok(output):
        problems.add(
            where,
            f"{output!r}: use date, iso, odata_v2, epoch_ms or a strftime pattern "
            f"(at most 64 characters, directives %{' %'.join(sorted(_STRFTIME_DIRECTIVES))})",
        )
        return None
    return _passes_missing(lambda v, at: _format_date(_parse_date(v, at), output))


def _strftime_ok(pattern: str) -> bool:
    if len(pattern) > 64 or "%" not in pattern:
        return False
    index = 0
    while (index := pattern.find("%", index)) >= 0:
        if index + 1 >= len(pattern) or pattern[index + 1] not in _STRFTIME_DIRECTIVES:
            return False
        index += 2
    return True


def _parse_date(value: Any, at: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or len(value) > 64:
        raise MappingError(at, f"not a date: {_text(value)[:64]!r}")
    odata = _ODATA_DATE_RE.match(value.strip())
    try:
        if odata:
            return _odata_v2_date(int(odata.group(1)), odata.group(2))
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError):
        raise MappingError(at, f"not a date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _odata_v2_date(millis: int, offset: str | None) -> datetime:
    # V2 writes the instant in UTC milliseconds; the optional offset is in minutes.
    zone = timezone(timedelta(minutes=int(offset))) if offset else UTC
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)).astimezone(zone)


def _format_date(moment: datetime, output: str) -> Any:
    if output == "date":
        return moment.date().isoformat()
    if output == "iso":
        return moment.isoformat()
    millis = round(moment.timestamp() * 1000)
    if output == "odata_v2":
        return f"/Date({millis})/"
    if output == "epoch_ms":
        return millis
    return moment.strftime(output)


_Maker = Callable[[Any, bool, str, _Problems], _Fn | None]
_TRANSFORMS: dict[str, _Maker] = {
    "upper": _simple(str.upper),
    "lower": _simple(str.lower),
    "trim": _simple(str.strip),
    "string": _make_string,
    "number": _make_number,
    "date": _make_date,
    "default": _make_default,
    "lookup": _make_lookup,
}
