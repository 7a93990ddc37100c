"""Pure helpers the engine uses at run time: retries, timers, forms, topics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.engine.definition import parse_definition
from hub.engine.expressions import ExpressionError
from hub.engine.forms import check_form_values
from hub.engine.model import FormField, RetryPolicy, TimerStep
from hub.engine.topics import match_topic, topic_params

from .helpers import base

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_retry_delays_back_off_and_cap() -> None:
    policy = RetryPolicy(max_attempts=4, initial_interval=1.0, max_interval=5.0, backoff=2.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.delay(2, random=0.0) == pytest.approx(1.8)  # -10 % jitter
    assert policy.delay(2, random=1.0) == pytest.approx(2.2)
    assert policy.retries(3, "Timeout") and not policy.retries(4, "Timeout")
    assert not RetryPolicy(non_retryable=("Bad",)).retries(1, "Bad")


def timer(body: dict[str, object]) -> TimerStep:
    step = parse_definition(base(pause={"type": "timer", "next": "fetch", **body})).steps["pause"]
    assert isinstance(step, TimerStep)
    return step


def test_timer_duration_and_until() -> None:
    assert timer({"duration": "PT2H"}).fire_at({}, NOW) == datetime(2024, 3, 1, 14, tzinfo=UTC)
    until = timer({"until": "timestamp(input.deadline) + duration('30m')"})
    context = {"input": {"deadline": "2024-03-02T00:00:00Z"}}
    assert until.fire_at(context, NOW) == datetime(2024, 3, 2, 0, 30, tzinfo=UTC)
    assert until.delay_seconds(context, NOW) == 45000.0
    with pytest.raises(ExpressionError, match="expected a timestamp"):
        timer({"until": "input.n"}).fire_at({"input": {"n": 5}}, NOW)


def test_timer_needs_exactly_one_of_duration_and_until() -> None:
    from .helpers import find, problems_of

    both = base(pause={"type": "timer", "duration": 1, "until": "now()", "next": "fetch"})
    assert find(problems_of(both), "pause", "duration", "exactly one of duration or until")


def test_form_values_are_checked() -> None:
    form = (
        FormField("ok", "boolean", required=True),
        FormField("count", "integer"),
        FormField("kind", "enum", options=("a", "b")),
        FormField("on", "date"),
    )
    assert check_form_values(form, {"ok": True, "count": 2, "kind": "a", "on": "2024-02-29"}) == []
    assert check_form_values(form, {"count": True, "kind": "c", "on": "29.02.2024", "x": 1}) == [
        "ok: is required",
        "count: must be an integer, got a boolean",
        "kind: must be one of ['a', 'b']",
        "on: must be a date as YYYY-MM-DD, got '29.02.2024'",
        "x: unknown field",
    ]
    assert form[2].as_dict() == {"id": "kind", "type": "enum", "required": False,
                                 "options": ["a", "b"]}  # fmt: skip


def test_topic_filters() -> None:
    topic = "areas/{area_id}/sensors/+/alarm"
    assert topic_params(topic) == ("area_id",)
    assert match_topic(topic, "areas/a7/sensors/s1/alarm") == {"area_id": "a7"}
    assert match_topic(topic, "areas/a7/sensors/s1/ok") is None
    assert match_topic(topic, "areas/a7/sensors/alarm") is None
    assert match_topic("plant/#", "plant/line1/temp") == {}
    assert match_topic("plant/#", "plant") == {}
    assert match_topic("plant/+", "plant/a/b") is None
