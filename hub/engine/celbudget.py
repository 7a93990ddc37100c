"""A cost budget and a CPU-time limit for CEL evaluation (issue 12, item 4).

cel-python evaluates by walking the parsed tree: its ``Evaluator`` is a lark
``Interpreter`` whose every node passes through ``_visit_tree``, and macros (``map``,
``filter``, ``all``...) evaluate their body with a sub-evaluator per element. The hook is
there: ``BudgetedEvaluator`` charges each node visited and the size of each value an
operator, macro, function or literal builds, and checks the evaluating thread's CPU time,
so an expression that would run for seconds or build millions of elements stops within
its limits wherever it is evaluated (on the event loop or in a worker thread).

Cost units: 1 per node evaluated, 1 per list element or map entry built, 1 per
``CHARS_PER_UNIT`` characters (or bytes) of a string built. Values read from the context
are not charged; building a copy of them is. The time limit counts CPU time of the
evaluating thread (``time.thread_time``), not wall time, so a busy machine or GIL waits do
not fail a run that would pass on a quiet one.

One budget covers one evaluation unit: an ``Expression.evaluate``, a ``Template.render``
(all its expressions), a decision. ``expression_budget()`` lets a caller make a larger unit
(e.g. a whole workflow transition) share one budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import lark
from celpy import InterpretedRunner
from celpy.evaluation import Activation, Evaluator

CHARS_PER_UNIT = 10
# Nodes between checks of cost and CPU time: a check costs ~0.5 us, a node 5-20 us.
_CHECK_EVERY = 16


@dataclass(frozen=True)
class ExpressionLimits:
    """How much one evaluation unit may spend: `cost` units and `cpu_seconds` of CPU."""

    cost: int = 100_000
    # Bounds the work, not the stall: the hub's callers take an evaluation that needs
    # more than a couple of milliseconds off the event loop (hub/services/offload.py).
    cpu_seconds: float = 0.5


DEFAULT_LIMITS = ExpressionLimits()


class BudgetExceeded(Exception):
    """An evaluation went over its limits. Not a ValueError/TypeError on purpose: celpy turns
    those into CEL error values that ``||``/``&&`` and ``exists()`` may swallow."""


class OffLoop(BaseException):
    """An evaluation on the event loop used up its inline allowance: the caller takes the
    whole unit again in a worker thread. A BaseException, so that no `except Exception`
    between here and that caller (the interpreter turns exceptions into step failures)
    takes it for a failed expression."""


_inline_until: ContextVar[float | None] = ContextVar("inline_until", default=None)


@contextmanager
def inline_allowance(cpu_seconds: float) -> Iterator[None]:
    """Evaluations inside may spend `cpu_seconds` of this thread's CPU time in all (from
    now on) before OffLoop is raised. For code on the event loop; a worker thread the
    caller then uses does not inherit it (the context is reset on exit)."""
    token = _inline_until.set(time.thread_time() + cpu_seconds)
    try:
        yield
    finally:
        _inline_until.reset(token)


class ExpressionBudget:
    """What one evaluation unit has spent. Not thread-safe: one thread uses it at a time
    (it may move between threads between expressions; CPU time is summed per stretch)."""

    __slots__ = ("_cpu_spent", "_stretch_started", "built_units", "limits", "next_check", "nodes")

    def __init__(self, limits: ExpressionLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.nodes = 0
        self.built_units = 0
        self.next_check = _CHECK_EVERY
        self._cpu_spent = 0.0
        self._stretch_started: float | None = None

    @property
    def spent(self) -> int:
        return self.nodes + self.built_units

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count this thread's CPU time while the body runs (one expression's evaluation)."""
        if self._stretch_started is not None:  # already counting (re-entered)
            yield
            return
        self._stretch_started = time.thread_time()
        try:
            yield
        finally:
            self._cpu_spent += time.thread_time() - self._stretch_started
            self._stretch_started = None

    def checkpoint(self) -> None:
        """Called every ``_CHECK_EVERY`` nodes (the evaluator counts them inline)."""
        self.next_check = self.nodes + _CHECK_EVERY
        self._check()

    def built(self, value: Any) -> None:
        units = _size(value)
        if units:
            self.built_units += units
            self._check()

    def _check(self) -> None:
        until = _inline_until.get()
        if until is not None and time.thread_time() > until:
            raise OffLoop
        if self.spent > self.limits.cost:
            raise BudgetExceeded(
                f"expression exceeded its cost budget of {self.limits.cost} units "
                f"(evaluation steps plus elements and characters/{CHARS_PER_UNIT} built)"
            )
        cpu = self._cpu_spent
        if self._stretch_started is not None:
            cpu += time.thread_time() - self._stretch_started
        if cpu > self.limits.cpu_seconds:
            raise BudgetExceeded(
                f"expression exceeded its cost budget: more than "
                f"{self.limits.cpu_seconds * 1000:g} ms of CPU time"
            )


def _size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value) // CHARS_PER_UNIT
    if isinstance(value, list | dict):  # celtypes ListType and MapType subclass these
        return len(value)
    return 0


_active: ContextVar[ExpressionBudget | None] = ContextVar("expression_budget", default=None)


@contextmanager
def expression_budget(limits: ExpressionLimits = DEFAULT_LIMITS) -> Iterator[ExpressionBudget]:
    """Every expression evaluated inside shares one budget of `limits`.

    If a budget is already active (an outer unit), that one is used and `limits` is
    ignored: the outermost caller decides. Context-local, so it follows
    ``asyncio.to_thread`` into the worker thread."""
    active = _active.get()
    if active is not None:
        yield active
        return
    budget = ExpressionBudget(limits)
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


# Nodes whose value is newly built, and so charged by size. Pass-through nodes (a lone
# child wrapped in expr/relation/...) and reads (idents, member access) are not.
def _always(tree: lark.Tree[lark.Token]) -> bool:
    return True


def _binary(tree: lark.Tree[lark.Token]) -> bool:
    return len(tree.children) == 2


def _function_call(tree: lark.Tree[lark.Token]) -> bool:  # string(x), list(m)...
    child = tree.children[0]
    return isinstance(child, lark.Tree) and child.data == "ident_arg"


_BUILDS: dict[str, Callable[[lark.Tree[lark.Token]], bool]] = {
    "exprlist": _always,  # list literals (and argument lists)
    "mapinits": _always,  # map literals
    "member_dot_arg": _always,  # macros (map, filter...) and methods
    "addition": _binary,  # list and string concatenation
    "multiplication": _binary,
    "primary": _function_call,
}
_visit_node = Evaluator._visit_tree  # lark's Interpreter: dispatch on tree.data


class BudgetedEvaluator(Evaluator):
    """celpy's Evaluator, charging every node it visits to `budget`."""

    def __init__(
        self, ast: lark.Tree[lark.Token], activation: Activation, budget: ExpressionBudget
    ) -> None:
        super().__init__(ast, activation)
        self.budget = budget

    def sub_evaluator(self, ast: lark.Tree[lark.Token]) -> Evaluator:
        # Macro bodies (map, filter, all, exists...) run here, once per element.
        return BudgetedEvaluator(ast, self.activation, self.budget)

    def _visit_tree(self, tree: lark.Tree[lark.Token]) -> Any:
        # Every node passes here: lark's visit() and visit_children() both call it. Kept
        # inline and small: it runs for every node (about 10% on top of celpy's own cost).
        budget = self.budget
        budget.nodes += 1
        if budget.nodes >= budget.next_check:
            budget.checkpoint()
        value = _visit_node(self, tree)
        charged = _BUILDS.get(tree.data)
        if charged is not None and charged(tree):
            budget.built(value)
        return value


class BudgetedRunner(InterpretedRunner):
    """celpy's interpreting runner with a budget; ``evaluate`` uses the active one."""

    def evaluate(self, context: Any) -> Any:
        budget = _active.get() or ExpressionBudget()
        return self.evaluate_within(context, budget)

    def evaluate_within(self, context: Any, budget: ExpressionBudget) -> Any:
        evaluator = BudgetedEvaluator(self.ast, self.new_activation(), budget)
        with budget.running():
            return evaluator.evaluate(context)
