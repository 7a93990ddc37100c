"""Parsing definitions: the DSL example, and every kind of problem, each naming its step."""

from __future__ import annotations

from typing import Any

import pytest

from hub.engine.definition import (
    DefinitionInvalid,
    load_definition_text,
    parse_definition,
    validate_input,
)
from hub.engine.model import (
    ActivityStep,
    CronTrigger,
    DecisionStep,
    EndStep,
    EventTrigger,
    FormField,
    ParallelStep,
    RetryPolicy,
    SubworkflowStep,
    TimerStep,
    UserTaskStep,
    WaitStep,
)

from .helpers import EXAMPLE, base, find, problems_of, where

ACTIVITIES = {
    "validate_safety_event", "undo_validation", "assess_severity", "stop_machines", "notify",
    "log", "record_incident", "check_quality", "check_inventory",
}  # fmt: skip
WORKFLOWS = {"deidentify": ["1.0.0", "1.4.2", "2.0.0"]}


def example() -> dict[str, Any]:
    return load_definition_text(EXAMPLE.read_text(), "application/yaml")


def test_the_dsl_example_parses() -> None:
    definition = parse_definition(example(), known_activities=ACTIVITIES, known_workflows=WORKFLOWS)
    assert (definition.name, definition.version, definition.start) == (
        "safety-monitoring", "1.2.0", "validate_event",
    )  # fmt: skip
    assert definition.input_schema == {"type": "object", "required": ["area_id"]}
    assert len(definition.steps) == 18
    event, cron = definition.triggers
    assert event == EventTrigger("areas/{area_id}/sensors/+/alarm")
    assert isinstance(cron, CronTrigger) and cron.cron == "*/5 * * * *"
    assert cron.input is not None and cron.input.render({}) == {"check": "health"}

    validate = definition.steps["validate_event"]
    assert isinstance(validate, ActivityStep)
    assert validate.timeout == 5.0
    assert validate.retry == RetryPolicy(3, 1.0, 5.0, 1.5, 0.1, ("ValidationFailed",))
    assert validate.compensate is not None and validate.compensate.activity == "undo_validation"
    assert validate.input.render({"input": {"safety_level": 3}}) == {"safety_level": 3}
    assess = definition.steps["assess_severity"]
    assert isinstance(assess, ActivityStep)
    assert (assess.on_error.action, assess.on_error.step) == ("goto", "log_event")

    decision = definition.steps["severity_decision"]
    assert isinstance(decision, DecisionStep)
    assert dict(decision.cases) == {
        "high": "emergency_response", "medium": "alert_operators", "low": "log_event",
    }  # fmt: skip
    assert decision.default == "log_event"

    timer = definition.steps["wait_for_acknowledgment"]
    assert isinstance(timer, TimerStep) and timer.duration == 300.0
    wait = definition.steps["wait_for_telemetry"]
    assert isinstance(wait, WaitStep)
    assert (wait.signal, wait.timeout, wait.on_timeout) == ("telemetry_data", 600.0, "escalate")

    task = definition.steps["material_confirmation"]
    assert isinstance(task, UserTaskStep)
    assert task.title == "Confirm materials"
    assert task.form == (
        FormField("confirmation", "boolean", required=True, default=False),
        FormField("notes", "string"),
    )
    assert task.due == 14400.0 and task.candidate_groups == ("operators",)
    assert (
        task.assignee is not None and task.assignee.render({"input": {"operator_id": "u1"}}) == "u1"
    )

    checks = definition.steps["checks"]
    assert isinstance(checks, ParallelStep)
    assert checks.branches == (("quality_a", "quality_b"), ("inventory",))
    assert checks.completion.needed(2) == 2
    child = definition.steps["run_child"]
    assert isinstance(child, SubworkflowStep)
    assert (child.workflow, child.workflow_name, child.version_range) == (
        "deidentify@^1", "deidentify", "^1",
    )  # fmt: skip
    done = definition.steps["done"]
    assert isinstance(done, EndStep) and done.output is not None
    assert done.output.source == {"incident": "${steps.record_incident.output}"}


def test_definition_is_immutable() -> None:
    definition = parse_definition(base())
    with pytest.raises(TypeError):
        definition.steps["x"] = definition.steps["fetch"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        definition.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [(None, "is required"), ("Bad Name", "lowercase"), ("x" * 65, "1-64"), (7, "non-empty string")],
)
def test_bad_names(name: Any, fragment: str) -> None:
    data = base()
    data["name"] = name
    assert find(problems_of(data), None, "name", fragment)


@pytest.mark.parametrize(
    ("version", "fragment"),
    [(None, "is required"), ("1.2", "not a semantic version"), (1.2, "quote it in YAML")],
)
def test_bad_versions(version: Any, fragment: str) -> None:
    data = base()
    data["version"] = version
    assert find(problems_of(data), None, "version", fragment)


def test_unknown_step_type_names_the_step() -> None:
    problems = problems_of(base(pause={"type": "sleep", "next": "fetch"}))
    assert find(problems, "pause", "type", "unknown step type 'sleep'")
    assert find(problems_of(base(pause={"next": "fetch"})), "pause", "type", "is required")


def test_unknown_activity_when_the_registry_is_given() -> None:
    problems = problems_of(base(), known_activities={"other"})
    assert find(problems, "fetch", "activity", "unknown activity 'fetch'")
    parse_definition(base(), known_activities={"fetch"})


@pytest.mark.parametrize(
    ("steps", "step", "field"),
    [
        ({"pause": {"type": "timer", "duration": 5, "next": "x"}}, "pause", "next"),
        (
            {"route": {"type": "decision", "expression": "1", "cases": {"1": "done", "2": "x"}}},
            "route",
            "cases.2",
        ),
        (
            {
                "route": {
                    "type": "decision",
                    "expression": "1",
                    "cases": {"1": "done"},
                    "default": "x",
                }
            },
            "route",
            "default",
        ),
        (
            {
                "fetch": {
                    "type": "activity",
                    "activity": "fetch",
                    "on_error": {"goto": "x"},
                    "next": "route",
                }
            },
            "fetch",
            "on_error.goto",
        ),
        (
            {
                "pause": {
                    "type": "wait",
                    "signal": "go",
                    "timeout": "1m",
                    "on_timeout": "x",
                    "next": "fetch",
                }
            },
            "pause",
            "on_timeout",
        ),
        (
            {"pause": {"type": "parallel", "branches": [["x"]], "next": "fetch"}},
            "pause",
            "branches[0][0]",
        ),
    ],
)
def test_dangling_step_ids(steps: dict[str, Any], step: str, field: str) -> None:
    assert find(problems_of(base(**steps)), step, field, "refers to unknown step 'x'")


def test_unreachable_step() -> None:
    problems = problems_of(base(orphan={"type": "end"}))
    assert where(problems) == {("orphan", "id")}
    assert "unreachable" in problems[0].message


def test_missing_and_unknown_start() -> None:
    data = base()
    del data["start"]
    assert find(problems_of(data), None, "start", "is required")
    data["start"] = "nope"
    assert find(problems_of(data), None, "start", "unknown step 'nope'")


def test_bad_expressions_in_every_kind_of_field() -> None:
    problems = problems_of(
        base(
            fetch={
                "type": "activity",
                "activity": "fetch",
                "input": {"a": ["${input.}"]},
                "next": "route",
            },
            route={
                "type": "decision",
                "expression": "steps.fetch.output.ok ==",
                "cases": {"true": "done"},
                "default": "pause",
            },
            pause={"type": "timer", "until": "${nope()}", "next": "fetch"},
            done={"type": "end", "output": "${steps.fecth.output}"},
        )
    )
    assert find(problems, "fetch", "input.a[0]", "syntax error")
    assert find(problems, "route", "expression", "syntax error")
    assert find(problems, "pause", "until", "unknown function 'nope'")
    assert find(problems, "done", "output", "there is no step 'fecth'")


def test_bad_durations() -> None:
    problems = problems_of(
        base(
            pause={"type": "timer", "duration": "5 parsecs", "next": "fetch"},
            fetch={
                "type": "activity",
                "activity": "fetch",
                "timeout": "-1s",
                "next": "route",
                "retry": {"initial_interval": "soon", "max_attempts": 0, "jitter": 2},
            },
        )
    )
    assert find(problems, "pause", "duration", "invalid duration '5 parsecs'")
    assert find(problems, "fetch", "timeout", "negative")
    assert find(problems, "fetch", "retry.initial_interval", "invalid duration 'soon'")
    assert find(problems, "fetch", "retry.max_attempts", "at least 1")
    assert find(problems, "fetch", "retry.jitter", "at most 1")


def test_triggers_cron_and_topics() -> None:
    data = base()
    data["triggers"] = [
        {"cron": "*/5 * * * *"},
        {"cron": "61 * * * *"},
        {"event": "a/#/b"},
        {"event": "plant/{line}/+/{line}"},
        {"cron": "0 * * * *", "event": "x"},
        {"event": "ok/{id}", "input": {"id": "${trigger.params.id}", "bad": "${input.x}"}},
        {"event": "w/1", "when": "input.level == 'hihi'"},
        {"event": "w/2", "when": "trigger.payload.level =="},
        {"cron": "0 * * * *", "when": "true"},
        {"event": "w/3", "when": "trigger.payload.level == 'hihi'"},
    ]
    problems = problems_of(data)
    assert find(problems, None, "triggers[6].when", "unknown variable 'input'")
    assert find(problems, None, "triggers[7].when", "")
    assert find(problems, None, "triggers[8].when", "only an event trigger")
    assert not find(problems, None, "triggers[9].when", "")
    assert find(problems, None, "triggers[1].cron", "invalid cron expression '61 * * * *'")
    assert find(problems, None, "triggers[2].event", "'#' may only be the last level")
    assert find(problems, None, "triggers[3].event", "used twice")
    assert find(problems, None, "triggers[4].event", "exactly one of event")
    assert find(problems, None, "triggers[5].input.bad", "unknown variable 'input'")
    assert not find(problems, None, "triggers[0].cron", "")
    assert not find(problems, None, "triggers[5].input.id", "")


def test_wait_match_must_be_a_mapping_on_an_event_wait() -> None:
    problems = problems_of(
        base(
            pause={"type": "wait", "event": "a/b", "match": ["ack"], "next": "fetch"},
            hold={"type": "wait", "signal": "go", "match": {"a": 1}, "next": "fetch"},
            fine={"type": "wait", "event": "a/b", "match": {"id": "${input.x}"}, "next": "fetch"},
        )
    )
    assert find(problems, "pause", "match", "must be a mapping")
    assert find(problems, "hold", "match", "only a wait for an event")
    assert not find(problems, "fine", "match", "")


def test_bad_form_fields() -> None:
    task = {
        "type": "user_task",
        "title": "Check",
        "form": [
            {"id": "choice", "type": "enum"},
            {"id": "count", "type": "integer", "default": "three"},
            {"id": "count", "type": "string"},
            {"id": "when", "type": "date", "default": "2024-13-40"},
            {"id": "x", "type": "color"},
            {"id": "2bad", "type": "string", "options": ["a"]},
            {"id": "flag", "type": "boolean", "required": "yes", "colour": "red"},
        ],
        "next": "fetch",
    }
    problems = problems_of(base(pause=task))
    assert find(problems, "pause", "form[0].options", "non-empty list")
    assert find(problems, "pause", "form[1].default", "must be an integer")
    assert find(problems, "pause", "form[2].id", "duplicate field id 'count'")
    assert find(problems, "pause", "form[3].default", "YYYY-MM-DD")
    assert find(problems, "pause", "form[4].type", "got 'color'")
    assert find(problems, "pause", "form[5].id", "must start with a letter")
    assert find(problems, "pause", "form[5].options", "only enum fields")
    assert find(problems, "pause", "form[6].required", "true or false")
    assert find(problems, "pause", "form[6].colour", "unknown field")


def parallel_base(**overrides: Any) -> dict[str, Any]:
    steps = {
        "pause": {"type": "timer", "duration": "1m", "next": "fan"},
        "fan": {"type": "parallel", "branches": [["a1", "a2"], ["b1"]], "next": "fetch"},
        "a1": {"type": "activity", "activity": "a"},
        "a2": {"type": "wait", "signal": "go"},
        "b1": {"type": "activity", "activity": "b"},
    }
    return base(**{**steps, **overrides})


def test_valid_parallel() -> None:
    definition = parse_definition(parallel_base())
    assert isinstance(definition.steps["fan"], ParallelStep)


def test_parallel_branch_rules() -> None:
    problems = problems_of(
        parallel_base(
            a1={"type": "activity", "activity": "a", "next": "a2"},
            b1={"type": "decision", "expression": "1", "cases": {"1": "done"}},
            other={
                "type": "parallel",
                "branches": [["a2"]],
                "completion": {"at_least": 2},
                "next": "done",
            },
            route={
                "type": "decision",
                "expression": "steps.fetch.output.ok",
                "cases": {"true": "done", "false": "pause", "x": "a1", "y": "other"},
            },
        )
    )
    assert find(problems, "a1", "next", "must be absent")
    assert find(problems, "b1", "type", "a decision step cannot be inside a parallel branch")
    assert find(problems, "other", "branches[0][0]", "'a2' is already in a branch of 'fan'")
    assert find(problems, "other", "completion", "1 <= N <= 1")
    assert find(problems, "route", "cases.x", "cannot be entered from elsewhere")


def test_busy_loop_is_refused_and_timer_loop_is_fine() -> None:
    parse_definition(base())  # fetch -> route -> pause (timer) -> fetch
    problems = problems_of(
        base(
            route={
                "type": "decision",
                "expression": "steps.fetch.output.ok",
                "cases": {"true": "done", "false": "fetch"},
            },
            pause=None,
        )
    )
    assert find(problems, "fetch", "loop", "busy loop through fetch, route")


def test_loop_through_parallel_counts_only_if_it_must_wait() -> None:
    waits = parallel_base()  # branch a waits and completion is "all"
    parse_definition(waits)
    instant = parallel_base()
    instant["steps"]["fan"]["completion"] = "any"  # branch b finishes without waiting
    instant["steps"]["pause"] = {"type": "activity", "activity": "x", "next": "fan"}
    assert find(problems_of(instant), "fetch", "loop", "busy loop through fetch, route, pause, fan")


def test_a_reachable_end_is_required() -> None:
    problems = problems_of(
        base(
            done=None,
            route={
                "type": "decision",
                "expression": "steps.fetch.output.ok",
                "cases": {"false": "pause"},
            },
        )
    )
    assert find(problems, None, "steps", "no end step is reachable")


def test_steps_that_can_never_finish() -> None:
    data = base(
        trap={"type": "timer", "duration": "1h", "next": "trap_work"},
        trap_work={"type": "activity", "activity": "x", "next": "trap"},
        route={
            "type": "decision",
            "expression": "steps.fetch.output.ok",
            "cases": {"true": "done", "false": "pause", "maybe": "trap"},
        },
    )
    problems = problems_of(data)
    assert where(problems) == {("trap", "next"), ("trap_work", "next")}


def test_next_rules() -> None:
    problems = problems_of(
        base(
            pause={"type": "timer", "duration": "1s"},
            done={"type": "end", "next": "fetch"},
        )
    )
    assert find(problems, "pause", "next", "is required")
    assert find(problems, "done", "next", "has no next")


def test_unknown_fields_are_reported_but_extensions_pass() -> None:
    problems = problems_of(
        base(pause={"type": "timer", "duration": 1, "nxt": "fetch", "next": "fetch"})
    )
    assert where(problems) == {("pause", "nxt")}
    data = base(pause={"type": "timer", "duration": 1, "next": "fetch", "x-layout": {"x": 1}})
    data["x-editor"] = "v2"
    parse_definition(data)


def test_subworkflow_checks() -> None:
    child = {"type": "subworkflow", "workflow": "deidentify@^3", "next": "done"}
    problems = problems_of(base(pause=child), known_workflows=WORKFLOWS)
    assert find(problems, "pause", "workflow", "no version of 'deidentify' matches '^3'")
    problems = problems_of(base(pause={**child, "workflow": "other@^1"}), known_workflows=["x"])
    assert find(problems, "pause", "workflow", "unknown workflow 'other'")
    problems = problems_of(base(pause={**child, "workflow": "deidentify@banana"}))
    assert find(problems, "pause", "workflow", "invalid version range")
    parse_definition(base(pause={**child, "workflow": "deidentify@^1"}), known_workflows=WORKFLOWS)


def test_invalid_step_ids_and_input_schema() -> None:
    data = base(**{"bad-id": {"type": "end"}})
    data["input_schema"] = {"type": "objekt"}
    problems = problems_of(data)
    assert find(problems, "bad-id", "id", "start with a letter")
    assert find(problems, None, "input_schema", "invalid JSON Schema")


def test_many_problems_are_listed_together() -> None:
    data = base(
        fetch={"type": "activity", "activity": "fetch", "timeout": "forever", "next": "rout"},
        route={"type": "decision", "expression": "input.", "cases": {"true": "done"}},
        pause={"type": "teleport", "next": "fetch"},
    )
    data["version"] = "one"
    data["triggers"] = [{"cron": "every day"}]
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(data, known_activities={"nothing"})
    assert where(info.value.problems) == {
        (None, "version"),
        (None, "triggers[0].cron"),
        ("fetch", "activity"),
        ("fetch", "timeout"),
        ("fetch", "next"),
        ("route", "expression"),
        ("pause", "type"),
    }
    assert "step 'fetch', next: refers to unknown step 'rout'" in str(info.value)


def test_not_a_mapping() -> None:
    with pytest.raises(DefinitionInvalid, match="must be a mapping"):
        parse_definition(["not", "a", "definition"])  # type: ignore[arg-type]
    assert find(problems_of({"name": "x"}), None, "steps", "non-empty mapping")


def test_validate_input_names_the_failing_path() -> None:
    data = base()
    data["input_schema"] = {
        "type": "object",
        "required": ["area_id"],
        "properties": {"area_id": {"type": "string"}, "level": {"type": "integer", "maximum": 5}},
    }
    definition = parse_definition(data)
    assert validate_input(definition, {"area_id": "a1", "level": 3}) == []
    assert validate_input(definition, {"level": 9}) == [
        "$: 'area_id' is a required property",
        "$.level: 9 is greater than the maximum of 5",
    ]
    assert validate_input(parse_definition(base()), "anything") == []
