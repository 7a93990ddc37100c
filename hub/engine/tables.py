"""Decision steps: parsing cases and decision tables, and taking a decision.

Cases: ``expression`` is evaluated and its string form (``true``/``false`` for booleans,
``2`` for 2 and 2.0, see ``string_form``) picks a key of ``cases``; otherwise ``default``.
YAML keys are normalised the same way, so ``cases: {true: a, 2: b}`` works.

Decision tables (``table: {inputs, rules, hit_policy}``):

* ``inputs`` are CEL expressions evaluated once, in order.
* Each rule's ``when`` list has one cell per input, matched position-wise:

  - ``"-"`` or ``"*"`` matches anything;
  - a CEL string that uses ``value`` is a test with ``value`` bound to that input's value
    (``"value > 5"``, ``"value in ['a', 'b']"``) and must give true or false;
  - a CEL string without ``value`` is compared for equality with the input
    (``"'high'"``, ``"input.limit"``), and so is a non-string cell (``5``, ``true``, null).

* ``hit_policy``:

  - ``first`` (default): the first matching rule wins; its ``then`` is the next step id;
  - ``unique``: exactly one rule may match; several matching is a run-time
    ``DecisionError`` (an authoring mistake the data exposed);
  - ``collect``: a step cannot branch several ways, so every matching rule's ``then`` is
    a value (any JSON, may use ``${}``) collected in order into ``output.results``, and
    the step continues to ``next`` (required); to ``default`` instead when no rule
    matched and a default is given.

* With ``first``/``unique`` and no matching rule, ``default`` is taken; without one the
  decision fails with ``DecisionError``.

The decision's output (what ``steps.<id>.output`` holds afterwards) is
``{"value", "case", "next"}`` for cases and ``{"inputs", "rules", "results", "next"}``
for tables (``rules`` are the 0-based indexes of the matching rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeGuard

from hub.engine.celvalues import string_form
from hub.engine.expressions import (
    CONTEXT_VARIABLES,
    Expression,
    PreparedContext,
    expression_budget,
    prepare_context,
)
from hub.engine.fields import Reader, describe_type
from hub.engine.model import (
    HIT_POLICIES,
    DecisionRule,
    DecisionStep,
    DecisionTable,
    RuleTest,
)

_ANY = RuleTest("any")
_HitPolicy = Literal["first", "unique", "collect"]  # DecisionTable.hit_policy, HIT_POLICIES
_TABLE_VARIABLES = CONTEXT_VARIABLES | {"value"}


class DecisionError(ValueError):
    """A decision that cannot be taken with this data (no match and no default...)."""


@dataclass(frozen=True)
class DecisionOutcome:
    next: str
    output: dict[str, Any]


def parse_decision(reader: Reader, common: dict[str, Any], next_step: str | None) -> DecisionStep:
    if reader.has("expression") == reader.has("table"):
        reader.problem("expression", "give exactly one of expression (with cases) or table")
    table = _table(reader) if reader.has("table") else None
    cases = _cases(reader)
    default = reader.text("default")
    collect = table is not None and table.hit_policy == "collect"
    if reader.has("expression") and not cases and default is None:
        reader.problem("cases", "give cases, a default or both")
    if table is not None and cases:
        reader.problem("cases", "a decision table chooses with its rules, not cases")
    if next_step is not None and not collect:
        reader.problem("next", "only a collect table continues to next; use cases or default")
    if collect and next_step is None and not reader.has("next"):
        reader.problem("next", "a collect table needs next")
    return DecisionStep(
        **common,
        expression=reader.expression("expression"),
        cases=MappingProxyType(cases),
        default=default,
        table=table,
        next=next_step if collect else None,
    )


def _cases(reader: Reader) -> dict[str, str]:
    raw = reader.get("cases")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        reader.problem("cases", f"must be a mapping of value -> step id, got {describe_type(raw)}")
        return {}
    cases: dict[str, str] = {}
    for key, target in raw.items():
        name = key if isinstance(key, str) else string_form(key)
        if not isinstance(target, str) or not target:
            reader.problem(f"cases.{name}", "must be a step id")
        elif name in cases:
            reader.problem(f"cases.{name}", f"the case {name!r} is given twice")
        else:
            cases[name] = target
    return cases


def _table(reader: Reader) -> DecisionTable | None:
    table = reader.child("table", ("inputs", "rules", "hit_policy"))
    if table is None:
        return None
    given = table.get("hit_policy") or "first"
    policy: _HitPolicy = "first"
    if _is_hit_policy(given):
        policy = given
    else:
        table.problem("hit_policy", f"must be one of {', '.join(HIT_POLICIES)}, got {given!r}")
    raw_inputs = table.get("inputs")
    inputs = _inputs(table, raw_inputs)
    width = len(raw_inputs) if isinstance(raw_inputs, list) else None
    return DecisionTable(inputs, _rules(table, width, policy), policy)


def _is_hit_policy(value: object) -> TypeGuard[_HitPolicy]:
    return value in HIT_POLICIES


def _inputs(table: Reader, raw: Any) -> tuple[Expression, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(i, str) for i in raw):
        table.problem("inputs", "must be a non-empty list of CEL expressions")
        return ()
    compiled = [table.compile_text(text, table.field(f"inputs[{i}]")) for i, text in enumerate(raw)]
    return tuple(expression for expression in compiled if expression is not None)


def _rules(table: Reader, width: int | None, policy: str) -> tuple[DecisionRule, ...]:
    raw = table.get("rules")
    if not isinstance(raw, list) or not raw:
        table.problem("rules", "must be a non-empty list of {when: [...], then: ...}")
        return ()
    rules = []
    for index, item in enumerate(raw):
        rule = _rule(table, f"rules[{index}]", item, width, policy)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _rule(
    table: Reader, where: str, item: Any, width: int | None, policy: str
) -> DecisionRule | None:
    if not isinstance(item, Mapping):
        table.problem(where, f"a rule must be a mapping, got {describe_type(item)}")
        return None
    rule = Reader(
        item,
        table.collector,
        step=table.step,
        allowed=("when", "then"),
        prefix=f"{table.field(where)}.",
    )
    when = rule.get("when")
    if not isinstance(when, list):
        rule.problem("when", "must be a list with one entry per input")
        when = []
    elif width is not None and len(when) != width:
        rule.problem("when", f"has {len(when)} entries for {width} inputs")
    tests = tuple(_cell(rule, f"when[{i}]", cell) for i, cell in enumerate(when))
    if policy == "collect":
        if "then" not in item:
            rule.problem("then", "is required (the value this rule adds to the results)")
        then: Any = rule.compile_value(item.get("then"), rule.field("then"))
    else:
        then = rule.text("then", required=True)
    return DecisionRule(tests, then) if then is not None else None


def _cell(rule: Reader, where: str, cell: Any) -> RuleTest:
    if cell in ("-", "*"):
        return _ANY
    if isinstance(cell, str):
        expression = rule.compile_text(cell, rule.field(where), _TABLE_VARIABLES)
        if expression is None:
            return _ANY
        kind: Literal["test", "equals"] = "test" if "value" in expression.names else "equals"
        return RuleTest(kind, expression)
    if cell is None or isinstance(cell, bool | int | float):
        return RuleTest("equals", literal=cell)
    rule.problem(where, f"must be '-', a CEL expression or a literal, got {describe_type(cell)}")
    return _ANY


def decide(step: DecisionStep, context: Mapping[str, Any] | PreparedContext) -> DecisionOutcome:
    """Take the decision for this context; ``DecisionError``/``ExpressionError`` if it can't.
    All its expressions (inputs, cells, results) share one evaluation budget."""
    with expression_budget():
        return _decide(step, prepare_context(context))


def _decide(step: DecisionStep, prepared: PreparedContext) -> DecisionOutcome:
    if step.table is not None:
        return _decide_table(step, step.table, prepared)
    assert step.expression is not None
    value = step.expression.evaluate_prepared(prepared)
    key = string_form(value)
    target = step.cases.get(key, step.default)
    if target is None:
        raise DecisionError(f"decision {step.id!r}: no case for {key!r} and no default")
    case = key if key in step.cases else None
    return DecisionOutcome(target, {"value": value, "case": case, "next": target})


def _decide_table(
    step: DecisionStep, table: DecisionTable, prepared: PreparedContext
) -> DecisionOutcome:
    values = [expression.evaluate_prepared(prepared) for expression in table.inputs]
    bound = [prepared.with_values(value=value) for value in values]
    matches: list[int] = []
    for index, rule in enumerate(table.rules):
        if _rule_matches(step.id, index, rule, values, bound):
            matches.append(index)
            if table.hit_policy == "first":
                break
    output: dict[str, Any] = {"inputs": values, "rules": matches}
    if table.hit_policy == "collect":
        output["results"] = [_then_value(table.rules[i], prepared) for i in matches]
        target = step.default if not matches and step.default else step.next
    else:
        target = _single_target(step, table, matches)
    assert target is not None
    output["next"] = target
    return DecisionOutcome(target, output)


def _single_target(step: DecisionStep, table: DecisionTable, matches: list[int]) -> str:
    if len(matches) > 1:
        raise DecisionError(
            f"decision {step.id!r}: hit policy unique, but rules {matches} all match"
        )
    if matches:
        return str(table.rules[matches[0]].then)
    if step.default is None:
        raise DecisionError(f"decision {step.id!r}: no rule matches and there is no default")
    return step.default


def _then_value(rule: DecisionRule, prepared: PreparedContext) -> Any:
    return rule.then if isinstance(rule.then, str) else rule.then.render(prepared)


def _rule_matches(
    step_id: str, index: int, rule: DecisionRule, values: list[Any], bound: list[PreparedContext]
) -> bool:
    for position, test in enumerate(rule.when):
        if not _cell_matches(step_id, index, position, test, values[position], bound[position]):
            return False
    return True


def _cell_matches(
    step_id: str, index: int, position: int, test: RuleTest, value: Any, bound: PreparedContext
) -> bool:
    if test.kind == "any":
        return True
    if test.expression is None:
        return _same(value, test.literal)
    result = test.expression.evaluate_prepared(bound)
    if test.kind == "equals":
        return _same(value, result)
    if not isinstance(result, bool):
        raise DecisionError(
            f"decision {step_id!r}: rules[{index}].when[{position}] "
            f"{test.expression.text!r} must give true or false, got {result!r}"
        )
    return result


def _same(a: Any, b: Any) -> bool:
    # Python has True == 1; a decision on a flag must not match the number 1.
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)
