"""Concurrency keys, the pure parts: the `concurrency` block as published, a run's key as
rendered when it is created, and which runs of a key may start."""

from __future__ import annotations

from typing import Any

import pytest

from hub.engine.concurrency import MAX_KEY_CHARS, bounded_key, may_start, run_key
from hub.engine.definition import parse_definition
from hub.engine.expressions import ExpressionError
from hub.engine.model import Concurrency

from .helpers import base, find, problems_of, where


def with_concurrency(block: Any, **extra: Any) -> dict[str, Any]:
    return {**base(), "concurrency": block, **extra}


def parsed(block: Any, **extra: Any) -> Concurrency:
    concurrency = parse_definition(with_concurrency(block, **extra)).concurrency
    assert concurrency is not None
    return concurrency


def test_a_definition_without_concurrency_has_none() -> None:
    assert parse_definition(base()).concurrency is None
    assert parse_definition(with_concurrency(None)).concurrency is None


def test_the_limit_defaults_to_one_and_may_go_to_a_thousand() -> None:
    assert parsed({"key": "${vars.line_id}"}).limit == 1
    assert parsed({"key": "${input.line}", "limit": 1000}).limit == 1000
    assert parsed({"key": "line-1"}).key.is_static  # one key for every run: a mutex


@pytest.mark.parametrize(
    ("block", "field", "text"),
    [
        ({"key": 5}, "concurrency.key", "must be a non-empty string template"),
        ({"key": ["${input.a}"]}, "concurrency.key", "got a list"),
        ({"key": {"a": 1}}, "concurrency.key", "got a mapping"),
        ({"key": "  "}, "concurrency.key", "must be a non-empty string template"),
        ({"limit": 2}, "concurrency.key", "is required"),
        ({"key": "${input.a}", "limit": 0}, "concurrency.limit", "from 1 to 1000, got 0"),
        ({"key": "${input.a}", "limit": 10**9}, "concurrency.limit", "got 1000000000"),
        ({"key": "${input.a}", "limit": -3}, "concurrency.limit", "got -3"),
        ({"key": "${input.a}", "limit": "x"}, "concurrency.limit", "got a string"),
        ({"key": "${input.a}", "limit": 1.5}, "concurrency.limit", "got a number"),
        ({"key": "${input.a}", "limit": True}, "concurrency.limit", "got a boolean"),
        ({"key": "${input.a}", "per": "line"}, "concurrency.per", "unknown field"),
        ({"key": "${steps.fetch.output}"}, "concurrency.key", "unknown variable 'steps'"),
        ({"key": "${run.id}"}, "concurrency.key", "unknown variable 'run'"),
        ({"key": "${input.a"}, "concurrency.key", "unterminated"),
        ({"key": "${input.a +}"}, "concurrency.key", "invalid expression"),
        ("line-1", "concurrency", "must be a mapping"),
        ([{"key": "a"}], "concurrency", "must be a mapping"),
    ],
)
def test_bad_blocks_name_their_field(block: Any, field: str, text: str) -> None:
    problems = problems_of(with_concurrency(block))
    assert find(problems, None, field, text), problems


def test_every_problem_of_the_block_is_listed_at_once() -> None:
    problems = problems_of(with_concurrency({"key": 1, "limit": 0, "x": 1}))
    assert {(None, "concurrency.key"), (None, "concurrency.limit"), (None, "concurrency.x")} <= (
        where(problems)
    )


def test_x_extension_keys_are_left_alone() -> None:
    assert parsed({"key": "${input.a}", "x-note": "per line"}).limit == 1


def test_the_key_reads_input_and_vars() -> None:
    concurrency = parsed({"key": "${vars.site}/${input.line}"}, vars={"site": "p1"})
    assert run_key(concurrency, {"line": "L1"}, {"site": "p1"}) == "p1/L1"
    whole = parsed({"key": "${input.line}"})
    assert run_key(whole, {"line": 7}, {}) == "7"
    assert run_key(whole, {"line": {"b": 1, "a": [True, None]}}, {}) == '{"a":[true,null],"b":1}'


@pytest.mark.parametrize("value", [None, "", [], {}])
def test_a_null_or_empty_key_is_no_key(value: Any) -> None:
    assert run_key(parsed({"key": "${input.line}"}), {"line": value}, {}) is None


def test_a_key_that_cannot_be_evaluated_raises_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="line"):
        run_key(parsed({"key": "${input.line}"}), {}, {})


def test_a_key_obeys_the_expression_budget() -> None:
    ten = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
    nested = "a"
    for variable in "edcb":  # a map nested five deep over ten elements: 100,000 of them
        nested = f"{ten}.map({variable}, {nested})"
    concurrency = parsed({"key": f"${{string({ten}.map(a, {nested}))}}"})
    with pytest.raises(ExpressionError, match="budget"):
        run_key(concurrency, {}, {})


def test_long_keys_are_kept_as_their_digest() -> None:
    exact = "k" * MAX_KEY_CHARS
    assert bounded_key(exact) == exact
    longer = bounded_key("k" * (MAX_KEY_CHARS + 1))
    assert longer is not None and longer.startswith("sha256:") and len(longer) == 71
    assert longer == bounded_key("k" * (MAX_KEY_CHARS + 1))  # the same key, the same digest
    assert longer != bounded_key("k" * (MAX_KEY_CHARS + 2))
    # text no database keeps as it is is digested too
    for odd in ("a\x00b", "a\ud800b"):
        digest = bounded_key(odd)
        assert digest is not None and digest.startswith("sha256:")


def test_runs_start_first_queued_first_within_the_limit() -> None:
    assert may_start(1, [], ["q1", "q2"]) == ["q1"]
    assert may_start(1, ["a"], ["q1", "q2"]) == []
    assert may_start(3, ["a"], ["q1", "q2", "q3"]) == ["q1", "q2"]
    # a limit lowered below the active runs starts none
    assert may_start(1, ["a", "b"], ["q1"]) == []


def test_finishing_runs_free_their_slot_and_their_place() -> None:
    assert may_start(1, ["a"], ["q1", "q2"], finishing={"a"}) == ["q1"]
    # a queued run cancelled with the slot's holder: the next one takes it
    assert may_start(1, ["a"], ["q1", "q2"], finishing={"a", "q1"}) == ["q2"]
    assert may_start(2, ["a", "b"], ["q1", "q2", "q3"], finishing={"a", "b"}) == ["q1", "q2"]


def test_new_runs_wait_behind_the_queue() -> None:
    assert may_start(1, [], [], arriving=["n1", "n2"]) == ["n1"]
    assert may_start(1, [], ["q1"], arriving=["n1"]) == ["q1"]
    assert may_start(2, [], ["q1"], arriving=["n1", "n2"]) == ["q1", "n1"]
    assert may_start(1, ["a"], [], arriving=["n1"]) == []


def test_a_run_that_starts_and_ends_at_once_frees_its_place() -> None:
    assert may_start(1, [], ["q1"], arriving=["n1"], finishing={"q1"}) == ["n1"]
    assert may_start(1, [], [], arriving=["n1", "n2"], finishing={"n1"}) == ["n2"]
