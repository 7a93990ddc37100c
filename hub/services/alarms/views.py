"""How alarms are shown: API views, state filters, and the published transition event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.domain.alarms import Alarm, AlarmState, Transition, rule_dict
from hub.domain.audit import rfc3339

STATE_FILTERS: dict[str, Sequence[str] | None] = {
    "all": None,
    "active": (AlarmState.ACTIVE_UNACK.value, AlarmState.ACTIVE_ACK.value),
    "unacknowledged": (AlarmState.ACTIVE_UNACK.value, AlarmState.RETURNED_UNACK.value),
    "shelved": (AlarmState.SHELVED.value,),
    **{s.value: (s.value,) for s in AlarmState},
}


def alarm_topic(alarm: Alarm) -> str:
    return f"areas/{alarm.rule.area}/sensors/{alarm.rule.tag}/alarm"


def alarm_view(alarm: Alarm, device_name: str | None = None) -> dict[str, Any]:
    rule = alarm.rule
    return {
        "id": alarm.id,
        "device_id": rule.device_id,
        "device": device_name,
        "tag": rule.tag,
        "area": rule.area,
        "priority": rule.priority.value,
        "state": alarm.state.value,
        "condition": alarm.condition,
        "severity": alarm.severity,
        "value": alarm.value,
        "limit": rule.limit_of(alarm.condition),
        "since": alarm.since,
        "shelved_until": alarm.shelved_until,
        "rule": rule_dict(rule),
    }


def transition_event(
    alarm: Alarm, t: Transition, tenant: str | None, device: str | None
) -> dict[str, Any]:
    """The payload on areas/{area}/sensors/{tag}/alarm."""
    rule = alarm.rule
    return {
        "alarm_id": alarm.id,
        "tenant_id": rule.tenant_id,
        "tenant": tenant,
        "device_id": rule.device_id,
        "device": device,
        "tag": rule.tag,
        "area": rule.area,
        "action": t.action,
        "state": t.new.value,
        "previous_state": t.old.value,
        "condition": t.condition,
        "severity": t.condition or "normal",
        "priority": rule.priority.value,
        "value": t.value,
        "limit": t.limit,
        "ts": rfc3339(t.at),
        "actor": t.actor,
        "message": rule.message,
    }
