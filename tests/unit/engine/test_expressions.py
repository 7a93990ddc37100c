"""CEL expressions and ${} templates: native values, interpolation, errors, caching."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.engine.expressions import (
    ExpressionError,
    PreparedContext,
    TemplateError,
    compile_expression,
    compile_template,
    split_template,
)

STARTED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CONTEXT = {
    "input": {"area_id": "a-7", "level": 4, "ratio": 2.0, "flag": True, "tags": ["x", "y"]},
    "steps": {"fetch": {"output": {"severity": "high", "count": 3, "data": {"k": [1, 2]}}}},
    "vars": {"limit": 10},
    "run": {"id": "run-1", "tenant": "acme", "started_at": STARTED},
}


def render(value: object) -> object:
    return compile_template(value).render(CONTEXT)


def test_whole_expression_keeps_native_type() -> None:
    assert render("${input.level}") == 4
    assert render("${input.level > 3}") is True
    assert render("${input.ratio * 2}") == 4.0
    assert render("${steps.fetch.output.data}") == {"k": [1, 2]}
    assert render("${input.tags}") == ["x", "y"]
    assert render("${null}") is None
    assert render("${ {'a': input.level} }") == {"a": 4}


def test_interpolation_uses_string_forms() -> None:
    text = "area ${input.area_id} level ${input.level} flag ${input.flag} ratio ${input.ratio}"
    assert render(text) == "area a-7 level 4 flag true ratio 2"
    assert render("tags=${input.tags}") == 'tags=["x","y"]'
    assert render(" ${input.level}") == " 4"  # text around it: a string


def test_nested_values_render_recursively_and_literals_pass_through() -> None:
    template = {
        "area": "${input.area_id}",
        "items": [{"n": "${steps.fetch.output.count}"}, 5, None, True],
        "static": {"deep": ["a", 1.5]},
    }
    assert render(template) == {
        "area": "a-7",
        "items": [{"n": 3}, 5, None, True],
        "static": {"deep": ["a", 1.5]},
    }


def test_rendering_returns_fresh_containers() -> None:
    template = compile_template({"list": [1, 2]})
    first = template.render(CONTEXT)
    first["list"].append(3)
    assert template.render(CONTEXT) == {"list": [1, 2]}


def test_timestamps_and_durations_become_json_values() -> None:
    assert render("${run.started_at}") == "2024-05-01T08:00:00Z"
    assert render("${run.started_at + duration('90m')}") == "2024-05-01T09:30:00Z"
    assert render("${duration('1h30m')}") == 5400.0
    assert render("${timestamp('2024-01-01T00:00:00Z') - run.started_at}") == -10483200.0
    assert render("started ${run.started_at}") == "started 2024-05-01T08:00:00Z"


def test_now_and_uuid_can_be_pinned() -> None:
    template = compile_template({"at": "${now()}", "id": "${uuid()}"})
    pinned = template.render(
        CONTEXT, clock=lambda: datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), new_id=lambda: "fixed"
    )
    assert pinned == {"at": "2030-01-02T03:04:05Z", "id": "fixed"}
    free = template.render(CONTEXT)
    assert free["at"].endswith("Z") and len(free["id"]) == 36
    assert compile_expression("now() > run.started_at").evaluate(CONTEXT) is True


def test_escaped_dollar_brace_is_literal() -> None:
    assert render("cost: $${input.level}") == "cost: ${input.level}"
    assert split_template("a ${x} b") == [(False, "a "), (True, "x"), (False, " b")]
    assert split_template("${ '}' }") == [(True, "'}'")]


def test_decision_expressions_evaluate_to_plain_values() -> None:
    expression = compile_expression("steps.fetch.output.count + vars.limit")
    assert expression.evaluate(CONTEXT) == 13
    assert type(expression.evaluate(CONTEXT)) is int
    assert compile_expression("input.tags.exists(t, t == 'y')").evaluate(CONTEXT) is True
    assert compile_expression("size(input.tags)").evaluate(CONTEXT) == 2
    assert compile_expression("has(input.missing)").evaluate(CONTEXT) is False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("input.missing", "no such member in mapping: 'missing'"),
        ("input.level + 'x'", "no matching overload"),
        ("1 / 0", "divide by zero"),
        ("{'a': 1 / 0}", "divide by zero"),
        ("vars.limit.nope", "cannot evaluate"),
    ],
)
def test_evaluation_errors_are_expression_errors(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text).evaluate(CONTEXT)
    assert info.value.expression == text
    assert fragment in str(info.value)
    assert text in str(info.value)


def test_missing_context_variable_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="undeclared reference to 'vars'"):
        compile_expression("vars.limit").evaluate({"input": {}})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("input.", "syntax error at line 1, column 6"),
        ("a +", "syntax error"),
        ("", "empty expression"),
        ("inptu.level", "unknown variable 'inptu'"),
        ("frobnicate(1)", "unknown function 'frobnicate'"),
        ("__import__('os')", "unknown function '__import__'"),
    ],
)
def test_compile_errors_name_the_expression(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    assert fragment in str(info.value)
    assert info.value.expression == text


def test_template_error_lists_every_bad_expression_with_its_place() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"a": "${input.}", "b": ["ok ${input.x}", "${nope.x}"], "c": "x ${1 +"})
    places = [where for where, _ in info.value.errors]
    assert places == ["a", "b[1]", "c"]
    assert "unterminated" in str(info.value.errors[2][1])
    assert isinstance(info.value, ExpressionError)


def test_macro_variables_and_type_names_are_not_unknown() -> None:
    assert compile_expression("[1, 2, 3].filter(n, n > 1)").evaluate({}) == [2, 3]
    assert compile_expression("type(input.level) == int").evaluate(CONTEXT) is True


def test_expressions_are_compiled_once() -> None:
    first = compile_expression("input.level * 7")
    assert compile_expression("input.level * 7") is first
    assert compile_expression("input.level * 7").names == frozenset({"input"})


def test_step_references_are_collected() -> None:
    template = compile_template({"a": "${steps.fetch.output.x}", "b": "${steps.other.output}"})
    assert template.step_refs == frozenset({"fetch", "other"})


def test_prepared_context_is_shared_across_expressions() -> None:
    prepared = PreparedContext(CONTEXT)
    assert compile_expression("input.level").evaluate(prepared) == 4
    child = prepared.with_values(value=9)
    assert (
        compile_expression("value + input.level", variables={"input", "value"}).evaluate(child)
        == 13
    )


def test_unrepresentable_context_value_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="cannot be used in an expression"):
        compile_expression("input.x").evaluate({"input": {"x": object()}})
    with pytest.raises(ExpressionError, match="64-bit"):
        compile_expression("input.x").evaluate({"input": {"x": 2**70}})


@pytest.mark.parametrize(
    "path",
    [
        "input.level",
        "input.ratio",
        "input.flag",
        "input.tags",
        "steps.fetch.output",
        "steps.fetch.output.data",
        "run.started_at",
        "vars",
    ],
)
def test_a_plain_member_path_gives_what_the_cel_interpreter_gives(path: str) -> None:
    fast = compile_expression(path)
    assert fast._fast is not None
    slow = compile_expression(f"({path})")  # parenthesised: not a plain path, CEL evaluates
    assert slow._fast is None
    result = fast.evaluate(CONTEXT)
    assert result == slow.evaluate(CONTEXT)
    assert type(result) is type(slow.evaluate(CONTEXT))


def test_a_member_path_that_is_not_there_fails_as_cel_says() -> None:
    with pytest.raises(ExpressionError) as fast:
        compile_expression("steps.fetch.output.missing").evaluate(CONTEXT)
    with pytest.raises(ExpressionError) as slow:
        compile_expression("(steps.fetch.output.missing)").evaluate(CONTEXT)
    assert fast.value.reason == slow.value.reason
    with pytest.raises(ExpressionError):
        compile_expression("input.tags.first").evaluate(CONTEXT)  # a list has no fields


def test_a_value_out_of_cel_range_fails_on_the_fast_path_too() -> None:
    context = {**CONTEXT, "input": {"big": 2**70}}
    with pytest.raises(ExpressionError):
        compile_expression("input.big").evaluate(context)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('input.action in ["activate", "escalate"]', "activate"),
        ('input.action in ["activate", "escalate"]', "return"),
        ('input.action in [ "a b" , "" ]', ""),
        ('input.action in ["activate"]', 3),  # not a string: CEL answers
        ('input.action in ["activate"]', ["activate"]),
    ],
)
def test_a_membership_guard_gives_what_the_cel_interpreter_gives(text: str, value: object) -> None:
    fast = compile_expression(text)
    assert fast._fast is not None
    slow = compile_expression(f"({text})")  # parenthesised: CEL evaluates
    assert slow._fast is None
    context = {**CONTEXT, "input": {"action": value}}
    try:
        expected: object = slow.evaluate(context)
    except ExpressionError as error:
        with pytest.raises(ExpressionError) as fast_error:
            fast.evaluate(context)
        assert fast_error.value.reason == error.reason
    else:
        assert fast.evaluate(context) is expected


@pytest.mark.parametrize(
    "text",
    [
        'input.action in ["a\\"b"]',  # an escape: CEL's own reading of the literal
        "input.action in ['a']",
        'input.action in ["a"] || true',
        "input.action in [input.other]",
    ],
)
def test_other_membership_forms_go_through_the_interpreter(text: str) -> None:
    assert compile_expression(text)._fast is None


OPTIONAL = {
    **CONTEXT,
    "steps": {
        **CONTEXT["steps"],
        "done": {"output": {"ok": True, "n": 3, "none": None}},
        "odd": {"output": {"ok": "yes"}},
    },
    "vars": {"rate": 2.5, "zero": 0},
}


@pytest.mark.parametrize(
    "text",
    [
        "has(steps.done) ? steps.done.output : null",
        "has(steps.absent) ? steps.absent.output : null",
        "has(vars.rate) ? vars.rate : 0",
        "has(vars.gone) ? vars.gone : 0",
        "has(vars.gone) ? vars.gone : -1.5",
        'has(vars.gone) ? vars.gone : "none"',
        "has(vars.rate) ? true : false",
        "has(steps.done.output.none) ? steps.done.output.none : 7",
        "has(steps.done) && steps.done.output.ok",
        "has(steps.absent) && steps.absent.output.ok",
        "has(steps.odd) && steps.odd.output.ok",  # not a bool: CEL's error
        "has(steps.done) ? steps.done.output.missing : null",  # a missing key: CEL's error
        "has(input.tags.first) ? 1 : 2",  # has() on a list: CEL's error
        "has(steps.nowhere.output) ? 1 : 2",  # the parent is not there: CEL's error
    ],
)
def test_an_optional_value_gives_what_the_cel_interpreter_gives(text: str) -> None:
    fast = compile_expression(text)
    assert fast._fast is not None
    slow = compile_expression(f"({text})")  # parenthesised: CEL evaluates
    assert slow._fast is None
    try:
        expected: object = slow.evaluate(OPTIONAL)
    except ExpressionError as error:
        with pytest.raises(ExpressionError) as fast_error:
            fast.evaluate(OPTIONAL)
        assert fast_error.value.reason == error.reason
    else:
        result = fast.evaluate(OPTIONAL)
        assert result == expected
        assert type(result) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "has(steps.done) ? steps.done.output.n + 1 : 0",
        "has(steps.done) || steps.done.output.ok",
        "has(steps) ? 1 : 2",  # has() needs a field
        "has(nothing.x) ? 1 : 2",  # an unknown root is refused when compiled, not here
    ],
)
def test_other_optional_forms_go_through_the_interpreter(text: str) -> None:
    try:
        expression = compile_expression(text)
    except ExpressionError:
        return
    assert expression._fast is None


def test_a_membership_guard_on_a_missing_key_fails_as_cel_says() -> None:
    text = 'input.missing in ["a"]'
    with pytest.raises(ExpressionError) as fast:
        compile_expression(text).evaluate(CONTEXT)
    with pytest.raises(ExpressionError) as slow:
        compile_expression(f"({text})").evaluate(CONTEXT)
    assert fast.value.reason == slow.value.reason
