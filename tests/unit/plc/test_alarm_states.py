"""The ISA-18.2 state machine as pure code: limits, deadband, delays, rate of change,
discrete alarms, escalation, acknowledgement, shelving and out of service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.alarms import (
    Alarm,
    AlarmRule,
    AlarmState,
    Priority,
    acknowledge,
    evaluate,
    rule_problems,
    set_in_service,
    shelve,
    shelve_expired,
    unshelve,
)
from hub.domain.errors import Conflict, ValidationFailed
from hub.domain.plc import Quality

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GOOD = Quality.GOOD


def _rule(**limits: object) -> AlarmRule:
    return AlarmRule("a" * 32, "t", "d", "pressure", Priority.HIGH, "area", **limits)  # type: ignore[arg-type]


def _feed(alarm: Alarm, values: list[float], step_ms: int = 100) -> tuple[Alarm, list[str]]:
    actions = []
    for i, value in enumerate(values):
        alarm, t = evaluate(alarm, value, GOOD, T0 + timedelta(milliseconds=i * step_ms))
        if t is not None:
            actions.append(f"{t.action}:{t.new.value}")
    return alarm, actions


def test_activation_ack_and_return() -> None:
    alarm, actions = _feed(Alarm(_rule(hi=8.0)), [5, 9, 9.5])
    assert actions == ["activate:active-unacknowledged"] and alarm.condition == "hi"
    alarm, t = acknowledge(alarm, T0, "op", "seen")
    assert alarm.state is AlarmState.ACTIVE_ACK and t.actor == "op" and t.comment == "seen"
    with pytest.raises(Conflict):
        acknowledge(alarm, T0, "op", "")
    alarm, actions = _feed(alarm, [5.0])
    assert actions == ["return:normal"]


def test_return_unacknowledged_then_ack_clears() -> None:
    alarm, actions = _feed(Alarm(_rule(lo=2.0)), [1.0, 3.0])
    assert actions == ["activate:active-unacknowledged", "return:returned-unacknowledged"]
    alarm, _ = acknowledge(alarm, T0, "op", "")
    assert alarm.state is AlarmState.NORMAL
    alarm, actions = _feed(Alarm(_rule(lo=2.0)), [1.0, 3.0, 1.0])
    assert actions[-1] == "reactivate:active-unacknowledged"


def test_deadband_holds_the_alarm_until_clear_of_it() -> None:
    _, actions = _feed(Alarm(_rule(hi=8.0, deadband=0.5)), [8.1, 7.8, 7.6, 8.2, 7.4])
    assert actions == ["activate:active-unacknowledged", "return:returned-unacknowledged"]


def test_escalation_to_hihi_needs_a_new_ack() -> None:
    alarm, _ = _feed(Alarm(_rule(hi=8.0, hihi=12.0)), [9.0])
    alarm, _ = acknowledge(alarm, T0, "op", "")
    alarm, actions = _feed(alarm, [13.0, 10.0])
    assert actions == ["escalate:active-unacknowledged", "change:active-unacknowledged"]
    assert alarm.condition == "hi"


def test_on_and_off_delays() -> None:
    rule = _rule(hi=8.0, on_delay_ms=300, off_delay_ms=200)
    _, actions = _feed(Alarm(rule), [9, 9, 5, 9, 9, 9, 9])
    assert actions == ["activate:active-unacknowledged"]  # only once 300 ms held
    alarm, _ = _feed(Alarm(rule), [9, 9, 9, 9])
    alarm, actions = _feed(alarm, [5, 9, 5, 5, 5])  # a blip back down does not return it
    assert actions == ["return:returned-unacknowledged"]


def test_rate_of_change_and_discrete() -> None:
    _, actions = _feed(Alarm(_rule(rate_of_change=10.0)), [0.0, 0.5, 3.0, 3.1], step_ms=100)
    assert actions[0] == "activate:active-unacknowledged"  # 25 units/s > 10
    alarm, t = evaluate(Alarm(_rule(discrete=True)), True, GOOD, T0)
    assert t is not None and alarm.condition == "discrete" and t.limit is True


def test_bad_quality_is_no_evidence() -> None:
    alarm, _ = _feed(Alarm(_rule(hi=8.0)), [9.0])
    same, t = evaluate(alarm, 0.0, Quality.BAD, T0 + timedelta(seconds=5))
    assert t is None and same is alarm


def test_shelving_tracks_the_condition_and_expires() -> None:
    alarm, _ = _feed(Alarm(_rule(hi=8.0)), [5.0])
    alarm, t = shelve(alarm, T0, 10, "op", "maintenance")
    assert alarm.state is AlarmState.SHELVED and t.comment == "maintenance"
    alarm, actions = _feed(alarm, [9.0])
    assert actions == [] and alarm.condition == "hi"
    assert not shelve_expired(alarm, T0 + timedelta(minutes=9))
    assert shelve_expired(alarm, T0 + timedelta(minutes=10))
    alarm, t = unshelve(alarm, T0, "hub", "shelve_expired")
    assert alarm.state is AlarmState.ACTIVE_UNACK and t.action == "shelve_expired"
    with pytest.raises(ValidationFailed):
        shelve(alarm, T0, 0, "op", "x")
    with pytest.raises(Conflict):
        unshelve(alarm, T0, "op")


def test_out_of_service_ignores_values() -> None:
    alarm, _ = _feed(Alarm(_rule(hi=8.0)), [9.0])
    moved = set_in_service(alarm, False, T0, "eng")
    assert moved is not None
    alarm = moved[0]
    assert alarm.state is AlarmState.OUT_OF_SERVICE
    assert evaluate(alarm, 20.0, GOOD, T0)[1] is None
    assert set_in_service(alarm, False, T0, "eng") is None
    alarm, _ = set_in_service(alarm, True, T0, "eng")  # type: ignore[misc]
    assert alarm.state is AlarmState.NORMAL and alarm.condition is None
    _, actions = _feed(alarm, [9.0])
    assert actions == ["activate:active-unacknowledged"]


def test_rule_problems_name_each_field() -> None:
    problems = rule_problems(
        {"hi": 5, "lo": 6, "priority": "p1", "area": "", "deadband": -1, "x": 1}
    )
    assert {p.field for p in problems} == {"hi", "priority", "area", "deadband", "x"}
    assert rule_problems({"device": "d", "tag": "t", "hi": 5, "priority": "low", "area": "a"}) == []
