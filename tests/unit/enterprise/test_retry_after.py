"""A retryable failure that carries the other side's Retry-After waits at least that long
before the next attempt, within the step's max_interval, and the wait is in the history
(so a replay decides the same)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.engine.definition import parse_definition
from hub.engine.history import EventType, fold
from hub.engine.interpreter import Interpreter, Transition

NOW = datetime(2026, 12, 1, tzinfo=UTC)
STEPS = {
    "call": {
        "type": "activity",
        "activity": "erp.get",
        "next": "done",
        "retry": {"max_attempts": 3, "initial_interval": "1s", "max_interval": "20s"},
    },
    "done": {"type": "end"},
}


class Run:
    def __init__(self) -> None:
        self.definition = parse_definition(
            {"name": "w", "version": "1.0.0", "start": "call", "steps": STEPS}
        )
        self.events: list[Any] = []

    def do(self, act: Any) -> Transition:
        state = fold("r1", "t1", "w", "1.0.0", self.events)
        transition: Transition = act(Interpreter(self.definition, state, NOW, rng=lambda: 0.5))
        self.events += transition.events
        return transition


def _retry_delay(retry_after: float | None) -> float:
    run = Run()
    run.do(lambda i: i.start({}))
    run.do(lambda i: i.activity_started("call"))
    failed = run.do(lambda i: i.activity_failed("call", "Unavailable", "503", True, retry_after))
    scheduled = [e for e in failed.events if e.type is EventType.RETRY_SCHEDULED]
    return float(scheduled[0].data["delay"])


def test_without_retry_after_the_policy_decides() -> None:
    assert _retry_delay(None) == 1.0


def test_retry_after_stretches_the_wait() -> None:
    assert _retry_delay(7.0) == 7.0


def test_retry_after_is_capped_by_max_interval() -> None:
    assert _retry_delay(3600.0) == 20.0


def test_a_shorter_retry_after_does_not_shorten_the_policy() -> None:
    assert _retry_delay(0.2) == 1.0


def test_the_wait_asked_for_is_kept_in_the_history() -> None:
    run = Run()
    run.do(lambda i: i.start({}))
    run.do(lambda i: i.activity_started("call"))
    run.do(lambda i: i.activity_failed("call", "Unavailable", "503", True, 7.0))
    failed = [e for e in run.events if e.type is EventType.ACTIVITY_FAILED]
    assert failed[0].data["retry_after"] == 7.0
