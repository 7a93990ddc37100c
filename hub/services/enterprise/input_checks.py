"""Publish-time checks of `erp.*` step inputs (the engine's InputValidator hook): a
literal that can never work (a missing connection, `top: "ten"`, an unknown field) is a
422 naming `steps.<step>.input.<field>` when the workflow is published, not a failed run.
Computed parts (``${...}``) are left to the activity at run time; names of entity sets
and properties are checked against the ERP's $metadata when the step runs (the ERP may
not be reachable at publish time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.domain.errors import FieldProblem
from hub.engine.activities import COMPUTED, InputValidator

Check = Callable[[Any], str | None]  # a problem with a literal value, or None


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def _object(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else "must be an object"


def _key(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Mapping) or value in ("", {}):
        return "must be a key value or an object of key fields"
    return None


def _names(value: Any) -> str | None:
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) or v is COMPUTED for v in value)
    ):
        return None
    return "must be a list of names (or one comma-separated string)"


def _whole(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "must be a whole number >= 0"
    return None


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _changes(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of {method, entity_set, key?, data?, etag?}"
    return None


Fields = Mapping[str, tuple[Check, bool]]  # field -> (check, required)

CONNECTION: Fields = {"connection": (_text, True)}
ENTITY: Fields = {**CONNECTION, "entity_set": (_text, True)}
SHAPES: dict[str, Fields] = {
    "erp.query": {
        **ENTITY,
        "filter": (_text, False),
        "select": (_names, False),
        "expand": (_names, False),
        "orderby": (_names, False),
        "top": (_whole, False),
        "skip": (_whole, False),
        "count": (_flag, False),
    },
    "erp.get": {**ENTITY, "key": (_key, True)},
    "erp.create": {**ENTITY, "data": (_object, True)},
    "erp.update": {**ENTITY, "key": (_key, True), "data": (_object, True), "etag": (_text, False)},
    "erp.delete": {**ENTITY, "key": (_key, True), "etag": (_text, False)},
    "erp.call": {
        **CONNECTION,
        "operation": (_text, True),
        "params": (_object, False),
        "bound_to": (_object, False),
    },
    "erp.batch": {**CONNECTION, "changes": (_changes, True)},
    "erp.operation": {**CONNECTION, "operation": (_text, True), "params": (_object, False)},
}


def problems_of(fields: Fields, literal: Any) -> Sequence[FieldProblem]:
    if literal is COMPUTED:
        return []
    if not isinstance(literal, Mapping):
        return [FieldProblem("input", "must be an object")]
    problems = [
        FieldProblem(name, f"unknown field (one of: {', '.join(fields)})")
        for name in literal
        if name not in fields
    ]
    for name, (check, required) in fields.items():
        value = literal.get(name)
        if value is None:
            if required:
                problems.append(FieldProblem(name, "is required"))
        elif value is not COMPUTED and (problem := check(value)) is not None:
            problems.append(FieldProblem(name, problem))
    return problems


def validator(activity: str) -> InputValidator:
    fields = SHAPES[activity]
    return lambda literal: problems_of(fields, literal)
