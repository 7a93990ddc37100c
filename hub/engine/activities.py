"""Activities: the registry, the context each call gets, and the errors they raise.

An activity is an async function `(ctx, input) -> output`. It runs at least once; a
retry (or a re-run after a crash) gets the same `ctx.idempotency_key`, so a side effect
guarded by the key (an HTTP Idempotency-Key, a PLC write of an absolute value, a row keyed
by it) is applied once. Each scheduled execution has its own key: a loop that passes
through the step again, or the step's compensation, is new work with a new key.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.mapping import Mapper, MappingError, compile_mapping, mapping_problems

log = logging.getLogger("hub.activities")


class ActivityError(Exception):
    """A failure worth retrying (the step's retry policy decides how often)."""

    retryable = True
    # Seconds the other side asked us to wait (an HTTP Retry-After): the retry waits at
    # least this long, within the step's max_interval.
    retry_after: float | None = None

    @property
    def error_type(self) -> str:
        return type(self).__name__


class NonRetryableError(ActivityError):
    """A failure no retry can fix: the step fails at once."""

    retryable = False


Publish = Callable[[str, Any], Awaitable[None]]


async def _no_bus(topic: str, payload: Any) -> None:
    raise NonRetryableError("no event bus is configured")


@dataclass(frozen=True)
class ActivityContext:
    tenant: str
    workflow: str
    run_id: str
    step_id: str
    attempt: int
    # Publishes in the run's own tenant (the bus takes the tenant from here, not the payload).
    publish: Publish = field(default=_no_bus, repr=False)
    # Which execution of the step: the history position of the pass that scheduled it
    # (`compensate` for its compensation); "" when there is no history (tests, tools).
    execution: str = ""

    @property
    def idempotency_key(self) -> str:
        """The same on every attempt (retries, crash recovery) of this scheduled
        execution of the step; another pass of a loop gets another key."""
        base = f"{self.run_id}:{self.step_id}"
        return f"{base}:{self.execution}" if self.execution else base


ActivityFn = Callable[[ActivityContext, Any], Awaitable[Any]]


class Computed:
    """Stands for a part of a step's input known only at run time (a ``${...}`` string)."""

    _instance: Computed | None = None

    def __new__(cls) -> Computed:
        cls._instance = cls._instance or super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "COMPUTED"


COMPUTED: Final = Computed()

InputValidator = Callable[[Any], Sequence[FieldProblem]]
"""Checks an activity step's input when the workflow is published (a 422 before any run).

It gets the step's ``input`` as written, every string holding a ``${...}`` expression
replaced by :data:`COMPUTED` (a wholly computed input is ``COMPUTED`` itself), and returns
the problems it finds, each ``field`` relative to the input (``mapping.fields[2].target``;
the API answers ``steps.<step>.input.mapping.fields[2].target``); empty when it is fine.
It must leave ``COMPUTED`` parts alone (the activity checks them at run time), be pure and
fast (it runs in a worker thread on every publish and pack install) and not raise. The
same validator checks the input of a ``compensate`` that names the activity.

Register one beside the activity: ``registry.register("erp.query", fn,
validate_input=check_query)``.
"""


def literal_view(source: Any) -> Any:
    """``source`` (a step's input as written) with computed strings as ``COMPUTED``."""
    if isinstance(source, str):
        return COMPUTED if _has_expression(source) else source.replace("$${", "${")
    if isinstance(source, Mapping):
        return {key: literal_view(value) for key, value in source.items()}
    if isinstance(source, list | tuple):
        return [literal_view(value) for value in source]
    return source


def _has_expression(text: str) -> bool:
    # ``$${`` is an escaped, literal ``${`` (see hub.engine.expressions).
    return "${" in text.replace("$${", "")


def has_computed(value: Any) -> bool:
    """Whether any part of a :func:`literal_view` value is ``COMPUTED``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is COMPUTED:
            return True
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class ActivityRegistry:
    def __init__(self) -> None:
        self._activities: dict[str, ActivityFn] = {}
        self._validators: dict[str, InputValidator] = {}

    def register(
        self, name: str, fn: ActivityFn, *, validate_input: InputValidator | None = None
    ) -> None:
        """Register ``fn`` as ``name``; ``validate_input`` (see :data:`InputValidator`)
        checks the input of every step calling it when a workflow is published."""
        if name in self._activities and self._activities[name] is not fn:
            raise ValueError(f"activity {name!r} is already registered")
        self._activities[name] = fn
        if validate_input is not None:
            self._validators[name] = validate_input

    def activity(self, name: str | None = None) -> Callable[[ActivityFn], ActivityFn]:
        """Decorator: `@registry.activity()` registers under the function's name."""

        def register(fn: ActivityFn) -> ActivityFn:
            self.register(name or fn.__name__, fn)
            return fn

        return register

    def get(self, name: str) -> ActivityFn | None:
        return self._activities.get(name)

    def names(self) -> frozenset[str]:
        return frozenset(self._activities)

    def input_validators(self) -> Mapping[str, InputValidator]:
        return dict(self._validators)


async def noop(ctx: ActivityContext, value: Any) -> Any:
    return value


async def log_activity(ctx: ActivityContext, value: Any) -> Any:
    log.info("workflow %s run %s step %s: %s", ctx.workflow, ctx.run_id, ctx.step_id, value)
    return value


async def emit_event(ctx: ActivityContext, value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("topic"), str):
        raise NonRetryableError("emit_event needs {'topic': str, 'payload': any}")
    await ctx.publish(value["topic"], value.get("payload"))
    return {"published": value["topic"]}


def check_data_map(value: Any) -> list[FieldProblem]:
    """Publish-time check of a ``data.map`` input: a literal mapping must compile."""
    if value is COMPUTED:
        return []
    if not isinstance(value, Mapping):
        return [FieldProblem("input", "data.map takes {mapping: <spec>, input: <any>}")]
    problems = [FieldProblem(str(key), "unknown field") for key in value
                if key not in ("mapping", "input")]  # fmt: skip
    if "mapping" not in value:
        problems.append(FieldProblem("mapping", "is required"))
    elif not has_computed(value["mapping"]):  # a computed one is checked at run time
        problems.extend(mapping_problems(value["mapping"], where="mapping"))
    return problems


async def data_map(ctx: ActivityContext, value: Any) -> Any:
    """``{mapping, input}`` -> the mapped object (see hub.domain.mapping for the spec)."""
    if not isinstance(value, Mapping) or "mapping" not in value:
        raise NonRetryableError("data.map takes {mapping: <spec>, input: <any>}")
    try:
        return _compiled(value["mapping"]).apply(value.get("input"))
    except ValidationFailed as failed:
        raise NonRetryableError(f"invalid mapping: {failed.detail}") from None
    except MappingError as error:
        raise NonRetryableError(f"mapping failed at {error}") from None


def _compiled(spec: Any) -> Mapper:
    # A mapping computed at run time is checked here; literal ones were at publish.
    try:
        key = json.dumps(spec, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return compile_mapping(spec, where="mapping")
    return _compile_cached(key)


@functools.lru_cache(maxsize=256)
def _compile_cached(key: str) -> Mapper:
    # Steps run the same literal mapping again and again: compile each text once.
    return compile_mapping(json.loads(key), where="mapping")


def builtin_registry() -> ActivityRegistry:
    registry = ActivityRegistry()
    registry.register("noop", noop)
    registry.register("log", log_activity)
    registry.register("emit_event", emit_event)
    registry.register("data.map", data_map, validate_input=check_data_map)
    return registry
