"""Parsing of each step type from its raw mapping (graph-wide checks live in ``graph``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.engine.activities import InputValidator, literal_view
from hub.engine.expressions import Template, compile_template
from hub.engine.fields import Collector, Reader, describe_type
from hub.engine.forms import parse_form
from hub.engine.model import (
    BRANCH_STEP_TYPES,
    STEP_TYPES,
    ActivityStep,
    Compensation,
    Completion,
    EndStep,
    OnError,
    ParallelStep,
    RetryPolicy,
    Step,
    SubworkflowStep,
    TimerStep,
    UserTaskStep,
    WaitStep,
)
from hub.engine.tables import parse_decision
from hub.engine.topics import topic_problem
from hub.engine.versions import match_version_range, parse_version_range, split_workflow_ref

NAME_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
SIGNAL_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_COMMON = ("type", "description", "next")
# Stand-ins for fields that failed to parse: the definition is refused anyway.
_EMPTY_MAP = compile_template({})


@dataclass(frozen=True)
class Known:
    """What the hub knows while parsing: registries to check names against, and branches."""

    activities: frozenset[str] | None
    workflows: Mapping[str, Collection[str]] | frozenset[str] | None
    branch_steps: frozenset[str]
    # activity name -> its publish-time input check (hub.engine.activities.InputValidator)
    input_validators: Mapping[str, InputValidator] = field(default_factory=dict)


def parse_step(step_id: str, raw: Any, collector: Collector, known: Known) -> Step | None:
    if not isinstance(raw, Mapping):
        collector.add(step_id, "type", f"a step must be a mapping, got {describe_type(raw)}")
        return None
    kind = raw.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        message = "is required" if kind is None else f"unknown step type {kind!r}"
        collector.add(step_id, "type", f"{message} (one of: {', '.join(STEP_TYPES)})")
        return None
    if step_id in known.branch_steps and kind not in BRANCH_STEP_TYPES:
        collector.add(step_id, "type", f"a {kind} step cannot be inside a parallel branch")
    fields, build = parser
    reader = Reader(raw, collector, step=step_id, allowed=(*_COMMON, *fields))
    common = {"id": step_id, "description": reader.text("description")}
    return build(reader, known, common)


def _next(reader: Reader, known: Known, *, required: bool = True) -> str | None:
    if reader.step in known.branch_steps:
        if reader.has("next"):
            reader.problem(
                "next",
                "must be absent: inside a parallel branch the steps run "
                "in the order the branch lists them",
            )
        return None
    return reader.text("next", required=required)


def _activity_name(reader: Reader, key: str, known: Known) -> str:
    name = reader.text(key, required=True)
    if name and known.activities is not None and name not in known.activities:
        reader.problem(key, f"unknown activity {name!r}")
    return name or ""


def _check_input(reader: Reader, known: Known, activity: str, template: Template | None) -> None:
    """Run the activity's publish-time input validator on the literal parts of its input."""
    validator = known.input_validators.get(activity)
    if validator is None or template is None:
        return  # no validator, or the input itself is already reported as bad
    for problem in validator(literal_view(template.source)):
        reader.problem(f"input.{problem.field}", problem.message)


def _activity(reader: Reader, known: Known, common: dict[str, Any]) -> Step:
    activity = _activity_name(reader, "activity", known)
    template = reader.template("input", default={})
    _check_input(reader, known, activity, template)
    return ActivityStep(
        **common,
        activity=activity,
        input=template or _EMPTY_MAP,
        timeout=reader.duration("timeout"),
        retry=_retry(reader),
        compensate=_compensation(reader, known),
        on_error=_on_error(reader, known),
        next=_next(reader, known),
    )


def _retry(reader: Reader) -> RetryPolicy:
    allowed = (
        "max_attempts",
        "initial_interval",
        "max_interval",
        "backoff",
        "jitter",
        "non_retryable",
    )
    retry = reader.child("retry", allowed)
    if retry is None:
        return RetryPolicy()
    initial = retry.duration("initial_interval")
    maximum = retry.duration("max_interval")
    policy = RetryPolicy(
        max_attempts=retry.integer("max_attempts", 3, minimum=1),
        initial_interval=1.0 if initial is None else initial,
        max_interval=60.0 if maximum is None else maximum,
        backoff=retry.number("backoff", 2.0, minimum=1.0),
        jitter=retry.number("jitter", 0.1, minimum=0.0, maximum=1.0),
        non_retryable=retry.strings("non_retryable"),
    )
    if policy.max_interval < policy.initial_interval:
        retry.problem("max_interval", "must not be shorter than initial_interval")
    return policy


def _compensation(reader: Reader, known: Known) -> Compensation | None:
    if isinstance(reader.get("compensate"), str):  # shorthand: just the activity name
        return Compensation(_activity_name(reader, "compensate", known), _EMPTY_MAP)
    child = reader.child("compensate", ("activity", "input"))
    if child is None:
        return None
    activity = _activity_name(child, "activity", known)
    template = child.template("input", default={})
    _check_input(child, known, activity, template)
    return Compensation(activity, template or _EMPTY_MAP)


def _on_error(reader: Reader, known: Known) -> OnError:
    raw = reader.get("on_error")
    if raw is None or raw == "fail":
        return OnError()
    if raw == "continue":
        return OnError("continue")
    if isinstance(raw, Mapping) and set(raw) == {"goto"} and isinstance(raw["goto"], str):
        if reader.step in known.branch_steps:
            reader.problem("on_error", "goto is not allowed inside a parallel branch")
        return OnError("goto", raw["goto"])
    reader.problem("on_error", "must be fail, continue or {goto: <step id>}")
    return OnError()


def _timer(reader: Reader, known: Known, common: dict[str, Any]) -> Step:
    if reader.has("duration") == reader.has("until"):
        reader.problem("duration", "give exactly one of duration or until")
    return TimerStep(
        **common,
        duration=reader.duration("duration"),
        until=reader.expression("until"),
        next=_next(reader, known),
    )


def _wait(reader: Reader, known: Known, common: dict[str, Any]) -> Step:
    if reader.has("signal") == reader.has("event"):
        reader.problem("signal", "give exactly one of signal or event")
    signal = reader.text("signal")
    if signal and not SIGNAL_RE.match(signal):
        reader.problem("signal", "may only use letters, digits, '_', '.', ':' and '-' (max 128)")
    event = reader.template("event")
    topic = reader.get("event")
    if event is not None and event.is_static and (problem := topic_problem(topic)):
        reader.problem("event", problem)
    match = reader.template("match")
    if match is not None and not isinstance(reader.get("match"), Mapping):
        reader.problem("match", "must be a mapping of payload field -> value")
    elif match is not None and event is None:
        reader.problem("match", "only a wait for an event takes a match")
    timeout = reader.duration("timeout")
    on_timeout = reader.text("on_timeout")
    if on_timeout and timeout is None:
        reader.problem("on_timeout", "needs a timeout")
    if on_timeout and reader.step in known.branch_steps:
        reader.problem("on_timeout", "is not allowed inside a parallel branch")
    return WaitStep(
        **common,
        signal=signal,
        event=event,
        match=match,
        timeout=timeout,
        on_timeout=on_timeout,
        next=_next(reader, known),
    )


def _user_task(reader: Reader, known: Known, common: dict[str, Any]) -> Step:
    return UserTaskStep(
        **common,
        title=reader.text("title", required=True) or "",
        form=parse_form(reader),
        assignee=reader.template("assignee"),
        candidate_groups=reader.strings("candidate_groups"),
        due=reader.duration("due"),
        next=_next(reader, known),
    )


def _parallel(reader: Reader, known: Known, common: dict[str, Any]) -> Step:
    branches = parse_branches(reader.get("branches"))
    if branches is None:
        reader.problem("branches", "must be a non-empty list of non-empty lists of step ids")
        branches = ()
    return ParallelStep(
        **common,
        branches=branches,
        completion=_completion(reader, len(branches)),
        next=_next(reader, known),
    )


def parse_branches(raw: Any) -> tuple[tuple[str, ...], ...] | None:
    if not isinstance(raw, list) or not raw:
        return None
    if not all(isinstance(b, list) and b and all(isinstance(s, str) for s in b) for b in raw):
        return None
    return tuple(tuple(branch) for branch in raw)


def _completion(reader: Reader, branches: int) -> Completion:
    raw = reader.get("completion")
    if raw is None or raw == "all":
        return Completion()
    if raw == "any":
        return Completion("any")
    count = raw.get("at_least") if isinstance(raw, Mapping) and set(raw) == {"at_least"} else None
    if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= max(branches, 1):
        return Completion("at_least", count)
    reader.problem("completion", f"must be all, any or {{at_least: N}} with 1 <= N <= {branches}")
    return Completion()


def _subworkflow(reader: Reader, known: Known, common: dict[str, Any]) -> Step:
    ref = reader.text("workflow", required=True) or ""
    name, range_text = split_workflow_ref(ref)
    if ref and not NAME_RE.match(name):
        reader.problem("workflow", f"invalid workflow name {name!r} (use name@range)")
    elif ref:
        _check_workflow(reader, known, name, range_text)
    template = reader.template("input", default={}) or _EMPTY_MAP
    return SubworkflowStep(**common, workflow=ref, input=template, next=_next(reader, known))


def _check_workflow(reader: Reader, known: Known, name: str, range_text: str) -> None:
    try:
        parse_version_range(range_text)
    except ValueError as error:
        reader.problem("workflow", str(error))
        return
    if known.workflows is None:
        return
    if name not in known.workflows:
        reader.problem("workflow", f"unknown workflow {name!r}")
    elif isinstance(known.workflows, Mapping):
        versions = known.workflows[name]
        if match_version_range(range_text, versions) is None:
            have = ", ".join(sorted(versions)) or "none"
            reader.problem(
                "workflow", f"no version of {name!r} matches {range_text!r} (published: {have})"
            )


def _end(reader: Reader, known: Known, common: dict[str, Any]) -> Step:
    if reader.has("next"):
        reader.problem("next", "an end step finishes the run and has no next")
    return EndStep(
        id=common["id"], description=common["description"], output=reader.template("output")
    )


_Builder = Callable[[Reader, Known, dict[str, Any]], Step]
_PARSERS: dict[str, tuple[tuple[str, ...], _Builder]] = {
    "activity": (("activity", "input", "timeout", "retry", "compensate", "on_error"), _activity),
    "decision": (
        ("expression", "cases", "default", "table"),
        lambda r, k, c: parse_decision(r, c, _next(r, k, required=False)),
    ),
    "timer": (("duration", "until"), _timer),
    "wait": (("signal", "event", "match", "timeout", "on_timeout"), _wait),
    "user_task": (("title", "form", "assignee", "candidate_groups", "due"), _user_task),
    "parallel": (("branches", "completion"), _parallel),
    "subworkflow": (("workflow", "input"), _subworkflow),
    "end": (("output",), _end),
}
