"""JSON Schema checks for definitions' ``input_schema``/``output_schema`` and run inputs.

Schemas without ``$schema`` are read as Draft 2020-12. Nothing is fetched: jsonschema's
``referencing`` only resolves ``$ref`` within the schema unless given a retriever.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a usable JSON Schema, or None."""
    if not isinstance(schema, dict):
        return "must be a JSON Schema object"
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as error:
        return f"invalid JSON Schema at {error.json_path}: {error.message}"
    return None


def schema_errors(schema: dict[str, Any] | None, value: Any) -> list[str]:
    """Messages for each way ``value`` breaks ``schema``, each naming the failing path."""
    if schema is None:
        return []
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(value), key=lambda e: (list(e.path), e.message))
    return [f"{error.json_path}: {error.message}" for error in errors]


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> Validator:
    # Keyed by the schema's text: definitions are immutable, so their validators can be shared.
    schema = json.loads(schema_text)
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)
