"""Shared builders for engine tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hub.engine.definition import DefinitionInvalid, DefinitionProblem, parse_definition

EXAMPLE = Path(__file__).with_name("example.yaml")

BASE: dict[str, Any] = {
    "name": "demo",
    "version": "1.0.0",
    "start": "fetch",
    "steps": {
        "fetch": {
            "type": "activity",
            "activity": "fetch",
            "input": {"id": "${input.id}"},
            "next": "route",
        },
        "route": {
            "type": "decision",
            "expression": "steps.fetch.output.ok",
            "cases": {"true": "done", "false": "pause"},
        },
        "pause": {"type": "timer", "duration": "5s", "next": "fetch"},
        "done": {"type": "end", "output": {"result": "${steps.fetch.output}"}},
    },
}


def base(**steps: Any) -> dict[str, Any]:
    """The valid base definition with ``steps`` added or replaced (None removes a step)."""
    data = copy.deepcopy(BASE)
    for step_id, body in steps.items():
        if body is None:
            data["steps"].pop(step_id)
        else:
            data["steps"][step_id] = body
    return data


def problems_of(data: Any, **known: Any) -> list[DefinitionProblem]:
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(data, **known)
    return info.value.problems


def find(problems: list[DefinitionProblem], step: str | None, field: str, text: str) -> bool:
    return any(p.step == step and p.field == field and text in p.message for p in problems)


def where(problems: list[DefinitionProblem]) -> set[tuple[str | None, str]]:
    return {(p.step, p.field) for p in problems}
