"""Decision steps: cases on booleans and numbers, decision tables with each hit policy."""

from __future__ import annotations

from typing import Any

import pytest

from hub.engine.definition import parse_definition
from hub.engine.model import DecisionStep
from hub.engine.tables import DecisionError, decide

from .helpers import base, find, problems_of


def decision(body: dict[str, Any], targets: tuple[str, ...] = ("a", "b", "c")) -> DecisionStep:
    steps = {"choose": {"type": "decision", **body}}
    steps.update({name: {"type": "end"} for name in targets})
    data = {"name": "decide", "version": "1.0.0", "start": "choose", "steps": steps}
    step = parse_definition(data).steps["choose"]
    assert isinstance(step, DecisionStep)
    return step


def test_cases_on_booleans() -> None:
    step = decision({"expression": "input.ok", "cases": {True: "a", False: "b"}}, ("a", "b"))
    assert step.cases == {"true": "a", "false": "b"}
    outcome = decide(step, {"input": {"ok": True}})
    assert outcome.next == "a"
    assert outcome.output == {"value": True, "case": "true", "next": "a"}
    assert decide(step, {"input": {"ok": False}}).next == "b"


def test_cases_on_numbers_match_string_form() -> None:
    step = decision({"expression": "input.n", "cases": {1: "a", "2": "b"}, "default": "c"})
    assert decide(step, {"input": {"n": 1}}).next == "a"
    assert decide(step, {"input": {"n": 2}}).next == "b"
    assert decide(step, {"input": {"n": 2.0}}).next == "b"  # 2.0 reads as "2"
    outcome = decide(step, {"input": {"n": 7}})
    assert (outcome.next, outcome.output["case"]) == ("c", None)


def test_case_on_strings_and_missing_default() -> None:
    step = decision({"expression": "input.level", "cases": {"high": "a", "low": "b"}}, ("a", "b"))
    assert decide(step, {"input": {"level": "low"}}).next == "b"
    with pytest.raises(DecisionError, match="no case for 'medium' and no default"):
        decide(step, {"input": {"level": "medium"}})


TABLE = {
    "inputs": ["input.temperature", "input.area"],
    "rules": [
        {"when": ["value > 80", "-"], "then": "a"},
        {"when": ["value > 50", "'north'"], "then": "b"},
        {"when": ["*", "value.startsWith('s')"], "then": "c"},
    ],
}


def table_step(policy: str, **extra: Any) -> DecisionStep:
    targets = ("a", "b", "c", *extra.values())
    return decision({"table": {**TABLE, "hit_policy": policy}, **extra}, targets)


def test_table_first_takes_the_first_matching_rule() -> None:
    step = table_step("first", default="other")
    assert decide(step, {"input": {"temperature": 90, "area": "north"}}).next == "a"
    outcome = decide(step, {"input": {"temperature": 60, "area": "north"}})
    assert outcome.next == "b"
    assert outcome.output == {"inputs": [60, "north"], "rules": [1], "next": "b"}
    assert decide(step, {"input": {"temperature": 60, "area": "south"}}).next == "c"
    assert decide(step, {"input": {"temperature": 10, "area": "east"}}).next == "other"


def test_table_unique_requires_exactly_one_match() -> None:
    step = table_step("unique")
    assert decide(step, {"input": {"temperature": 60, "area": "north"}}).next == "b"
    with pytest.raises(DecisionError, match=r"rules \[0, 1\] all match"):
        decide(step, {"input": {"temperature": 90, "area": "north"}})
    with pytest.raises(DecisionError, match="no rule matches and there is no default"):
        decide(step, {"input": {"temperature": 10, "area": "east"}})


def test_table_collect_gathers_results_and_continues() -> None:
    rules = [
        {"when": ["value > 80", "-"], "then": {"alarm": "hot", "area": "${input.area}"}},
        {"when": ["value > 50", "-"], "then": "warm"},
        {"when": ["-", "'south'"], "then": 3},
    ]
    step = decision(
        {
            "table": {"inputs": TABLE["inputs"], "rules": rules, "hit_policy": "collect"},
            "next": "a",
            "default": "b",
        },
        ("a", "b"),
    )
    outcome = decide(step, {"input": {"temperature": 90, "area": "south"}})
    assert outcome.next == "a"
    assert outcome.output["rules"] == [0, 1, 2]
    assert outcome.output["results"] == [{"alarm": "hot", "area": "south"}, "warm", 3]
    empty = decide(step, {"input": {"temperature": 10, "area": "east"}})
    assert (empty.next, empty.output["results"]) == ("b", [])


def test_literal_cells_compare_strictly() -> None:
    step = decision(
        {
            "table": {
                "inputs": ["input.flag", "input.n"],
                "rules": [{"when": [True, 1], "then": "a"}, {"when": [None, "-"], "then": "b"}],
            },
            "default": "c",
        }
    )
    assert decide(step, {"input": {"flag": True, "n": 1}}).next == "a"
    assert decide(step, {"input": {"flag": 1, "n": 1}}).next == "c"  # 1 is not true
    assert decide(step, {"input": {"flag": None, "n": 5}}).next == "b"


def test_a_test_cell_must_give_a_boolean() -> None:
    step = decision(
        {
            "table": {"inputs": ["input.n"], "rules": [{"when": ["value + 1"], "then": "a"}]},
            "default": "b",
        },
        ("a", "b"),
    )
    # "value + 1" uses value, so it is a test; a number is not an answer.
    with pytest.raises(DecisionError, match="must give true or false, got 3"):
        decide(step, {"input": {"n": 2}})


def test_table_problems_are_reported() -> None:
    data = base(
        route={
            "type": "decision",
            "table": {
                "inputs": ["steps.fetch.output.ok", "inptu.x"],
                "rules": [
                    {"when": ["value ==", "-"], "then": "done"},
                    {"when": ["-"], "then": "nowhere"},
                ],
                "hit_policy": "sometimes",
            },
        }
    )
    problems = problems_of(data)
    assert find(problems, "route", "table.hit_policy", "first, unique, collect")
    assert find(problems, "route", "table.inputs[1]", "unknown variable 'inptu'")
    assert find(problems, "route", "table.rules[0].when[0]", "syntax error")
    assert find(problems, "route", "table.rules[1].when", "has 1 entries for 2 inputs")
    assert find(problems, "route", "table.rules[1].then", "unknown step 'nowhere'")


def test_decision_shape_problems() -> None:
    problems = problems_of(
        base(
            route={"type": "decision", "expression": "input.x"},
            other={
                "type": "decision",
                "expression": "input.x",
                "cases": {"a": "done"},
                "table": TABLE,
                "next": "done",
            },
        )
    )
    assert find(problems, "route", "cases", "give cases, a default or both")
    assert find(problems, "other", "expression", "exactly one of expression")
    assert find(problems, "other", "next", "only a collect table continues to next")
