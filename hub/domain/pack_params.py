"""Checking install parameters against a pack's JSON Schema without echoing secrets.

jsonschema's messages quote the value (`'hunter2' is too short`); a 422 is also written
to the audit log, so an error under a write-only parameter names the rule it breaks and
never the value.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

from hub.domain.errors import FieldProblem

# Messages that name properties, never values.
_VALUE_FREE = frozenset({"required", "additionalProperties", "dependentRequired"})


def parameter_problems(
    schema: dict[str, Any], params: dict[str, Any], secret: frozenset[str]
) -> list[FieldProblem]:
    cls = validator_for(schema, default=Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(params), key=lambda e: (list(e.path), e.message))
    return [
        FieldProblem(
            "parameters" + error.json_path.removeprefix("$"),
            _secret_safe(error) if error.path and error.path[0] in secret else error.message,
        )
        for error in errors
    ]


def _secret_safe(error: ValidationError) -> str:
    if error.validator in _VALUE_FREE:
        return error.message
    rule = error.validator_value
    if isinstance(rule, dict | list) and any(isinstance(r, dict) for r in rule):
        return f"does not match the schema ({error.validator}); the value is not shown"
    return f"breaks {error.validator}: {json.dumps(rule)} (the value is not shown)"
