"""Activities: the registry, the context each call gets, and the errors they raise.

An activity is an async function `(ctx, input) -> output`. It runs at least once; a
retry (or a re-run after a crash) gets the same `ctx.idempotency_key`, so a side effect
guarded by the key (an HTTP Idempotency-Key, a PLC write of an absolute value, a row keyed
by it) is applied once. Each scheduled execution has its own key: a loop that passes
through the step again, or the step's compensation, is new work with a new key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("hub.activities")


class ActivityError(Exception):
    """A failure worth retrying (the step's retry policy decides how often)."""

    retryable = True

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


class ActivityRegistry:
    def __init__(self) -> None:
        self._activities: dict[str, ActivityFn] = {}

    def register(self, name: str, fn: ActivityFn) -> None:
        if name in self._activities and self._activities[name] is not fn:
            raise ValueError(f"activity {name!r} is already registered")
        self._activities[name] = fn

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


def builtin_registry() -> ActivityRegistry:
    registry = ActivityRegistry()
    registry.register("noop", noop)
    registry.register("log", log_activity)
    registry.register("emit_event", emit_event)
    return registry
