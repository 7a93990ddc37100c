"""Forms generated from a JSON Schema (a pack's install parameters). Pure: no web framework.

- `build(schema)`: the schema as a tree of form fields. An object is a fieldset of its
  properties; a string, number, integer, boolean or enum is one input (with its label,
  description, default, bounds and required mark); an array of simple items is a textarea
  of one item per line (or checkboxes for a short enum); an array of flat objects is a
  table of rows; whatever else (deep nesting, maps, `oneOf`, arrays of nested objects, a
  schema past the bounds below) is one JSON textarea for that field. A `writeOnly` or
  `format: password` field, and everything inside one, is secret: a password input (or
  a JSON textarea) whose value is never written back into the page.
- `initial(tree, value)`: the form's inputs filled from a JSON value (the schema's
  defaults, or an installation's parameters), secrets left empty.
- `read(tree, form)`: the submitted form back as the JSON value, each input coerced to
  its type; an empty input is left out (the pack's default, or on an upgrade the stored
  value, applies). Returns the value, the problems by input name, and the form as it
  should be shown again (table rows renumbered as they were sent).
- `place(tree, problems)`: the service's problems (`parameters.erp.connection`,
  `parameters.sensors[0].hi`, `parameters` with "'x' is a required property") attached
  to the input they name.

Nothing here raises on a hostile schema or form: bounds turn what is too big into a JSON
field or a problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.domain.nesting import json_too_deep

ROOT = "p"  # the name of the root; an input's name is ROOT + "/"-joined escaped path
MAX_DEPTH = 4  # fieldsets inside one another; deeper objects are a JSON field
MAX_FIELDS = 300  # inputs in one form; an object past it is a JSON field
MAX_CHOICES = 100  # options of a select; a longer enum is a text input
MAX_COLUMNS = 12  # columns of a table of rows
MAX_ROWS = 200  # rows of a table read from a form
MAX_LINES = 1000  # items of a one-per-line textarea
MAX_REF_HOPS = 16  # $ref followed in a row
MAX_TEXT = 500  # characters of a label or description shown
MAX_JSON_CHARS = 256 * 1024  # one JSON textarea
MAX_JSON_DEPTH = 32
MAX_INPUT = 64 * 1024  # one other input

SCALAR = frozenset({"string", "number", "integer", "boolean", "null"})
LEAVES = frozenset({"text", "secret", "number", "integer", "boolean", "choice", "scalar"})
COMBINATORS = ("oneOf", "anyOf", "allOf", "not", "if", "patternProperties", "prefixItems")
_INTEGER = re.compile(r"^[+-]?[0-9]{1,30}$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?$")
_REQUIRED = re.compile(r"^'((?:[^'\\]|\\.)*)' is a required property$")
_TOKEN = re.compile(r"\.([A-Za-z][A-Za-z0-9_]*)|\[([0-9]{1,9})\]|\['((?:[^'\\]|\\.)*)'\]")


@dataclass
class FormField:
    """One node of the form: `kind` says how it is shown and read.

    object: a fieldset of `children` | text | secret (a password input) | number |
    integer | boolean (a select: not set, yes, no) | choice (a select of `choices`) |
    scalar (a text input read as one of `types`, e.g. a number or a boolean) | const (a
    fixed value, shown) | lines (a textarea, one `item` per line) | choices (checkboxes
    of `item.choices`) | table (rows of `children` columns) | json (a JSON textarea).
    """

    kind: str
    path: tuple[str | int, ...]  # where in the value (a table's columns: within a row)
    name: str  # the input's name (a table's columns: the suffix after the row number)
    label: str
    description: str = ""
    required: bool = False
    secret: bool = False
    has_default: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    types: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    children: tuple[FormField, ...] = ()
    item: FormField | None = None
    min_items: int = 0
    max_items: int | None = None
    reason: str = ""  # why a JSON field is one

    @property
    def id(self) -> str:
        return input_id(self.name)

    def shown(self, value: Any) -> str:
        """A choice as its option's text."""
        return value if isinstance(value, str) else json.dumps(value)


@dataclass
class Reading:
    """A submitted form, read: the value (None when nothing was given), the problems by
    input name, and the form to show again."""

    value: Any
    problems: dict[str, list[str]]
    form: dict[str, list[str]]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Budget:
    fields: int = 0


# --- names ---


def _escape(segment: str | int) -> str:
    return str(segment).replace("~", "~0").replace("/", "~1")


def name_of(path: Iterable[str | int]) -> str:
    return ROOT + "".join("/" + _escape(s) for s in path)


def input_id(name: str) -> str:
    """An HTML id for an input name (letters and digits kept, anything else encoded)."""
    return "f-" + re.sub(r"[^A-Za-z0-9]", lambda m: f"_{ord(m.group()):x}_", name)


def describe(name: str) -> str:
    """An input's name as people read it: `erp > connection`, `sensors > row 1 > hi`."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in name.split("/")[1:]]
    shown = [f"row {int(p) + 1}" if p.isdigit() and len(p) < 10 else p for p in parts]
    return " > ".join(shown) or "parameters"


def cell_name(table: FormField, row: int | str, column: FormField) -> str:
    return f"{table.name}/{row}{column.name}"


# --- the schema as a tree ---


def build(schema: Any) -> FormField:
    """The form of `schema` (the root should be an object; anything else is one JSON
    field). Never raises."""
    root = schema if isinstance(schema, dict) else {}
    try:
        return _node(root, root, (), "parameters", False, False, 0, _Budget())
    except RecursionError:  # a schema built to defeat the bounds above: one JSON field
        return FormField("json", (), ROOT, "parameters", reason="the schema is too deep")


def _resolve(node: Any, root: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`node` with its local `$ref`s followed (its own keys win over the target's); a
    reason when it cannot be."""
    if not isinstance(node, dict):
        return ({} if node is True else {"not": {}}), ""
    seen = 0
    while isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        if seen >= MAX_REF_HOPS:
            return node, "its $ref goes round in a circle"
        target = _pointer(root, ref)
        if not isinstance(target, dict):
            return node, f"its $ref {ref[:80]!r} is not in this schema"
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node, ""


def _pointer(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    found: Any = root
    for part in ref[1:].split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(found, dict) and key in found:
            found = found[key]
        elif isinstance(found, list) and key.isdigit() and int(key) < len(found):
            found = found[int(key)]
        else:
            return None
    return found


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _types(node: dict[str, Any]) -> tuple[str, ...]:
    raw = node.get("type")
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(t, str) for t in raw):
        return tuple(raw)
    return ()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hints(node: dict[str, Any], kind: str) -> tuple[str, ...]:
    hints: list[str] = []
    low, high = node.get("minimum"), node.get("maximum")
    xlow, xhigh = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if _number(low) and _number(high):
        hints.append(f"from {low} to {high}")
    elif _number(low):
        hints.append(f"at least {low}")
    elif _number(high):
        hints.append(f"at most {high}")
    if _number(xlow):
        hints.append(f"more than {xlow}")
    if _number(xhigh):
        hints.append(f"less than {xhigh}")
    short, long = node.get("minLength"), node.get("maxLength")
    if kind in {"text", "secret"}:
        if _number(short) and _number(long):
            hints.append(f"{short} to {long} characters")
        elif _number(short):
            hints.append(f"at least {short} characters")
        elif _number(long):
            hints.append(f"at most {long} characters")
        if isinstance(node.get("pattern"), str) and kind == "text":
            hints.append(f"pattern {node['pattern'][:MAX_TEXT]}")
    few, many = node.get("minItems"), node.get("maxItems")
    if _number(few) and few and few == many:
        hints.append(f"exactly {few} {_items(few)}")
    elif _number(few) and few and _number(many):
        hints.append(f"{few} to {many} items")
    elif _number(few) and few:
        hints.append(f"at least {few} {_items(few)}")
    elif _number(many):
        hints.append(f"at most {many} {_items(many)}")
    return tuple(hints)


def _items(n: Any) -> str:
    return "item" if n == 1 else "items"


def _node(
    raw: Any,
    root: dict[str, Any],
    path: tuple[str | int, ...],
    label: str,
    required: bool,
    secret: bool,
    depth: int,
    budget: _Budget,
    name: str | None = None,
) -> FormField:
    node, unresolved = _resolve(raw, root)
    secret = secret or node.get("writeOnly") is True or node.get("format") == "password"
    secret = secret or node.get("x-store") == "hash"
    base: dict[str, Any] = {
        "path": path,
        "name": name if name is not None else name_of(path),
        "label": _text(node.get("title")) or label,
        "description": _text(node.get("description")),
        "required": required,
        "secret": secret,
    }
    if "default" in node:
        base["has_default"], base["default"] = True, node["default"]
    budget.fields += 1

    def as_json(reason: str) -> FormField:
        return FormField("json", reason=reason, hints=_hints(node, "json"), **base)

    if unresolved:
        return as_json(unresolved)
    if any(k in node for k in COMBINATORS):
        return as_json("it takes one of several shapes")
    if "const" in node:
        return FormField("const", choices=(node["const"],), **base)
    enum = node.get("enum")
    if isinstance(enum, list):
        if not enum:
            return as_json("it allows no value")
        if len(enum) > MAX_CHOICES or secret:
            kind = "secret" if secret else "text"
            hint = f"one of {len(enum)} values"
            return FormField(kind, choices=tuple(enum), hints=(hint,), **base)
        return FormField("choice", choices=tuple(enum), **base)
    types = _types(node)
    if not types:
        if isinstance(node.get("properties"), dict):
            types = ("object",)
        elif "items" in node:
            types = ("array",)
    scalar = [t for t in types if t != "null"]
    if len(types) > 1 or "null" in types:
        if all(t in SCALAR for t in types) and scalar:
            kind = "secret" if secret else "scalar"
            return FormField(kind, types=types, hints=(" or ".join(types),), **base)
        return as_json("it may be " + " or ".join(t for t in types))
    if not types:
        return as_json("it may be any JSON value")
    kind = types[0]
    if kind == "string":
        leaf = "secret" if secret else "text"
        return FormField(leaf, hints=_hints(node, leaf), **base)
    if kind in {"number", "integer"}:
        hints = _hints(node, kind)
        return FormField("secret" if secret else kind, types=(kind,), hints=hints, **base)
    if kind == "boolean":
        if secret:
            return FormField("secret", types=("boolean",), **base)
        return FormField("boolean", **base)
    if kind == "object":
        return _object(node, root, base, depth, budget, as_json)
    if kind == "array":
        return _array(node, root, base, depth, budget, as_json)
    return as_json(f"its type {kind[:40]!r} is not one a form knows")


def _object(
    node: dict[str, Any],
    root: dict[str, Any],
    base: dict[str, Any],
    depth: int,
    budget: _Budget,
    as_json: Any,
) -> FormField:
    properties = node.get("properties")
    extra = node.get("additionalProperties", node.get("unevaluatedProperties"))
    if not isinstance(properties, dict) or not properties:
        return as_json("its keys are free")
    if isinstance(extra, dict) and extra:
        return as_json("it takes keys besides its named ones")
    if depth >= MAX_DEPTH:
        return as_json("it is nested deeper than the form shows")
    if budget.fields + len(properties) > MAX_FIELDS:
        return as_json("the form has too many fields to show this one")
    required = node.get("required")
    needed = set(required) if isinstance(required, list) else set()
    path: tuple[str | int, ...] = base["path"]
    children = tuple(
        _node(sub, root, (*path, key), key, key in needed, base["secret"], depth + 1, budget)
        for key, sub in properties.items()
    )
    return FormField("object", children=children, **base)


def _array(
    node: dict[str, Any],
    root: dict[str, Any],
    base: dict[str, Any],
    depth: int,
    budget: _Budget,
    as_json: Any,
) -> FormField:
    if base["secret"]:
        return as_json("it is secret: written whole, never shown")
    few, many = node.get("minItems"), node.get("maxItems")
    sizes: dict[str, Any] = {
        "min_items": few if isinstance(few, int) and not isinstance(few, bool) else 0,
        "max_items": many if isinstance(many, int) and not isinstance(many, bool) else None,
        "hints": _hints(node, "array"),
    }
    raw_items = node.get("items")
    if not isinstance(raw_items, dict) or depth >= MAX_DEPTH:
        return as_json("its items are not all of one simple shape")
    scratch = _Budget(budget.fields)
    item = _node(raw_items, root, (), "item", False, False, depth + 1, scratch, name="")
    if item.kind in {"text", "number", "integer", "scalar"}:
        budget.fields += 1
        return FormField("lines", item=item, **sizes, **base)
    if item.kind == "choice":
        budget.fields += len(item.choices)
        return FormField("choices", item=item, **sizes, **base)
    if item.kind == "object" and _flat(item) and budget.fields + len(item.children) <= MAX_FIELDS:
        budget.fields += len(item.children)
        columns = tuple(_column(c) for c in item.children)
        return FormField("table", children=columns, item=item, **sizes, **base)
    return as_json("its items are nested objects")


def _flat(item: FormField) -> bool:
    return 0 < len(item.children) <= MAX_COLUMNS and all(
        c.kind in LEAVES or c.kind == "const" for c in item.children
    )


def _column(child: FormField) -> FormField:
    """A table's column: its path and name within one row."""
    key = child.path[-1]
    child.path = (key,)
    child.name = "/" + _escape(key)
    return child


# --- a JSON value as the form's inputs ---


def initial(tree: FormField, value: Any) -> dict[str, list[str]]:
    """The inputs that show `value` (None: the schema's defaults). Secrets stay empty."""
    form: dict[str, list[str]] = {}
    _fill(tree, value, tree.name, form, use_default=True)
    return form


def defaults(tree: FormField) -> dict[str, list[str]]:
    return initial(tree, None)


def _fill(
    f: FormField, value: Any, name: str, form: dict[str, list[str]], use_default: bool
) -> None:
    if value is None and use_default and f.has_default:
        value = f.default
    if f.secret or value is None:
        if f.kind == "object":
            for child in f.children:
                _fill(child, None, child.name, form, use_default)
        return
    if f.kind == "object":
        given = value if isinstance(value, dict) else {}
        for child in f.children:
            _fill(child, given.get(child.path[-1]), child.name, form, use_default)
        return
    if f.kind == "table" and isinstance(value, list):
        for row, item in enumerate(value[:MAX_ROWS]):
            cells = item if isinstance(item, dict) else {}
            for column in f.children:
                _fill(column, cells.get(column.path[-1]), cell_name(f, row, column), form, False)
        return
    form[name] = _shown(f, value)


def _shown(f: FormField, value: Any) -> list[str]:
    if f.kind == "choice":
        return [str(i) for i, c in enumerate(f.choices) if _same(c, value)][:1] or [""]
    if f.kind == "boolean":
        return ["true" if value is True else "false" if value is False else ""]
    if f.kind == "lines" and isinstance(value, list) and f.item is not None:
        return ["\n".join(_scalar_text(v) for v in value[:MAX_LINES])]
    if f.kind == "choices" and isinstance(value, list) and f.item is not None:
        return [str(i) for i, c in enumerate(f.item.choices) if any(_same(c, v) for v in value)]
    if f.kind == "json":
        return [_dumps(value, indent=2)]
    return [_scalar_text(value)]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return _dumps(value)


def _dumps(value: Any, indent: int | None = None) -> str:
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)[:MAX_INPUT]


# --- a submitted form as a JSON value ---


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def read(tree: FormField, form: Mapping[str, list[str]]) -> Reading:
    """The value the form gives, each input coerced to its type; never raises."""
    problems: dict[str, list[str]] = {}
    shown: dict[str, list[str]] = {}
    value = _read(tree, tree.name, form, problems, shown)
    return Reading(value, problems, shown)


def _first(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0] if isinstance(values[0], str) else ""


def _read(
    f: FormField,
    name: str,
    form: Mapping[str, list[str]],
    problems: dict[str, list[str]],
    shown: dict[str, list[str]],
) -> Any:
    if f.kind == "object":
        result: dict[str, Any] = {}
        for child in f.children:
            got = _read(child, child.name, form, problems, shown)
            if got is not None:
                result[str(child.path[-1])] = got
        return _object_value(f, result)
    if f.kind == "table":
        return _read_table(f, form, problems, shown)
    if f.kind == "choices":
        picked = [v for v in (form.get(name) or []) if isinstance(v, str)]
        if not f.secret:
            shown[name] = picked
        return _read_choices(f, name, picked, problems)
    text = _first(form, name)
    if not f.secret:
        shown[name] = [text]
    if text.strip() == "" and f.kind != "const":
        return None
    try:
        return _coerce(f, text)
    except _Bad as bad:
        problems.setdefault(name, []).append(bad.message)
        return None


def _object_value(f: FormField, result: dict[str, Any]) -> dict[str, Any] | None:
    """An object when any of its inputs was given (its fixed values with it)."""
    given = {k: v for k, v in result.items() if not _is_const(f, k)}
    if not given:
        return None
    return result


def _is_const(f: FormField, key: str) -> bool:
    return any(c.kind == "const" and str(c.path[-1]) == key for c in f.children)


def _read_table(
    f: FormField,
    form: Mapping[str, list[str]],
    problems: dict[str, list[str]],
    shown: dict[str, list[str]],
) -> list[Any] | None:
    prefix = f.name + "/"
    rows: set[int] = set()
    for key in form:
        if key.startswith(prefix):
            head = key[len(prefix) :].split("/", 1)[0]
            if head.isdigit() and len(head) < 10:
                rows.add(int(head))
    if len(rows) > MAX_ROWS:
        problems.setdefault(f.name, []).append(f"at most {MAX_ROWS} rows")
        return None
    items: list[Any] = []
    for row in sorted(rows):
        kept = len(items)
        cells: dict[str, Any] = {}
        row_problems: dict[str, list[str]] = {}
        row_shown: dict[str, list[str]] = {}
        for column in f.children:
            got = _read(column, cell_name(f, row, column), form, row_problems, row_shown)
            if got is not None:
                cells[str(column.path[-1])] = got
        if all(_first(form, cell_name(f, row, c)).strip() == "" for c in f.children):
            continue  # a blank row: left out
        item = _object_value(f.item, cells) if f.item else cells
        items.append(item if item is not None else cells)
        for column in f.children:  # renumbered as sent, without the blank rows
            old, new = cell_name(f, row, column), cell_name(f, kept, column)
            if old in row_shown:
                shown[new] = row_shown[old]
            if old in row_problems:
                problems.setdefault(new, []).extend(row_problems[old])
    return items or None


def _read_choices(
    f: FormField, name: str, picked: list[str], problems: dict[str, list[str]]
) -> list[Any] | None:
    assert f.item is not None
    choices = f.item.choices
    chosen: list[Any] = []
    for raw in picked[: len(choices) + 1]:
        if raw.isdigit() and int(raw) < len(choices):
            value = choices[int(raw)]
            if not any(_same(value, c) for c in chosen):
                chosen.append(value)
        else:
            problems.setdefault(name, []).append("not one of the choices")
            return None
    return chosen or None


def _coerce(f: FormField, text: str) -> Any:
    limit = MAX_JSON_CHARS if f.kind == "json" else MAX_INPUT
    if len(text) > limit:
        raise _Bad(f"too long: at most {limit} characters")
    if f.kind in {"text", "secret"} and f.choices:
        return next((c for c in f.choices if f.shown(c) == text), text)
    if f.kind in {"text"} or (f.kind == "secret" and not f.types):
        return text
    if f.kind == "const":
        return f.choices[0]
    if f.kind == "choice":
        if text.isdigit() and int(text) < len(f.choices):
            return f.choices[int(text)]
        raise _Bad("not one of the choices")
    if f.kind == "boolean":
        return _boolean(text)
    if f.kind in {"number", "integer", "scalar", "secret"}:
        return _typed(text, f.types)
    if f.kind == "lines":
        return _lines(f, text)
    if f.kind == "json":
        return parse_json(text)
    raise _Bad("cannot be read")  # pragma: no cover - every kind is handled above


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "yes", "on", "1"}:
        return True
    if lowered in {"false", "no", "off", "0"}:
        return False
    raise _Bad("must be yes or no")


def _typed(text: str, types: tuple[str, ...]) -> Any:
    """`text` as the first of `types` it reads as (a scalar of a `type: [...]` list)."""
    stripped = text.strip()
    if "null" in types and stripped == "null":
        return None
    if "boolean" in types and stripped.lower() in {"true", "false"}:
        return stripped.lower() == "true"
    if "integer" in types and _INTEGER.match(stripped):
        return int(stripped)
    if "number" in types and _NUMBER.match(stripped):
        number = float(stripped)
        if not math.isfinite(number):
            raise _Bad("must be a finite number")
        return int(number) if number.is_integer() and "e" not in stripped.lower() else number
    if "string" in types:
        return text
    wanted = {
        "integer": "a whole number",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
    }
    raise _Bad("must be " + " or ".join(wanted.get(t, t) for t in types))


def _lines(f: FormField, text: str) -> list[Any]:
    assert f.item is not None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > MAX_LINES:
        raise _Bad(f"at most {MAX_LINES} lines")
    items: list[Any] = []
    for number, line in enumerate(lines, start=1):
        try:
            items.append(line if f.item.kind == "text" else _typed(line, f.item.types))
        except _Bad as bad:
            raise _Bad(f"line {number}: {bad.message}") from None
    return items


def parse_json(text: str) -> Any:
    """A JSON value from a textarea: bounded in size and depth; no NaN or Infinity."""
    if len(text) > MAX_JSON_CHARS:
        raise _Bad(f"at most {MAX_JSON_CHARS} characters of JSON")
    if json_too_deep(text.encode("utf-8", "replace"), MAX_JSON_DEPTH):
        raise _Bad(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        message = f"not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        raise _Bad(message) from None
    except (RecursionError, ValueError):
        raise _Bad("not valid JSON") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# --- the service's problems, placed on the inputs ---


def parse_path(field_path: str) -> tuple[str | int, ...] | None:
    """`parameters.sensors[0].hi` as ("sensors", 0, "hi"); None when it is not a path
    under `parameters`."""
    if not field_path.startswith("parameters"):
        return None
    rest = field_path[len("parameters") :]
    path: list[str | int] = []
    at = 0
    while at < len(rest):
        token = _TOKEN.match(rest, at)
        if token is None:
            return None
        name, index, quoted = token.groups()
        if name is not None:
            path.append(name)
        elif index is not None:
            path.append(int(index))
        else:
            path.append(re.sub(r"\\(.)", r"\1", quoted))
        at = token.end()
    return tuple(path)


def place(
    tree: FormField, problems: Iterable[tuple[str, str]]
) -> tuple[dict[str, list[str]], list[str]]:
    """Each (field, message) of a 422 on the input it names; those that name none (or
    the whole parameters) are the second result, to be shown above the form."""
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    for where, message in problems:
        path = parse_path(where)
        if path is None:
            general.append(f"{where}: {message}")
            continue
        required = _REQUIRED.match(message)
        if required:
            path = (*path, re.sub(r"\\(.)", r"\1", required.group(1)))
            message = "required"
        name, rest = _locate(tree, path)
        if rest:
            message = f"{_path_text(rest)}: {message}"
        if name == tree.name and tree.kind == "object":
            general.append(message)
        else:
            placed.setdefault(name, []).append(message)
    return placed, general


def _locate(tree: FormField, path: tuple[str | int, ...]) -> tuple[str, tuple[str | int, ...]]:
    """The input nearest to `path`, and what of the path lies beyond it."""
    f = tree
    at = 0
    while at < len(path):
        segment = path[at]
        if f.kind == "object":
            child = next((c for c in f.children if str(c.path[-1]) == str(segment)), None)
            if child is None:
                break
            f, at = child, at + 1
        elif f.kind == "table" and isinstance(segment, int) and at + 1 < len(path):
            column = next((c for c in f.children if str(c.path[-1]) == str(path[at + 1])), None)
            if column is None:
                break
            return cell_name(f, segment, column), path[at + 2 :]
        else:
            break
    return f.name, path[at:]


def _path_text(path: tuple[str | int, ...]) -> str:
    parts = [f"item {p + 1}" if isinstance(p, int) else str(p) for p in path]
    return " > ".join(parts)


def walk(tree: FormField) -> Iterable[FormField]:
    """Every field of the tree, depth first (a table's columns included)."""
    stack = [tree]
    while stack:
        f = stack.pop()
        yield f
        stack.extend(reversed(f.children))


def table_rows(table: FormField, form: Mapping[str, list[str]]) -> int:
    """How many rows to show: those in the form, one empty row to add another (within
    maxItems), at least minItems."""
    prefix = table.name + "/"
    found = 0
    for key in form:
        if key.startswith(prefix):
            head = key[len(prefix) :].split("/", 1)[0]
            if head.isdigit() and len(head) < 10:
                found = max(found, int(head) + 1)
    rows = max(found + 1, table.min_items, 1)
    if table.max_items is not None:
        rows = min(rows, max(table.max_items, found))
    return min(rows, MAX_ROWS)


__all__ = [
    "FormField",
    "Reading",
    "build",
    "cell_name",
    "defaults",
    "describe",
    "initial",
    "input_id",
    "name_of",
    "parse_json",
    "parse_path",
    "place",
    "read",
    "table_rows",
    "walk",
]
