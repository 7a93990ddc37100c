"""Definition text (YAML or JSON) to plain data, with clear errors for bad text.

Both formats yield the same plain values: YAML timestamps stay strings (a date in a
template is text, as it would be in JSON), duplicate keys are refused in both (the last
one silently winning would hide a duplicated step id), NaN and infinities are refused,
and the data may hold at most ``MAX_NODES`` values so a YAML alias bomb cannot explode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import yaml

from hub.engine.model import DefinitionSyntaxError

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
JSON_TYPES = frozenset({"application/json"})
MAX_NODES = 100_000


class UnsupportedContentType(DefinitionSyntaxError):
    """Neither YAML nor JSON."""


def load_definition_text(text: str, content_type: str) -> dict[str, Any]:
    """Parse definition text given its media type (parameters such as charset are ignored)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        data = _load_json(text)
    elif media_type in YAML_TYPES or media_type.endswith("+yaml"):
        data = _load_yaml(text)
    else:
        raise UnsupportedContentType(
            f"unsupported content type {content_type!r}: use application/json or application/yaml"
        )
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise DefinitionSyntaxError(f"a definition must be a mapping at the top level, got {kind}")
    _check_values(data)
    return data


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise DefinitionSyntaxError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise DefinitionSyntaxError("invalid JSON: nested too deeply") from None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DefinitionSyntaxError(f"invalid JSON: duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise DefinitionSyntaxError(f"invalid JSON: {name} is not a JSON number")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and keeps timestamps as text."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
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


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)


def _load_yaml(text: str) -> Any:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DefinitionSyntaxError(f"invalid YAML{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise DefinitionSyntaxError(f"invalid YAML: {error}") from None
    except RecursionError:
        raise DefinitionSyntaxError("invalid YAML: nested too deeply") from None
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
