"""Reading raw definition mappings field by field, recording problems instead of raising.

Validation must list every problem at once, so each reader method returns ``None`` (or a
default) for a bad field and notes why, and parsing carries on.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from hub.engine.durations import parse_duration
from hub.engine.expressions import (
    CONTEXT_VARIABLES,
    Expression,
    ExpressionError,
    Template,
    TemplateError,
    compile_expression,
    compile_template,
    split_template,
)
from hub.engine.model import DefinitionProblem

_MISSING: Any = object()


class Collector:
    """Problems found so far, and which steps each expression reads (checked at the end)."""

    def __init__(self) -> None:
        self.problems: list[DefinitionProblem] = []
        self.step_reads: list[tuple[str | None, str, frozenset[str]]] = []

    def add(self, step: str | None, field: str, message: str) -> None:
        self.problems.append(DefinitionProblem(step, field, message))


def describe_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


class Reader:
    """One raw mapping (top level, a step, a trigger...) being read."""

    def __init__(
        self,
        raw: Mapping[str, Any],
        collector: Collector,
        *,
        step: str | None,
        allowed: Collection[str],
        prefix: str = "",
    ) -> None:
        self.raw = raw
        self.collector = collector
        self.step = step
        self.prefix = prefix
        for key in raw:
            # "x-..." keys are extensions (e.g. a visual editor's layout) and are ignored.
            if key not in allowed and not (isinstance(key, str) and key.startswith("x-")):
                self.problem(str(key), "unknown field")

    def field(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def problem(self, key: str, message: str) -> None:
        self.collector.add(self.step, self.field(key), message)

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    def child(self, key: str, allowed: Collection[str]) -> Reader | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problem(key, f"must be a mapping, got {describe_type(value)}")
            return None
        prefix = f"{self.field(key)}."
        return Reader(value, self.collector, step=self.step, allowed=allowed, prefix=prefix)

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"must be a non-empty string, got {describe_type(value)}")
            return None
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(key, "must be a list of non-empty strings")
            return ()
        return tuple(value)

    def duration(self, key: str, *, required: bool = False) -> float | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        try:
            return parse_duration(value)
        except ValueError as error:
            self.problem(key, str(error))
            return None

    def number(
        self, key: str, default: float, *, minimum: float, maximum: float | None = None
    ) -> float:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.problem(key, f"must be a number, got {describe_type(value)}")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            limits = f"at least {minimum}" + (f" and at most {maximum}" if maximum else "")
            self.problem(key, f"must be {limits}, got {value}")
            return default
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int) -> int:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be a whole number, got {describe_type(value)}")
            return default
        if value < minimum:
            self.problem(key, f"must be at least {minimum}, got {value}")
            return default
        return value

    def template(
        self,
        key: str,
        *,
        default: Any = _MISSING,
        variables: Collection[str] = CONTEXT_VARIABLES,
    ) -> Template | None:
        if key not in self.raw or self.raw[key] is None:
            return None if default is _MISSING else compile_template(default)
        return self.compile_value(self.raw[key], self.field(key), variables)

    def compile_value(
        self, value: Any, field: str, variables: Collection[str] = CONTEXT_VARIABLES
    ) -> Template | None:
        try:
            template = compile_template(value, variables=variables)
        except TemplateError as error:
            for where, problem in error.errors:
                self.collector.add(self.step, f"{field}.{where}" if where else field, str(problem))
            return None
        except RecursionError:
            self.collector.add(self.step, field, "nested too deeply")
            return None
        self.collector.step_reads.append((self.step, field, template.step_refs))
        return template

    def expression(
        self,
        key: str,
        *,
        required: bool = False,
        variables: Collection[str] = CONTEXT_VARIABLES,
    ) -> Expression | None:
        text = self.text(key, required=required)
        if text is None:
            return None
        return self.compile_text(text, self.field(key), variables)

    def compile_text(
        self, text: str, field: str, variables: Collection[str] = CONTEXT_VARIABLES
    ) -> Expression | None:
        try:
            expression = compile_expression(unwrap(text), variables=variables)
        except ExpressionError as error:
            self.collector.add(self.step, field, str(error))
            return None
        self.collector.step_reads.append((self.step, field, expression.step_refs))
        return expression


def unwrap(text: str) -> str:
    """Expression fields take bare CEL; a lone ``${...}`` around it is tolerated."""
    try:
        pieces = split_template(text)
    except ExpressionError:
        return text
    if len(pieces) == 1 and pieces[0][0]:
        return pieces[0][1]
    return text
