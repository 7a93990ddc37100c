"""The manufacturing workflow, generated from the pack's parameters (`generated_workflows`).

`build(parameters)` returns the definition (plain data in the definition language):

    material_preparation
      -> production_stage_1 [-> production_stage_1_running] [-> quality_check_1 -> gate]
      -> ...
      -> production_stage_N ...
      -> final_quality_check -> gate -> packaging -> done

A stage is an activity that writes the stage's setpoints to its device (`robotic`: a
robot's program and parameters, optionally waiting for its done signal; `machine`: then
a durable timer while the machine runs for `duration_s`) or a user task (`manual`). A
stage with quality checks is followed by `quality_check_{n}`; a failed check holds the
batch for an operator (`quality_hold_{n}`: release, rework = back to production_stage_{n},
or scrap), recorded by `quality_decision_{n}`, routed by `quality_route_{n}`. The final
check's rework goes back to the last stage.

Parameters reach the steps as `vars` (`${vars.stages[0]}`), never as text in a template;
only indices, stage numbers and the fixed names below are written into the definition,
plus stage names in user task titles (plain text) and the operator groups (literal lists).
Each step carries `x-parameter`, the parameter it was made from, so a problem the
definition checks find in it is named on that parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.domain.packs import GENERATED_FROM, IDENTIFIER_RE, WorkflowRefused
from hub.engine.definition import MAX_STEPS
from hub.engine.durations import parse_duration

WORKFLOW = "manufacturing"
MAX_STAGES = 50  # at most 7 steps a stage plus 12: well inside MAX_STEPS
PREFIX = "manufacturing."
DEFAULT_GROUPS = ["operators", "engineers"]
HOLD_FORM = [
    {
        "id": "decision",
        "type": "enum",
        "options": ["release", "rework", "scrap"],
        "required": True,
        "label": "Release the batch, rework the stage, or scrap the batch",
    },
    {"id": "note", "type": "string", "label": "Reason"},
]
MANUAL_FORM = [
    {"id": "produced", "type": "integer", "label": "Units produced"},
    {"id": "notes", "type": "string", "label": "Notes"},
]
INPUT_SCHEMA = {
    "type": "object",
    "required": ["batch_id"],
    "properties": {
        "batch_id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        "product": {"type": "string", "maxLength": 128},
        "quantity": {"type": "integer", "minimum": 1},
    },
}
_PLC_RETRY = {
    "max_attempts": 3,
    "initial_interval": "2s",
    "max_interval": "30s",
    "backoff": 2,
    "non_retryable": ["NotWritable", "NotFound", "StageInvalid"],
}


def build(params: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow for these (schema-checked) parameters; WorkflowRefused naming each
    parameter that cannot make one."""
    stages = list(params.get("stages") or [])
    checks = list(params.get("quality_checks") or [])
    refused = _problems(params, stages, checks)
    if refused:
        raise WorkflowRefused(refused)
    groups = list(params.get("operator_groups") or DEFAULT_GROUPS)
    due = str(params.get("task_due") or "PT8H")
    by_stage: dict[int, list[int]] = {}
    for index, check in enumerate(checks):
        by_stage.setdefault(int(check["stage"]), []).append(index)

    steps: dict[str, Any] = {
        "material_preparation": _activity(
            "prepare_materials",
            {"batch": "${input}", "line": "${vars.line_id}", "materials": "${vars.materials}"},
            "materials",
            next_step=_stage_id(1),
            timeout="30s",
            retry={
                "max_attempts": 5,
                "initial_interval": "2s",
                "max_interval": "30s",
                "backoff": 2,
                "non_retryable": ["NotFound"],
            },
        )
    }
    last = len(stages)
    for number, stage in enumerate(stages, start=1):
        after = _stage_id(number + 1) if number < last else "final_quality_check"
        found = by_stage.get(number, [])
        gated = _gate_steps(number, stage, checks, found, after, groups, due)
        first_after = next(iter(gated)) if gated else after
        steps.update(_stage_steps(number, stage, first_after, groups, due))
        steps.update(gated)
    final = list(params.get("final_checks") or [])
    steps.update(_final_steps(last, sum(_reading_s(c) for c in final), groups, due))
    steps["packaging"] = _activity(
        "package_batch",
        {
            "batch": "${input}",
            "line": "${vars.line_id}",
            "setpoints": "${vars.packaging_setpoints}",
        },
        "packaging_setpoints",
        next_step="done",
        timeout="30s",
        retry={"max_attempts": 5, "initial_interval": "1s", "max_interval": "10s"},
    )
    steps["scrap_batch"] = _activity(
        "scrap_batch",
        {"batch": "${input}", "line": "${vars.line_id}"},
        "line_id",
        next_step="scrapped",
        timeout="30s",
        retry={"max_attempts": 5, "initial_interval": "1s", "max_interval": "10s"},
    )
    steps["done"] = {
        "type": "end",
        "output": {
            "batch_id": "${input.batch_id}",
            "status": "packaged",
            "report": "${steps.packaging.output}",
        },
    }
    steps["scrapped"] = {
        "type": "end",
        "output": {
            "batch_id": "${input.batch_id}",
            "status": "scrapped",
            "report": "${steps.scrap_batch.output}",
        },
    }
    if len(steps) > MAX_STEPS:  # unreachable within MAX_STAGES; kept as the bound's guard
        raise WorkflowRefused([("stages", f"too many steps ({len(steps)} > {MAX_STEPS})")])
    line = str(params["line_id"])
    return {
        "name": WORKFLOW,
        "description": f"Batches on line {line}: {last} stage(s), quality checks, packaging",
        "input_schema": INPUT_SCHEMA,
        "triggers": [
            {
                # line_id is an identifier (checked above): one topic level, no wildcard
                "event": f"manufacturing/{line}/batches/start",
                "key": "${trigger.payload.batch_id}",  # a batch started twice runs once
            }
        ],
        "start": "material_preparation",
        "steps": steps,
    }


def _problems(
    params: Mapping[str, Any], stages: list[Any], checks: list[Any]
) -> list[tuple[str, str]]:
    """What the schema cannot say: limits across items, kinds, durations."""
    problems: list[tuple[str, str]] = []
    line = params.get("line_id")
    if not isinstance(line, str) or not IDENTIFIER_RE.match(line):
        problems.append(("line_id", "must be 1-64 letters, digits, '_', '.' or '-'"))
    if not stages:
        problems.append(("stages", "at least one stage is needed"))
    if len(stages) > MAX_STAGES:
        problems.append(("stages", f"at most {MAX_STAGES} stages, got {len(stages)}"))
    seen: dict[str, int] = {}
    for index, stage in enumerate(stages):
        where = f"stages[{index}]"
        name = str(stage.get("name"))
        if name in seen:
            problems.append((f"{where}.name", f"stage {seen[name]} has that name too"))
        seen.setdefault(name, index + 1)
        kind = stage.get("kind")
        if kind == "manual":
            for key in ("device", "setpoints", "done_tag"):
                if key in stage:
                    problems.append((f"{where}.{key}", "a manual stage writes to no device"))
        else:
            if not stage.get("device"):
                problems.append((f"{where}.device", f"a {kind} stage needs its device"))
            if not stage.get("setpoints"):
                problems.append((f"{where}.setpoints", f"a {kind} stage needs setpoints"))
            if kind != "robotic" and "done_tag" in stage:
                problems.append((f"{where}.done_tag", "only a robotic stage has a done signal"))
    for index, check in enumerate(checks):
        stage_no = check.get("stage")
        if isinstance(stage_no, int) and not 1 <= stage_no <= len(stages):
            message = f"no stage {stage_no}: the stages are numbered 1 to {len(stages)}"
            problems.append((f"quality_checks[{index}].stage", message))
    for name in ("quality_checks", "final_checks"):
        for index, check in enumerate(params.get(name) or []):
            low, high = check.get("min"), check.get("max")
            if low is not None and high is not None and low > high:
                problems.append((f"{name}[{index}].max", f"below min ({low})"))
    try:
        if parse_duration(str(params.get("task_due") or "PT8H")) <= 0:
            problems.append(("task_due", "must be longer than 0"))
    except ValueError as exc:
        problems.append(("task_due", str(exc)))
    return problems


def _stage_id(number: int) -> str:
    return f"production_stage_{number}"


def _stage_steps(
    number: int, stage: Mapping[str, Any], after: str, groups: list[str], due: str
) -> dict[str, Any]:
    index, step_id = number - 1, _stage_id(number)
    origin = f"stages[{index}]"
    name = str(stage.get("name"))
    if stage.get("kind") == "manual":
        task = {
            "type": "user_task",
            "title": f"Stage {number} ({name}): do the work, then complete this task",
            "form": MANUAL_FORM,
            "candidate_groups": groups,
            "due": due,
            "next": after,
            GENERATED_FROM: origin,
        }
        return {step_id: task}
    duration = float(stage.get("duration_s") or 0)
    robotic = stage.get("kind") == "robotic"
    waits = robotic and "done_tag" in stage
    running = f"{step_id}_running"
    timeout = float(stage.get("timeout_s") or 60) + 30 if waits else 60
    steps = {
        step_id: _activity(
            "robotic_stage" if robotic else "machine_stage",
            {
                "stage": number,
                "config": f"${{vars.stages[{index}]}}",
                "batch": "${input.batch_id}",
                "line": "${vars.line_id}",
            },
            origin,
            next_step=running if duration > 0 and not waits else after,
            timeout=f"{timeout:g}s",
            retry=_PLC_RETRY,
        )
    }
    if duration > 0 and not waits:  # the machine runs: a durable timer, not a sleep
        steps[running] = {
            "type": "timer",
            "duration": duration,
            "next": after,
            GENERATED_FROM: f"{origin}.duration_s",
        }
    return steps


def _gate_steps(
    number: int,
    stage: Mapping[str, Any],
    all_checks: list[Any],
    check_indices: list[int],
    after: str,
    groups: list[str],
    due: str,
) -> dict[str, Any]:
    """quality_check_{n} and the hold after it; nothing for a stage without checks."""
    if not check_indices:
        return {}
    origin = f"quality_checks[{check_indices[0]}]"
    checks = [f"${{vars.quality_checks[{i}]}}" for i in check_indices]
    reading = sum(_reading_s(all_checks[i]) for i in check_indices)
    title = f"Batch held: the quality check after stage {number} ({stage.get('name')}) failed"
    return _checked(
        f"quality_check_{number}",
        f"quality_gate_{number}",
        f"quality_hold_{number}",
        f"quality_decision_{number}",
        f"quality_route_{number}",
        number,
        checks,
        origin,
        reading_s=reading,
        after=after,
        rework=_stage_id(number),
        title=title,
        groups=groups,
        due=due,
    )


def _reading_s(check: Mapping[str, Any]) -> float:
    """How long a check's samples take to read (the first at once)."""
    samples = int(check.get("samples") or 3)
    return (samples - 1) * float(check.get("interval_ms") or 100) / 1000


def _final_steps(last: int, reading_s: float, groups: list[str], due: str) -> dict[str, Any]:
    return _checked(
        "final_quality_check",
        "final_quality_gate",
        "final_quality_hold",
        "final_quality_decision",
        "final_quality_route",
        "final",
        "${vars.final_checks}",
        "final_checks",
        reading_s=reading_s,
        after="packaging",
        rework=_stage_id(last),
        title="Batch held: the final quality check failed",
        groups=groups,
        due=due,
    )


def _checked(
    check: str,
    gate: str,
    hold: str,
    decision: str,
    route: str,
    stage: int | str,
    checks: Any,
    origin: str,
    *,
    reading_s: float,
    after: str,
    rework: str,
    title: str,
    groups: list[str],
    due: str,
) -> dict[str, Any]:
    return {
        check: _activity(
            "quality_check",
            {
                "stage": stage,
                "checks": checks,
                "batch": "${input.batch_id}",
                "line": "${vars.line_id}",
                "alerts": "${vars.alert_thresholds}",
            },
            origin,
            next_step=gate,
            timeout=f"{reading_s + 30:g}s",
            retry={
                "max_attempts": 3,
                "initial_interval": "1s",
                "max_interval": "10s",
                "non_retryable": ["NotFound"],
            },
        ),
        gate: {
            "type": "decision",
            "expression": f"steps.{check}.output.passed",
            "cases": {"true": after},
            "default": hold,
            GENERATED_FROM: origin,
        },
        hold: {
            "type": "user_task",
            "title": title,
            "form": HOLD_FORM,
            "candidate_groups": groups,
            "due": due,
            "next": decision,
            GENERATED_FROM: origin,
        },
        decision: _activity(
            "quality_decision",
            {
                "stage": stage,
                "hold_step": hold,
                "choice": f"${{steps.{hold}.output}}",
                "check": f"${{steps.{check}.output}}",
                "batch": "${input.batch_id}",
                "line": "${vars.line_id}",
                "max_reworks": "${vars.max_reworks}",
            },
            origin,
            next_step=route,
            timeout="30s",
            retry={"max_attempts": 5, "initial_interval": "1s", "max_interval": "10s"},
        ),
        route: {
            "type": "decision",
            "expression": f"steps.{decision}.output.route",
            "cases": {"release": after, "rework": rework, "scrap": "scrap_batch"},
            "default": hold,  # a rework past max_reworks: the operator decides again
            GENERATED_FROM: origin,
        },
    }


def _activity(
    name: str,
    input_: dict[str, Any],
    origin: str,
    *,
    next_step: str,
    timeout: str,
    retry: dict[str, Any],
) -> dict[str, Any]:
    return {
        "type": "activity",
        "activity": PREFIX + name,
        "input": input_,
        "timeout": timeout,
        "retry": retry,
        "next": next_step,
        GENERATED_FROM: origin,
    }
