"""CEL expressions and ``${...}`` templates, compiled once and evaluated safely.

A template is any JSON value. Strings may hold ``${expr}`` CEL expressions: a string that is
exactly one ``${expr}`` becomes the expression's native value (number, bool, map...), a
string with text around expressions interpolates their string forms (see
:func:`~hub.engine.celvalues.string_form`). ``$${`` writes a literal ``${``. Map keys are
never templated.

Expressions see ``input``, ``steps`` (step id -> ``{"output": ...}``), ``vars`` and ``run``
(``id``, ``tenant``, ``started_at``), and may call ``now()``, ``uuid()`` besides CEL's own
functions (``duration``, ``timestamp``, ``size``, ``matches``...). Unknown variables and
functions are refused at compile time, so a typo fails when a definition is published and
not in the middle of a run. Evaluation never uses Python's eval: cel-python's interpreter
walks the parsed tree (its transpiling runner is not used: it execs generated Python and
mishandles extension functions in cel-python 0.5).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import celpy
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, base_functions

from hub.engine.celvalues import (
    HUB_FUNCTIONS,
    ConversionError,
    describe_eval_error,
    pinned,
    string_form,
    to_cel,
    to_plain,
)

CONTEXT_VARIABLES = frozenset({"input", "steps", "vars", "run"})
_FUNCTIONS = frozenset(
    {name for name in base_functions if name[0].isalpha()} | set(HUB_FUNCTIONS) | {"has"}
)
# Type names are identifiers in CEL (``type(x) == int``) and must not read as unknown variables.
_TYPE_IDENTIFIERS = frozenset(
    {"bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type"}
)
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


@functools.cache
def _environment() -> celpy.Environment:
    # Building the CEL grammar takes ~0.1 s: pay it on first compile, not on import.
    return celpy.Environment()


Clock = Callable[[], datetime]
IdSource = Callable[[], str]


class ExpressionError(ValueError):
    """An expression that does not compile or cannot be evaluated; names the expression."""

    def __init__(self, expression: str, reason: str, *, during: str = "compile") -> None:
        verb = "invalid expression" if during == "compile" else "cannot evaluate"
        super().__init__(f"{verb} {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


class TemplateError(ExpressionError):
    """A template with one or more bad expressions; ``errors`` lists each with its place."""

    def __init__(self, errors: list[tuple[str, ExpressionError]]) -> None:
        first = errors[0][1]
        super().__init__(first.expression, first.reason)
        self.errors = tuple(errors)
        self.args = ("; ".join(f"{_place(where)}{error}" for where, error in errors),)


def _place(where: str) -> str:
    return f"at {where}: " if where else ""


class PreparedContext:
    """Context values converted to CEL once, then shared by every expression of a step."""

    __slots__ = ("_cel", "_plain")

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._plain = context
        self._cel: dict[str, Any] = {}

    def with_values(self, **extra: Any) -> PreparedContext:
        child = PreparedContext({**self._plain, **extra})
        child._cel.update({k: v for k, v in self._cel.items() if k not in extra})
        return child

    def activation(self, names: Collection[str], expression: str) -> dict[str, Any]:
        bound: dict[str, Any] = {}
        for name in names:
            if name not in self._cel:
                if name not in self._plain:
                    continue  # CEL reports the undeclared reference with the expression
                self._cel[name] = _convert_context(name, self._plain[name], expression)
            bound[name] = self._cel[name]
        return bound


def prepare_context(context: Mapping[str, Any] | PreparedContext) -> PreparedContext:
    return context if isinstance(context, PreparedContext) else PreparedContext(context)


def _convert_context(name: str, value: Any, expression: str) -> Any:
    try:
        return to_cel(value)
    except (ConversionError, ValueError, TypeError) as error:
        raise ExpressionError(expression, f"context {name!r}: {error}", during="eval") from None


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression; ``names`` are the context variables it reads."""

    text: str
    names: frozenset[str]
    step_refs: frozenset[str]
    _runner: Any = field(compare=False, repr=False)

    def evaluate(
        self,
        context: Mapping[str, Any] | PreparedContext,
        *,
        clock: Clock | None = None,
        new_id: IdSource | None = None,
    ) -> Any:
        """The plain (JSON-able) result; ``ExpressionError`` on any evaluation problem."""
        undo = pinned(clock, new_id) if clock or new_id else None
        try:
            return self.evaluate_prepared(prepare_context(context))
        finally:
            if undo is not None:
                undo()

    def evaluate_prepared(self, context: PreparedContext) -> Any:
        try:
            result = self._runner.evaluate(context.activation(self.names, self.text))
            return to_plain(result)
        except ExpressionError:
            raise
        except CELEvalError as error:
            raise ExpressionError(self.text, describe_eval_error(error), during="eval") from None
        except Exception as error:  # a celpy bug must not leak as a raw exception
            reason = f"{type(error).__name__}: {error}"
            raise ExpressionError(self.text, reason, during="eval") from None


def compile_expression(text: str, *, variables: Collection[str] = CONTEXT_VARIABLES) -> Expression:
    """Compile a CEL expression (no ``${}``); cached, so each text is parsed once."""
    if not isinstance(text, str):
        raise ExpressionError(repr(text), "an expression must be a string")
    return _compile_cached(text, frozenset(variables))


@functools.lru_cache(maxsize=4096)
def _compile_cached(text: str, variables: frozenset[str]) -> Expression:
    if not text.strip():
        raise ExpressionError(text, "empty expression")
    try:
        ast = _environment().compile(text)
    except CELParseError as error:
        raise ExpressionError(text, _syntax_reason(error)) from None
    except RecursionError:
        raise ExpressionError(text, "expression nests too deeply") from None
    names, step_refs = _check_names(text, ast, variables)
    runner = _environment().program(ast, functions=HUB_FUNCTIONS)
    return Expression(text, names, step_refs, runner)


def _syntax_reason(error: CELParseError) -> str:
    if error.line is None:
        return "syntax error"
    return f"syntax error at line {error.line}, column {error.column}"


def _check_names(
    text: str, ast: lark.Tree, variables: frozenset[str]
) -> tuple[frozenset[str], frozenset[str]]:
    roots, functions, bound, step_refs = _scan_tree(ast)
    unknown = sorted(roots - bound - variables - _TYPE_IDENTIFIERS)
    if unknown:
        known = ", ".join(sorted(variables))
        raise ExpressionError(text, f"unknown variable {unknown[0]!r} (known: {known})")
    unknown_functions = sorted(functions - _FUNCTIONS)
    if unknown_functions:
        raise ExpressionError(text, f"unknown function {unknown_functions[0]!r}")
    return frozenset(roots & variables), frozenset(step_refs)


def _scan_tree(ast: lark.Tree) -> tuple[set[str], set[str], set[str], set[str]]:
    roots: set[str] = set()
    functions: set[str] = set()
    bound: set[str] = set()
    step_refs: set[str] = set()
    for node in ast.iter_subtrees():
        if node.data in ("ident", "dot_ident"):
            roots.add(str(node.children[0]))
        elif node.data in ("ident_arg", "dot_ident_arg"):
            functions.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and str(node.children[1]) in _MACROS:
            variable = _macro_variable(node)
            if variable:
                bound.add(variable)
        elif node.data == "member_dot" and _bare_ident(node.children[0]) == "steps":
            step_refs.add(str(node.children[1]))
    return roots, functions, bound, step_refs


def _macro_variable(node: lark.Tree) -> str | None:
    arguments = node.children[2] if len(node.children) > 2 else None
    if not isinstance(arguments, lark.Tree) or not arguments.children:
        return None
    return _bare_ident(arguments.children[0])


def _bare_ident(node: Any) -> str | None:
    # Follows single-child wrappers (expr -> ... -> primary) down to a lone identifier.
    while isinstance(node, lark.Tree):
        if node.data == "ident":
            return str(node.children[0])
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


# ---------------------------------------------------------------------------- templates


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
    ) -> Any:
        """The value with every expression evaluated; ``ExpressionError`` on failure."""
        undo = pinned(clock, new_id) if clock or new_id else None
        try:
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
        return _Whole(parts[0])  # type: ignore[arg-type]
    if all(isinstance(part, str) for part in parts):
        return _Literal("".join(parts))  # type: ignore[arg-type]
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
