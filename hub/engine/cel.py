"""Compiled CEL expressions: parsing once, checking names, evaluating safely.

Expressions see ``input``, ``steps`` (step id -> ``{"output": ...}``), ``vars`` and ``run``
(``id``, ``tenant``, ``started_at``), and may call ``now()``, ``uuid()`` besides CEL's own
functions (``duration``, ``timestamp``, ``size``, ``matches``...). Unknown variables and
functions are refused at compile time, so a typo fails when a definition is published and
not in the middle of a run. Evaluation never uses Python's eval: cel-python's interpreter
walks the parsed tree (its transpiling runner is not used: it execs generated Python and
mishandles extension functions in cel-python 0.5). Every evaluation runs within a cost
budget and a CPU-time limit (:mod:`hub.engine.celbudget`); going over either is an
``ExpressionError`` saying "expression exceeded its cost budget".
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import celpy
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, base_functions

from hub.engine.celbudget import (
    DEFAULT_LIMITS,
    BudgetedRunner,
    BudgetExceeded,
    ExpressionLimits,
    expression_budget,
)
from hub.engine.celshortcuts import MISSING, Shortcut, shortcut
from hub.engine.celvalues import (
    HUB_FUNCTIONS,
    ConversionError,
    describe_eval_error,
    pinned,
    to_cel,
    to_plain,
)

CONTEXT_VARIABLES = frozenset({"input", "steps", "vars", "run"})
# Compiling costs ~0.1 ms per character (a 40 KB list literal took 8 s); real expressions
# are a few hundred characters at most (issue 12, item 4).
MAX_EXPRESSION_CHARS = 4096
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
    return celpy.Environment(runner_class=BudgetedRunner)


Clock = Callable[[], datetime]
IdSource = Callable[[], str]


class ExpressionError(ValueError):
    """An expression that does not compile or cannot be evaluated; names the expression."""

    def __init__(self, expression: str, reason: str, *, during: str = "compile") -> None:
        verb = "invalid expression" if during == "compile" else "cannot evaluate"
        super().__init__(f"{verb} {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


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

    def member(self, path: tuple[str, ...]) -> Any:
        """The plain value at `path` (through maps only), or MISSING."""
        value: Any = self._plain
        for part in path:
            if not isinstance(value, Mapping) or part not in value:
                return MISSING
            value = value[part]
        return value

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
    # The common forms (`steps.a.output`, `x in ["a", "b"]`, `has(p) ? q : null`,
    # `has(p) && q`) answered from the plain context when every part is there; anything
    # else goes through CEL for CEL's own answer (hub/engine/celshortcuts.py).
    _fast: Shortcut | None = field(default=None, compare=False, repr=False)

    def evaluate(
        self,
        context: Mapping[str, Any] | PreparedContext,
        *,
        clock: Clock | None = None,
        new_id: IdSource | None = None,
        limits: ExpressionLimits | None = None,
    ) -> Any:
        """The plain (JSON-able) result; ``ExpressionError`` on any evaluation problem,
        including going over `limits` (default ``DEFAULT_LIMITS``; an enclosing
        ``expression_budget()`` takes precedence)."""
        undo = pinned(clock, new_id) if clock or new_id else None
        try:
            with expression_budget(limits or DEFAULT_LIMITS):
                return self.evaluate_prepared(prepare_context(context))
        finally:
            if undo is not None:
                undo()

    def evaluate_prepared(self, context: PreparedContext) -> Any:
        """As ``evaluate``, charged to the active budget (a fresh default one if none)."""
        if self._fast is not None:
            found = self._fast(context.member)
            if found is not MISSING:
                return found
        try:
            result = self._runner.evaluate(context.activation(self.names, self.text))
            return to_plain(result)
        except ExpressionError:
            raise
        except BudgetExceeded as exceeded:
            raise ExpressionError(self.text, str(exceeded), during="eval") from None
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


# celpy's parser keeps the text it is parsing on a shared object (CELParser.parse sets
# self.text, then parses self.text): two threads compiling at once could swap texts. The
# API compiles definitions in a worker thread while the loop may compile too.
_PARSING = threading.Lock()


@functools.lru_cache(maxsize=4096)
def _compile_cached(text: str, variables: frozenset[str]) -> Expression:
    if not text.strip():
        raise ExpressionError(text, "empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            text[:60] + "...", f"longer than {MAX_EXPRESSION_CHARS} characters ({len(text)})"
        )
    try:
        with _PARSING:
            ast = _environment().compile(text)
    except CELParseError as error:
        raise ExpressionError(text, _syntax_reason(error)) from None
    except RecursionError:
        raise ExpressionError(text, "expression nests too deeply") from None
    names, step_refs = _check_names(text, ast, variables)
    runner = _environment().program(ast, functions=HUB_FUNCTIONS)
    return Expression(text, names, step_refs, runner, shortcut(text, names))


def _syntax_reason(error: CELParseError) -> str:
    if error.line is None:
        return "syntax error"
    return f"syntax error at line {error.line}, column {error.column}"


def _check_names(
    text: str, ast: lark.Tree[lark.Token], variables: frozenset[str]
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


def _scan_tree(ast: lark.Tree[lark.Token]) -> tuple[set[str], set[str], set[str], set[str]]:
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


def _macro_variable(node: lark.Tree[lark.Token]) -> str | None:
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
