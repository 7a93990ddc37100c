"""Workflows a pack makes from its parameters (`generated_workflows` in the manifest).

A generator is `function(parameters) -> definition`: plain data in the definition language,
made from the checked install parameters (write-only and hashed ones left out). It runs in
a worker thread, within `GENERATOR_SECONDS`; its result must be JSON data within the
bounds of a published definition's text (1 MiB, 64 levels, 100,000 values), and is then
published like the pack's YAML workflows (no `$param` substitution: the generator had
the parameters, and substituting into data made from them would let a value add a
template). Whatever goes wrong is a 422 naming the parameters, never a 500:

* the generator raises `WorkflowRefused([(path, message), ...])`: one problem per path,
  `parameters.<path>`;
* it raises anything else, returns something that is not a mapping or not JSON data, or
  takes too long: one problem on `parameters`, naming the generator;
* the definition checks find problems: each one under a step that carries
  `x-parameter: <path>` is named `parameters.<path>` (with the step's field in the
  message), the others `parameters`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Mapping
from typing import Any

from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.packs import GENERATED_FROM, WorkflowGenerator, WorkflowRefused
from hub.engine.loading import MAX_TEXT_BYTES, load_definition_text
from hub.engine.model import DefinitionSyntaxError

log = logging.getLogger("hub.packs")
GENERATOR_SECONDS = 10.0
_MESSAGE_CHARS = 300


async def generate(
    generator: WorkflowGenerator,
    params: Mapping[str, Any],
    timeout: float = GENERATOR_SECONDS,
) -> dict[str, Any]:
    """The generator's definition for `params`, checked to be bounded plain data; or
    ValidationFailed naming the parameters. Runs off the event loop. A generator still
    running at the timeout is abandoned (a thread cannot be stopped) and its result
    dropped: the manifest's generators are the hub's own code, bounded by the schema."""
    given = copy.deepcopy(dict(params))
    try:
        return await asyncio.wait_for(asyncio.to_thread(_run, generator, given), timeout)
    except TimeoutError:
        message = f"the workflow generator {generator.name} took longer than {timeout:g} s"
        raise ValidationFailed([FieldProblem("parameters", message)]) from None


def _run(generator: WorkflowGenerator, params: dict[str, Any]) -> dict[str, Any]:
    try:
        result = generator.build(params)
    except WorkflowRefused as exc:
        problems = [FieldProblem(parameter_field(p), m) for p, m in exc.problems]
        raise ValidationFailed(problems or [FieldProblem("parameters", str(exc))]) from None
    except Exception as exc:  # the pack's bug or a case it did not foresee: not a 500
        log.exception("workflow generator %s failed", generator.name)
        raise _refused(generator, f"failed on these parameters: {_brief(exc)}") from None
    if not isinstance(result, Mapping):
        kind = type(result).__name__
        raise _refused(generator, f"returned {kind}, not a workflow definition")
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        what = f"returned something that is not JSON data: {_brief(exc)}"
        raise _refused(generator, what) from None
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise _refused(generator, f"returned a definition larger than {MAX_TEXT_BYTES} bytes")
    try:  # the same bounds as a definition's text, and a copy the generator holds no part of
        return load_definition_text(text, "application/json")
    except (DefinitionSyntaxError, ValueError) as exc:
        raise _refused(generator, f"returned an unusable definition: {exc}") from None


def parameter_field(path: str) -> str:
    """`stages[1].device` -> `parameters.stages[1].device`."""
    if not path:
        return "parameters"
    return f"parameters{path}" if path.startswith("[") else f"parameters.{path}"


def blame(body: Mapping[str, Any], exc: ValidationFailed) -> ValidationFailed:
    """The definition checks' problems with a generated definition, each named on the
    parameter its step came from (`x-parameter`), or on `parameters`."""
    steps = body.get("steps")
    steps = steps if isinstance(steps, Mapping) else {}
    problems = []
    for problem in exc.problems:
        step_id = problem.field.split(".")[1] if problem.field.startswith("steps.") else None
        step = steps.get(step_id) if step_id else None
        origin = step.get(GENERATED_FROM) if isinstance(step, Mapping) else None
        where = parameter_field(origin) if isinstance(origin, str) else "parameters"
        detail = f"workflow {body.get('name')!r}: {problem.field}: {problem.message}"
        problems.append(FieldProblem(where, detail))
    return ValidationFailed(problems)


def _refused(generator: WorkflowGenerator, what: str) -> ValidationFailed:
    return ValidationFailed(
        [FieldProblem("parameters", f"the workflow generator {generator.name} {what}")]
    )


def _brief(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."
