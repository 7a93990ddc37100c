"""Workflow definitions: parse and validate raw data into a :class:`WorkflowDefinition`.

``parse_definition`` lists every problem it finds (``DefinitionInvalid.problems``), each
naming the step and field. Decisions where the DSL page is silent:

* Names are 1-64 of ``a-z 0-9 - _``; step ids are CEL identifiers (``[A-Za-z_][A-Za-z0-9_]*``,
  max 64) because expressions read ``steps.<id>.output``; at most ``MAX_STEPS`` steps.
* Unknown fields are errors (a typo such as ``nxt`` must not pass silently), except keys
  starting with ``x-``, which are left for tools (e.g. a visual editor's layout).
* Every step except ``end`` and ``decision`` needs ``next``; an ``end`` has none. A decision
  goes where its cases/default/rules say (``next`` only for ``collect`` tables, see
  ``hub.engine.tables`` for the table semantics).
* Expression fields (``expression``, ``until``, table inputs and cells) take bare CEL; a
  lone ``${...}`` around it is tolerated. Expressions may only use ``input``, ``steps``,
  ``vars``, ``run`` (tables also ``value``) and ``steps.<id>`` must name a real step.
* Parallel branches are straight lines: a branch lists the steps it runs in order; those
  steps must not have ``next``, ``on_error: {goto}`` or ``on_timeout``, may only be
  activity, timer, wait, user_task or subworkflow steps (nest via a subworkflow), belong
  to one branch only and are entered only through their parallel step.
* A wait ``timeout`` without ``on_timeout`` fails the step; ``on_timeout`` needs a timeout.
  A wait ``event`` is a topic filter and may use ``${}`` to correlate with the run.
* Defaults: activity ``input`` ``{}``, no ``timeout`` (the engine's own limit applies),
  ``retry`` as :class:`RetryPolicy`, ``on_error: fail``, ``completion: all``. A user task
  ``title`` is plain text; its ``assignee`` is a template.
* Only timer, wait and user_task steps break a loop: activities and subworkflows may
  finish at once, so a loop through them alone is a busy loop.
* Trigger ``input`` templates see one variable, ``trigger``: for events
  ``{topic, payload, params}`` (``params`` from ``{name}`` topic levels), for schedules
  ``{fired_at}``. Without ``input`` the engine passes the event payload (or ``{}``).
* Graph-wide checks (reachability, ends, busy loops) run only when every step parsed:
  a step of unknown type has unknown exits, and guessing would list false problems.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

from croniter import croniter

from hub.engine.activities import InputValidator
from hub.engine.concurrency import KEY_VARIABLES, MAX_LIMIT
from hub.engine.fields import Collector, Reader, describe_type
from hub.engine.graph import check_graph
from hub.engine.loading import UnsupportedContentType, load_definition_text
from hub.engine.model import (
    ActivityStep,
    Compensation,
    Completion,
    Concurrency,
    CronTrigger,
    DecisionRule,
    DecisionStep,
    DecisionTable,
    DefinitionInvalid,
    DefinitionProblem,
    DefinitionSyntaxError,
    EndStep,
    EventTrigger,
    FormField,
    OnError,
    ParallelStep,
    RetryPolicy,
    RuleTest,
    Step,
    SubworkflowStep,
    TimerStep,
    Trigger,
    UserTaskStep,
    WaitStep,
    WorkflowDefinition,
)
from hub.engine.schemas import schema_errors, schema_problem
from hub.engine.step_parsers import NAME_RE, Known, parse_branches, parse_step
from hub.engine.topics import topic_problem
from hub.engine.versions import match_version_range, parse_version, version_greater

__all__ = [
    "MAX_STEPS",
    "ActivityStep",
    "Compensation",
    "Completion",
    "Concurrency",
    "CronTrigger",
    "DecisionRule",
    "DecisionStep",
    "DecisionTable",
    "DefinitionInvalid",
    "DefinitionProblem",
    "DefinitionSyntaxError",
    "EndStep",
    "EventTrigger",
    "FormField",
    "OnError",
    "ParallelStep",
    "RetryPolicy",
    "RuleTest",
    "Step",
    "SubworkflowStep",
    "TimerStep",
    "Trigger",
    "UnsupportedContentType",
    "UserTaskStep",
    "WaitStep",
    "WorkflowDefinition",
    "load_definition_text",
    "match_version_range",
    "parse_definition",
    "parse_version",
    "validate_input",
    "version_greater",
]

MAX_STEPS = 500
STEP_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
TRIGGER_VARIABLES = frozenset({"trigger"})
_TOP_FIELDS = (
    "name", "version", "description", "input_schema", "output_schema", "triggers", "start",
    "steps", "vars", "concurrency",
)  # fmt: skip


def parse_definition(
    data: Mapping[str, Any],
    *,
    known_activities: Collection[str] | None = None,
    known_workflows: Mapping[str, Collection[str]] | Collection[str] | None = None,
    input_validators: Mapping[str, InputValidator] | None = None,
) -> WorkflowDefinition:
    """Validate ``data``; ``DefinitionInvalid`` lists every problem found.

    ``known_activities``: activity names in the registry (None skips the check).
    ``known_workflows``: workflow names, or name -> published versions to also check that
    a subworkflow's version range matches one (None skips the check).
    ``input_validators``: activity name -> a check of the literal parts of the input of
    each step calling it (``ActivityRegistry.input_validators()``; see
    :data:`hub.engine.activities.InputValidator`), reported as ``input.<field>``.
    """
    if not isinstance(data, Mapping):
        problem = DefinitionProblem(None, "", f"must be a mapping, got {describe_type(data)}")
        raise DefinitionInvalid([problem])
    collector = Collector()
    top = Reader(data, collector, step=None, allowed=_TOP_FIELDS)
    name, version = _name(top), _version(top)
    input_schema, output_schema = _schema(top, "input_schema"), _schema(top, "output_schema")
    triggers = _triggers(top)
    start = top.text("start", required=True)
    declared, steps = _steps(top, known_activities, known_workflows, input_validators or {})
    if start is not None and declared and start not in declared:
        top.problem("start", f"unknown step {start!r}")
    variables = _vars(top)
    concurrency = _concurrency(top, steps, declared)
    check_graph(steps, start, collector, declared)
    _check_step_reads(collector, declared)
    if collector.problems:
        raise DefinitionInvalid(collector.problems)
    assert name and version and start
    return WorkflowDefinition(
        name=name,
        version=version,
        description=top.text("description"),
        input_schema=input_schema,
        triggers=triggers,
        start=start,
        steps=MappingProxyType(steps),
        output_schema=output_schema,
        vars=MappingProxyType(variables),
        concurrency=concurrency,
    )


def _vars(top: Reader) -> dict[str, Any]:
    raw = top.get("vars")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
        top.problem("vars", f"must be a mapping of names to values, got {describe_type(raw)}")
        return {}
    return dict(raw)


def _concurrency(
    top: Reader, steps: Mapping[str, Step], declared: Collection[str]
) -> Concurrency | None:
    """``concurrency: {key, limit?, from?}``: a key template over ``input`` and ``vars``
    (rendered when a run is created, before any step ran), how many runs of a key may be
    active at once (1 to ``MAX_LIMIT``, default 1), and the step from which a run holds
    its key (default: from its start; see ``_from_step``)."""
    reader = top.child("concurrency", allowed=("key", "limit", "from"))
    if reader is None:
        return None
    raw_key = reader.get("key")
    key = None
    if raw_key is None:
        reader.problem("key", 'is required: a template such as "${vars.line_id}"')
    elif not isinstance(raw_key, str) or not raw_key.strip():
        reader.problem(
            "key",
            'must be a non-empty string template such as "${vars.line_id}", '
            f"got {describe_type(raw_key)}",
        )
    else:
        key = reader.template("key", variables=KEY_VARIABLES)
    limit = reader.get("limit")
    if limit is None:
        limit = 1
    elif isinstance(limit, bool) or not isinstance(limit, int):
        reader.problem(
            "limit", f"must be a whole number from 1 to {MAX_LIMIT}, got {describe_type(limit)}"
        )
        limit = 1
    elif not 1 <= limit <= MAX_LIMIT:
        reader.problem("limit", f"must be from 1 to {MAX_LIMIT}, got {limit}")
        limit = 1
    from_step = _from_step(reader, steps, declared)
    return Concurrency(key, limit, from_step) if key is not None else None


def _from_step(reader: Reader, steps: Mapping[str, Step], declared: Collection[str]) -> str | None:
    """``from``: a step of the definition, reached by the run itself (not an ``end``,
    which would take the key only to end, nor a step inside a parallel branch, whose
    run could not wait at one branch while the others go on)."""
    raw = reader.get("from")
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        reader.problem("from", f"must be the id of a step, got {describe_type(raw)}")
        return None
    if raw not in declared:
        reader.problem("from", f"unknown step {raw[:80]!r}")
        return None
    spec = steps.get(raw)
    if spec is None:  # the step itself is invalid (reported there)
        return None
    if spec.type == "end":
        reader.problem("from", f"step {raw!r} is an end: a run would hold its key only to end")
        return None
    for parallel_id, parallel in steps.items():
        branches = getattr(parallel, "branches", None)
        if parallel.type == "parallel" and branches and any(raw in b for b in branches):
            reader.problem(
                "from",
                f"step {raw!r} is in a branch of parallel step {parallel_id!r}: a run "
                "cannot wait for its key in one branch while the others go on; name "
                "the parallel step (or a step before it)",
            )
            return None
    return raw


def validate_input(definition: WorkflowDefinition, value: Any) -> list[str]:
    """Problems with a run input under the definition's ``input_schema`` (none if absent)."""
    return schema_errors(definition.input_schema, value)


def _name(top: Reader) -> str | None:
    name = top.text("name", required=True)
    if name is not None and not NAME_RE.match(name):
        top.problem("name", "must be 1-64 lowercase letters, digits, '-' or '_'")
        return None
    return name


def _version(top: Reader) -> str | None:
    raw = top.get("version")
    if raw is None:
        top.problem("version", "is required")
        return None
    if not isinstance(raw, str):
        top.problem("version", f"must be a string such as '1.2.0' (quote it in YAML), got {raw!r}")
        return None
    try:
        parse_version(raw)
    except ValueError as error:
        top.problem("version", str(error))
        return None
    return raw


def _schema(top: Reader, key: str) -> dict[str, Any] | None:
    schema = top.get(key)
    if schema is None:
        return None
    problem = schema_problem(schema)
    if problem:
        top.problem(key, problem)
        return None
    return dict(schema)


def _triggers(top: Reader) -> tuple[Trigger, ...]:
    raw = top.get("triggers")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        top.problem("triggers", f"must be a list, got {describe_type(raw)}")
        return ()
    triggers = []
    for index, item in enumerate(raw):
        trigger = _trigger(top, f"triggers[{index}]", item)
        if trigger is not None:
            triggers.append(trigger)
    return tuple(triggers)


def _trigger(top: Reader, where: str, item: Any) -> Trigger | None:
    if not isinstance(item, Mapping):
        top.problem(where, f"a trigger must be a mapping, got {describe_type(item)}")
        return None
    reader = Reader(
        item,
        top.collector,
        step=None,
        allowed=("event", "cron", "input", "when", "key"),
        prefix=f"{where}.",
    )
    if reader.has("event") == reader.has("cron"):
        reader.problem("event", "give exactly one of event (a topic) or cron (a schedule)")
        return None
    template = reader.template("input", variables=TRIGGER_VARIABLES)
    if reader.has("event"):
        topic = reader.get("event")
        if problem := topic_problem(topic):
            reader.problem("event", problem)
            return None
        when = reader.expression("when", variables=TRIGGER_VARIABLES)
        key = reader.template("key", variables=TRIGGER_VARIABLES)
        return EventTrigger(topic, template, when, key)
    for only_events in ("when", "key"):
        if reader.has(only_events):
            reader.problem(only_events, "only an event trigger takes a condition or a key")
    cron = reader.get("cron")
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        reader.problem("cron", f"invalid cron expression {cron!r}")
        return None
    return CronTrigger(cron, template)


COLLABORATION_TASK_FIELDS = frozenset(
    {"type", "description", "collaboration", "timeout", "on_timeout", "next"}
)


def expand_collaboration_tasks(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """A `collaboration_task` step hands work to partner organisations and goes on when
    the collaboration has ended. It stands for two steps: itself, an activity that creates
    (and, once every participant has joined, starts) the collaboration its `collaboration`
    describes (as POST .../collaborations takes it), and `<id>_ended`, a wait for the
    event `collaborations/{id}/ended` (its payload: status, reason and each task's
    result), with the step's `timeout`, `on_timeout` and `next`."""
    if not any(isinstance(b, Mapping) and b.get("type") == "collaboration_task"
               for b in raw.values()):  # fmt: skip
        return raw
    expanded: dict[str, Any] = {}
    for step_id, body in raw.items():
        if not (isinstance(body, Mapping) and body.get("type") == "collaboration_task"):
            expanded[step_id] = body
            continue
        unknown = sorted(set(body) - COLLABORATION_TASK_FIELDS)
        ended = f"{step_id}_ended"
        expanded[step_id] = {
            "type": "activity",
            "activity": "collaboration.start",
            "input": body.get("collaboration", {}),
            "timeout": "30s",
            "next": ended,
            **({"description": body["description"]} if "description" in body else {}),
            # an unknown field is reported as the activity step's own
            **{k: body[k] for k in unknown},
        }
        wait: dict[str, Any] = {
            "type": "wait",
            "event": f"collaborations/${{steps.{step_id}.output.collaboration_id}}/ended",
        }
        for key in ("timeout", "on_timeout", "next"):
            if key in body:
                wait[key] = body[key]
        expanded[ended] = wait
    return expanded


def _steps(
    top: Reader,
    known_activities: Collection[str] | None,
    known_workflows: Mapping[str, Collection[str]] | Collection[str] | None,
    input_validators: Mapping[str, InputValidator],
) -> tuple[set[str], dict[str, Step]]:
    raw = top.get("steps")
    if not isinstance(raw, Mapping) or not raw:
        top.problem("steps", "must be a non-empty mapping of step id -> step")
        return set(), {}
    raw = expand_collaboration_tasks(raw)
    if len(raw) > MAX_STEPS:
        top.problem("steps", f"at most {MAX_STEPS} steps, got {len(raw)}")
        return set(), {}
    known = Known(
        activities=None if known_activities is None else frozenset(known_activities),
        workflows=_known_workflows(known_workflows),
        branch_steps=_branch_members(raw),
        input_validators=input_validators,
    )
    declared = {str(step_id) for step_id in raw}
    steps: dict[str, Step] = {}
    for step_id, body in raw.items():
        if not isinstance(step_id, str) or not STEP_ID_RE.match(step_id):
            top.collector.add(
                str(step_id),
                "id",
                "a step id must start with a letter or '_' "
                "and use only letters, digits and '_' (max 64)",
            )
            continue
        step = parse_step(step_id, body, top.collector, known)
        if step is not None:
            steps[step_id] = step
    return declared, steps


def _known_workflows(
    known: Mapping[str, Collection[str]] | Collection[str] | None,
) -> Mapping[str, Collection[str]] | frozenset[str] | None:
    if known is None or isinstance(known, Mapping):
        return known
    return frozenset(known)


def _branch_members(raw_steps: Mapping[str, Any]) -> frozenset[str]:
    # Needed before the steps are parsed: a step's rules depend on being in a branch.
    members: set[str] = set()
    for body in raw_steps.values():
        if isinstance(body, Mapping) and body.get("type") == "parallel":
            for branch in parse_branches(body.get("branches")) or ():
                members.update(branch)
    return frozenset(members)


def _check_step_reads(collector: Collector, declared: set[str]) -> None:
    if not declared:
        return  # "steps" itself is missing or bad; that problem is already listed
    for step, field, refs in list(collector.step_reads):
        for ref in sorted(refs):
            if ref not in declared:
                collector.add(step, field, f"reads steps.{ref}, but there is no step {ref!r}")
