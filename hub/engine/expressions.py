"""CEL expressions and ``${...}`` templates, compiled once and evaluated safely.

A template is any JSON value. Strings may hold ``${expr}`` CEL expressions: a string that is
exactly one ``${expr}`` becomes the expression's native value (number, bool, map...), a
string with text around expressions interpolates their string forms (see
:func:`~hub.engine.celvalues.string_form`). ``$${`` writes a literal ``${``. Map keys are
never templated. Expressions themselves (context variables, functions, errors, caching)
are described in :mod:`hub.engine.cel`; this module re-exports their API.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.engine.cel import (
    CONTEXT_VARIABLES,
    Clock,
    Expression,
    ExpressionError,
    IdSource,
    PreparedContext,
    compile_expression,
    prepare_context,
)
from hub.engine.celbudget import (
    DEFAULT_LIMITS,
    ExpressionLimits,
    OffLoop,
    expression_budget,
    inline_allowance,
)
from hub.engine.celvalues import pinned, string_form

__all__ = [
    "CONTEXT_VARIABLES",
    "DEFAULT_LIMITS",
    "Expression",
    "ExpressionError",
    "ExpressionLimits",
    "OffLoop",
    "PreparedContext",
    "Template",
    "TemplateError",
    "compile_expression",
    "compile_template",
    "expression_budget",
    "inline_allowance",
    "prepare_context",
    "split_template",
]


class TemplateError(ExpressionError):
    """A template with one or more bad expressions; ``errors`` lists each with its place."""

    def __init__(self, errors: list[tuple[str, ExpressionError]]) -> None:
        first = errors[0][1]
        super().__init__(first.expression, first.reason)
        self.errors = tuple(errors)
        self.args = ("; ".join(f"{_place(where)}{error}" for where, error in errors),)


def _place(where: str) -> str:
    return f"at {where}: " if where else ""


class _Node:
    def render(self, context: PreparedContext) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class _Literal(_Node):
    value: Any

    def render(self, context: PreparedContext) -> Any:
        return self.value


@dataclass(frozen=True)
class _Whole(_Node):
    expression: Expression

    def render(self, context: PreparedContext) -> Any:
        return self.expression.evaluate_prepared(context)


@dataclass(frozen=True)
class _Interpolated(_Node):
    parts: tuple[str | Expression, ...]

    def render(self, context: PreparedContext) -> str:
        return "".join(
            part if isinstance(part, str) else string_form(part.evaluate_prepared(context))
            for part in self.parts
        )


@dataclass(frozen=True)
class _Map(_Node):
    items: tuple[tuple[Any, _Node], ...]

    def render(self, context: PreparedContext) -> dict[Any, Any]:
        return {key: node.render(context) for key, node in self.items}


@dataclass(frozen=True)
class _List(_Node):
    items: tuple[_Node, ...]

    def render(self, context: PreparedContext) -> list[Any]:
        return [node.render(context) for node in self.items]


@dataclass(frozen=True)
class Template:
    """A compiled template; ``source`` is the value as written (and what equality compares)."""

    source: Any
    expressions: tuple[Expression, ...] = field(compare=False, repr=False)
    _root: _Node = field(compare=False, repr=False)

    @property
    def is_static(self) -> bool:
        return not self.expressions

    @property
    def step_refs(self) -> frozenset[str]:
        return frozenset().union(*(e.step_refs for e in self.expressions))

    def render(
        self,
        context: Mapping[str, Any] | PreparedContext,
        *,
        clock: Clock | None = None,
        new_id: IdSource | None = None,
        limits: ExpressionLimits | None = None,
    ) -> Any:
        """The value with every expression evaluated; ``ExpressionError`` on failure. All
        the template's expressions share one budget of `limits` (see ``Expression``)."""
        undo = pinned(clock, new_id) if clock or new_id else None
        try:
            with expression_budget(limits or DEFAULT_LIMITS):
                return self._root.render(prepare_context(context))
        finally:
            if undo is not None:
                undo()


def compile_template(value: Any, *, variables: Collection[str] = CONTEXT_VARIABLES) -> Template:
    """Compile every expression in ``value``; ``TemplateError`` lists all the bad ones."""
    errors: list[tuple[str, ExpressionError]] = []
    expressions: list[Expression] = []
    root = _compile_node(value, "", frozenset(variables), errors, expressions)
    if errors:
        raise TemplateError(errors)
    return Template(value, tuple(expressions), root)


def _compile_node(
    value: Any,
    where: str,
    variables: frozenset[str],
    errors: list[tuple[str, ExpressionError]],
    found: list[Expression],
) -> _Node:
    if isinstance(value, str):
        return _compile_string(value, where, variables, errors, found)
    if isinstance(value, Mapping):
        items = tuple(
            (key, _compile_node(item, _join(where, str(key)), variables, errors, found))
            for key, item in value.items()
        )
        return _Map(items)
    if isinstance(value, list | tuple):
        return _List(
            tuple(
                _compile_node(item, f"{where}[{index}]", variables, errors, found)
                for index, item in enumerate(value)
            )
        )
    return _Literal(value)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _compile_string(
    text: str,
    where: str,
    variables: frozenset[str],
    errors: list[tuple[str, ExpressionError]],
    found: list[Expression],
) -> _Node:
    try:
        pieces = split_template(text)
    except ExpressionError as error:
        errors.append((where, error))
        return _Literal(text)
    parts: list[str | Expression] = []
    for is_expression, piece in pieces:
        if not is_expression:
            parts.append(piece)
            continue
        try:
            expression = compile_expression(piece, variables=variables)
        except ExpressionError as error:
            errors.append((where, error))
            continue
        found.append(expression)
        parts.append(expression)
    if len(pieces) == 1 and pieces[0][0] and len(parts) == 1:
        (whole,) = parts  # the one piece, an expression that compiled
        if isinstance(whole, Expression):
            return _Whole(whole)
    texts = [part for part in parts if isinstance(part, str)]
    if len(texts) == len(parts):
        return _Literal("".join(texts))
    return _Interpolated(tuple(parts))


def split_template(text: str) -> list[tuple[bool, str]]:
    """``(is_expression, text)`` pieces of a template string; unescapes ``$${``."""
    pieces: list[tuple[bool, str]] = []
    literal: list[str] = []
    position = 0
    while (start := text.find("${", position)) >= 0:
        if start > 0 and text[start - 1] == "$":
            literal.append(text[position : start - 1] + "${")
            position = start + 2
            continue
        literal.append(text[position:start])
        end = _expression_end(text, start + 2)
        if any(literal):
            pieces.append((False, "".join(literal)))
        literal = []
        pieces.append((True, text[start + 2 : end].strip()))
        position = end + 1
    literal.append(text[position:])
    if any(literal) or not pieces:
        pieces.append((False, "".join(literal)))
    return pieces


def _expression_end(text: str, start: int) -> int:
    # CEL map literals and strings may contain braces: count nesting, skip quoted text.
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char in "'\"":
            index = _string_end(text, index)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    raise ExpressionError(text[start - 2 :], "unterminated '${': missing '}'")


def _string_end(text: str, start: int) -> int:
    quote = text[start] * 3 if text.startswith(text[start] * 3, start) else text[start]
    index = start + len(quote)
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text.startswith(quote, index):
            return index + len(quote)
        else:
            index += 1
    return len(text)
