"""Definition text (YAML or JSON) to plain data, with clear errors for bad text.

Both formats yield the same plain values: YAML timestamps stay strings (a date in a
template is text, as it would be in JSON), duplicate keys are refused in both (the last
one silently winning would hide a duplicated step id), NaN and infinities are refused,
and the data may hold at most ``MAX_NODES`` values so a YAML alias bomb cannot explode.

Bounds (issue 12, item 4), checked before or while parsing so that hostile text costs
little: at most ``max_bytes`` of text (the API passes its request body limit), at most
``MAX_DEPTH`` (64) levels of nesting (YAML flow ``[``/``{`` and block indentation alike;
PyYAML's composer recurses per level and took 22 s on 20,000 nested brackets), and at most
``2 * MAX_NODES`` YAML nodes (keys and values) composed. Parsing is pure CPU and thread-safe:
callers on an event loop run it in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import yaml

from hub.domain.nesting import MAX_DEPTH, json_too_deep, too_deep_detail
from hub.engine.model import DefinitionSyntaxError

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
JSON_TYPES = frozenset({"application/json"})
MAX_NODES = 100_000
MAX_TEXT_BYTES = 1024 * 1024  # the request body limit (Settings.max_body_bytes)


class UnsupportedContentType(DefinitionSyntaxError):
    """Neither YAML nor JSON."""


class MalformedDefinition(DefinitionSyntaxError):
    """Text that is not YAML or JSON at all (the API answers 400, as for any body)."""


class DefinitionTooDeep(MalformedDefinition):
    """Text nested deeper than ``MAX_DEPTH`` levels (the API answers 400, as for any body)."""


def load_definition_text(
    text: str, content_type: str, *, max_bytes: int = MAX_TEXT_BYTES
) -> dict[str, Any]:
    """Parse definition text given its media type (parameters such as charset are ignored)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        data = _load_json(_bounded(text, max_bytes))
    elif media_type in YAML_TYPES or media_type.endswith("+yaml"):
        data = _load_yaml(text, max_bytes)
    else:
        raise UnsupportedContentType(
            f"unsupported content type {content_type!r}: use application/json or application/yaml"
        )
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise DefinitionSyntaxError(f"a definition must be a mapping at the top level, got {kind}")
    _check_values(data)
    return data


def load_yaml_text(text: str, *, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """Any YAML document with the bounds and rules above (e.g. a pack manifest)."""
    data = _load_yaml(text, max_bytes)
    _check_values(data)
    return data


def _bounded(text: str, max_bytes: int) -> str:
    # Byte length as the API counts it; str length alone would let 4-byte characters by.
    if len(text) > max_bytes or len(text.encode("utf-8", "replace")) > max_bytes:
        raise DefinitionSyntaxError(f"definition too large: more than {max_bytes} bytes")
    return text


def _load_json(text: str) -> Any:
    if json_too_deep(text.encode("utf-8", "replace")):
        raise DefinitionTooDeep(f"invalid JSON: {too_deep_detail('definition')}")
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise MalformedDefinition(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise MalformedDefinition("invalid JSON: nested too deeply") from None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedDefinition(f"invalid JSON: duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise MalformedDefinition(f"invalid JSON: {name} is not a JSON number")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, keeps timestamps as text and stops composing
    past ``MAX_DEPTH`` levels or ``2 * MAX_NODES`` nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # The composer recurses once per level (flow or block): counting here stops a
        # hostile document at level 65 before the rest of it is even scanned. Levels are
        # collections, as in JSON (a scalar inside 64 sequences is at level 64).
        self._nodes += 1
        if self._nodes > 2 * MAX_NODES:
            raise DefinitionSyntaxError(f"definition too large: more than {MAX_NODES} values")
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise DefinitionTooDeep(
                    f"invalid YAML{_where(self)}: {too_deep_detail('definition')}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a scalar", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _timestamp_as_text(loader: _Loader, node: yaml.Node) -> str:
    return loader.construct_yaml_str(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _where(loader: _Loader) -> str:
    mark = loader.peek_event().start_mark
    return f" at line {mark.line + 1}, column {mark.column + 1}"


def _load_yaml(text: str, max_bytes: int) -> Any:
    text = _bounded(text, max_bytes)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MalformedDefinition(f"invalid YAML{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise MalformedDefinition(f"invalid YAML: {error}") from None
    except RecursionError:
        raise MalformedDefinition("invalid YAML: nested too deeply") from None
    return data


def _check_values(data: Any) -> None:
    for count, value in enumerate(_walk(data), start=1):
        if count > MAX_NODES:
            raise DefinitionSyntaxError(f"definition too large: more than {MAX_NODES} values")
        if isinstance(value, float) and not math.isfinite(value):
            raise DefinitionSyntaxError(f"{value} is not a JSON number")


def _walk(data: Any) -> Any:
    # Iterative and lazy so the node budget stops an alias bomb before it is expanded.
    stack = [data]
    while stack:
        value = stack.pop()
        yield value
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
