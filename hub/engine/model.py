"""The workflow definition model: immutable values produced by ``parse_definition``.

Templates and expressions are already compiled; durations are seconds; every step id a
step refers to exists (the parser refuses the definition otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from hub.engine.expressions import Expression, ExpressionError, PreparedContext, Template

STEP_TYPES = (
    "activity",
    "decision",
    "timer",
    "wait",
    "user_task",
    "parallel",
    "subworkflow",
    "end",
)
# Steps that park a run until time passes or someone acts: the only ones a loop may rely on.
WAITING_STEP_TYPES = frozenset({"timer", "wait", "user_task"})
# A branch is a straight line of steps; anything that picks a route or ends the run is out.
BRANCH_STEP_TYPES = frozenset({"activity", "timer", "wait", "user_task", "subworkflow"})
# A "secret" is a string kept only as its SHA-256 (an override key): never stored in clear.
FORM_FIELD_TYPES = (
    "string", "number", "integer", "boolean", "date", "datetime", "enum", "secret",
)  # fmt: skip
HIT_POLICIES = ("first", "unique", "collect")


@dataclass(frozen=True)
class DefinitionProblem:
    step: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"step {self.step!r}, {self.field}" if self.step else self.field
        return f"{where}: {self.message}"


class DefinitionInvalid(ValueError):
    """The definition breaks one or more rules; ``problems`` lists every one."""

    def __init__(self, problems: list[DefinitionProblem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


class DefinitionSyntaxError(ValueError):
    """The definition text is not parseable YAML or JSON (or not a mapping)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_interval: float = 1.0
    max_interval: float = 60.0
    backoff: float = 2.0
    jitter: float = 0.1  # fraction of the delay, spread both ways
    non_retryable: tuple[str, ...] = ()

    def retries(self, attempt: int, error_type: str) -> bool:
        """Whether a failure of ``attempt`` (1-based) with ``error_type`` is retried."""
        return attempt < self.max_attempts and error_type not in self.non_retryable

    def delay(self, attempt: int, random: float = 0.5) -> float:
        """Seconds before the attempt after ``attempt``; ``random`` in [0, 1) drives jitter.

        The caller supplies the random number so the engine can record it and replay.
        """
        base = min(self.initial_interval * self.backoff ** max(attempt - 1, 0), self.max_interval)
        return max(0.0, base * (1 + self.jitter * (2 * random - 1)))


@dataclass(frozen=True)
class Compensation:
    activity: str
    input: Template


@dataclass(frozen=True)
class OnError:
    action: Literal["fail", "continue", "goto"] = "fail"
    step: str | None = None


@dataclass(frozen=True, kw_only=True)
class Step:
    type: ClassVar[str]
    id: str
    next: str | None = None
    description: str | None = None


@dataclass(frozen=True, kw_only=True)
class ActivityStep(Step):
    type: ClassVar[str] = "activity"
    activity: str
    input: Template
    timeout: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    compensate: Compensation | None = None
    on_error: OnError = field(default_factory=OnError)


@dataclass(frozen=True)
class RuleTest:
    """One cell of a rule's ``when`` list: ``any``, a boolean ``test`` on ``value``, or
    ``equals`` (the input's value equals ``expression``'s result or ``literal``)."""

    kind: Literal["any", "test", "equals"]
    expression: Expression | None = None
    literal: Any = None


@dataclass(frozen=True)
class DecisionRule:
    when: tuple[RuleTest, ...]
    then: str | Template  # a step id, or for ``collect`` any value (a template)


@dataclass(frozen=True)
class DecisionTable:
    inputs: tuple[Expression, ...]
    rules: tuple[DecisionRule, ...]
    hit_policy: Literal["first", "unique", "collect"] = "first"


@dataclass(frozen=True, kw_only=True)
class DecisionStep(Step):
    type: ClassVar[str] = "decision"
    expression: Expression | None = None
    cases: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None
    table: DecisionTable | None = None


@dataclass(frozen=True, kw_only=True)
class TimerStep(Step):
    type: ClassVar[str] = "timer"
    duration: float | None = None
    until: Expression | None = None

    def fire_at(self, context: Mapping[str, Any] | PreparedContext, now: datetime) -> datetime:
        """When the timer fires: ``now + duration`` or the ``until`` timestamp (UTC)."""
        if self.duration is not None:
            return now + timedelta(seconds=self.duration)
        assert self.until is not None
        value = self.until.evaluate(context)
        return _timestamp(value, self.until.text)

    def delay_seconds(self, context: Mapping[str, Any] | PreparedContext, now: datetime) -> float:
        """Seconds from ``now`` until the timer fires (negative if ``until`` is past)."""
        return (self.fire_at(context, now) - now).total_seconds()


def _timestamp(value: Any, expression: str) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ExpressionError(expression, f"expected a timestamp, got {value!r}", during="eval")


@dataclass(frozen=True, kw_only=True)
class WaitStep(Step):
    type: ClassVar[str] = "wait"
    signal: str | None = None
    event: Template | None = None  # a topic; may use ${} to correlate with this run
    match: Template | None = None  # payload fields an event must have (rendered at the wait)
    timeout: float | None = None
    on_timeout: str | None = None


@dataclass(frozen=True)
class FormField:
    id: str
    type: Literal["string", "number", "integer", "boolean", "date", "enum"]
    required: bool = False
    default: Any = None
    options: tuple[Any, ...] = ()
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as a user task's form is recorded and shown."""
        data: dict[str, Any] = {"id": self.id, "type": self.type, "required": self.required}
        if self.default is not None:
            data["default"] = self.default
        if self.options:
            data["options"] = list(self.options)
        if self.label is not None:
            data["label"] = self.label
        return data


@dataclass(frozen=True, kw_only=True)
class UserTaskStep(Step):
    type: ClassVar[str] = "user_task"
    title: str
    form: tuple[FormField, ...] = ()
    assignee: Template | None = None
    candidate_groups: tuple[str, ...] = ()
    due: float | None = None


@dataclass(frozen=True)
class Completion:
    mode: Literal["all", "any", "at_least"] = "all"
    count: int | None = None

    def needed(self, branches: int) -> int:
        """How many branches must finish before the parallel step continues."""
        if self.mode == "all":
            return branches
        if self.mode == "any":
            return min(1, branches)
        return self.count or 0


@dataclass(frozen=True, kw_only=True)
class ParallelStep(Step):
    type: ClassVar[str] = "parallel"
    branches: tuple[tuple[str, ...], ...]
    completion: Completion = field(default_factory=Completion)


@dataclass(frozen=True, kw_only=True)
class SubworkflowStep(Step):
    type: ClassVar[str] = "subworkflow"
    workflow: str  # "name@range" as written, e.g. "deidentify@^1"
    input: Template

    @property
    def workflow_name(self) -> str:
        return self.workflow.partition("@")[0].strip()

    @property
    def version_range(self) -> str:
        """The range after ``@``; ``*`` (any version) when there is none."""
        return self.workflow.partition("@")[2].strip() or "*"


@dataclass(frozen=True, kw_only=True)
class EndStep(Step):
    type: ClassVar[str] = "end"
    output: Template | None = None


@dataclass(frozen=True)
class EventTrigger:
    topic: str  # MQTT filter; "{name}" segments match one level and bind params.name
    input: Template | None = None
    when: Expression | None = None  # CEL over `trigger`; false: the event starts no run
    # A run key over `trigger` (an order id): an event whose key names a run this workflow
    # already started starts no other, however often the event comes.
    key: Template | None = None


@dataclass(frozen=True)
class CronTrigger:
    cron: str
    input: Template | None = None


Trigger = EventTrigger | CronTrigger


@dataclass(frozen=True)
class Concurrency:
    """Runs of one workflow (any version) in one tenant whose ``key`` renders the same
    are active at most ``limit`` at a time; the others queue, first created first."""

    key: Template  # over ``input`` and ``vars``, rendered when the run is created
    limit: int = 1
    # ``from``: the step from which a run holds its key (None: from its start). The run
    # runs freely before it, and waits ``queued`` at it for a slot.
    from_step: str | None = None


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    version: str
    description: str | None
    input_schema: dict[str, Any] | None
    triggers: tuple[Trigger, ...]
    start: str
    steps: Mapping[str, Step]
    output_schema: dict[str, Any] | None = None
    # Constants the expressions read as ``vars`` (an industry pack's parameters): data,
    # never templated, so no value can change what an expression means.
    vars: Mapping[str, Any] = field(default_factory=dict)
    concurrency: Concurrency | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]
