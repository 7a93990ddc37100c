"""ISA-18.2 alarms as pure code: rules, the alarm state machine and its transitions.

One alarm per rule. `evaluate` takes a value and returns the transition it causes, if
any; the caller stores the new state, journals and publishes it. Evaluation runs for every
sample of a tag that has rules, so it allocates nothing when nothing changes.

States (ISA-18.2 figure 5):

    normal --condition--> active-unacknowledged --ack--> active-acknowledged
      ^                         |  clear                     | clear
      |                         v                            |
      +--ack-- returned-unacknowledged <---------------------+--> normal
    any --shelve--> shelved --unshelve/expiry--> active-unacknowledged | normal
    any --out of service--> out-of-service --return to service--> normal (re-evaluated)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hub.domain.errors import Conflict, FieldProblem, ValidationFailed
from hub.domain.plc import Quality, check_name

MAX_SHELVE_MINUTES = 7 * 24 * 60


class AlarmState(StrEnum):
    NORMAL = "normal"
    ACTIVE_UNACK = "active-unacknowledged"
    ACTIVE_ACK = "active-acknowledged"
    RETURNED_UNACK = "returned-unacknowledged"
    SHELVED = "shelved"
    OUT_OF_SERVICE = "out-of-service"

    @property
    def active(self) -> bool:
        return self in (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)

    @property
    def unacknowledged(self) -> bool:
        return self in (AlarmState.ACTIVE_UNACK, AlarmState.RETURNED_UNACK)


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# Condition -> severity: how far from normal the process is (hihi/lolo beyond hi/lo).
SEVERITY = {"hihi": 2, "lolo": 2, "hi": 1, "lo": 1, "rate": 1, "discrete": 1}


@dataclass(frozen=True)
class AlarmRule:
    id: str
    tenant_id: str
    device_id: str
    tag: str
    priority: Priority
    area: str
    hihi: float | None = None
    hi: float | None = None
    lo: float | None = None
    lolo: float | None = None
    deadband: float = 0.0
    on_delay_ms: int = 0
    off_delay_ms: int = 0
    rate_of_change: float | None = None  # units per second, either direction
    discrete: Any = None  # the value that is abnormal, for bool/discrete tags
    message: str = ""

    def limit_of(self, condition: str | None) -> Any:
        if condition is None:
            return None
        if condition == "discrete":
            return self.discrete
        if condition == "rate":
            return self.rate_of_change
        return getattr(self, condition)


@dataclass(frozen=True)
class Alarm:
    """The alarm's state; `condition` is the process condition even while shelved."""

    rule: AlarmRule
    state: AlarmState = AlarmState.NORMAL
    condition: str | None = None
    value: Any = None
    since: datetime | None = None
    shelved_until: datetime | None = None
    pending: str | None = None  # condition waiting out on_delay (or None-waiting off_delay)
    pending_since: datetime | None = None
    last_value: float | None = None  # for rate of change
    last_ts: datetime | None = None

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def severity(self) -> str:
        return self.condition or "normal"


@dataclass(frozen=True)
class Transition:
    action: str  # activate | escalate | return | reactivate | ack | shelve | unshelve | ...
    old: AlarmState
    new: AlarmState
    condition: str | None
    value: Any
    limit: Any
    at: datetime
    actor: str = "hub"
    comment: str = ""


# --- evaluation ---


def raw_condition(rule: AlarmRule, alarm: Alarm, value: Any, ts: datetime) -> str | None:
    """The condition `value` is in, with the deadband holding an active one."""
    if rule.discrete is not None:
        return "discrete" if value == rule.discrete else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    held = alarm.condition
    band = rule.deadband
    for name in ("hihi", "hi"):
        limit = getattr(rule, name)
        if limit is not None and (value >= limit or (held == name and value > limit - band)):
            return name
    for name in ("lolo", "lo"):
        limit = getattr(rule, name)
        if limit is not None and (value <= limit or (held == name and value < limit + band)):
            return name
    if (
        rule.rate_of_change is not None
        and alarm.last_ts is not None
        and alarm.last_value is not None
    ):
        seconds = (ts - alarm.last_ts).total_seconds()
        if seconds > 0 and abs(value - alarm.last_value) / seconds > rule.rate_of_change:
            return "rate"
    return None


def _delayed(alarm: Alarm, wanted: str | None, ts: datetime) -> tuple[Alarm, bool]:
    """Apply on/off delays: (alarm with pending updated, whether `wanted` takes effect now)."""
    rule = alarm.rule
    delay_ms = rule.off_delay_ms if wanted is None else rule.on_delay_ms
    if delay_ms <= 0:
        return alarm, True
    if alarm.pending_since is None or alarm.pending != wanted:
        return replace(alarm, pending=wanted, pending_since=ts), False
    return alarm, ts - alarm.pending_since >= timedelta(milliseconds=delay_ms)


def evaluate(
    alarm: Alarm, value: Any, quality: Quality, ts: datetime
) -> tuple[Alarm, Transition | None]:
    """The alarm after seeing `value`; a bad value is no evidence either way."""
    if quality is Quality.BAD or alarm.state is AlarmState.OUT_OF_SERVICE:
        return alarm, None
    rule = alarm.rule
    wanted = raw_condition(rule, alarm, value, ts)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    tracked = (
        replace(alarm, last_value=float(value), last_ts=ts)
        if rule.rate_of_change is not None and numeric
        else alarm
    )
    if wanted == alarm.condition:
        if alarm.pending_since is not None:
            tracked = replace(tracked, pending=None, pending_since=None)
        return tracked, None
    tracked, now = _delayed(tracked, wanted, ts)
    if not now:
        return tracked, None
    changed = replace(tracked, condition=wanted, value=value, pending=None, pending_since=None)
    if alarm.state is AlarmState.SHELVED:
        return changed, None  # tracked silently; unshelving shows where the process is
    old = alarm.state
    if wanted is None:
        new = AlarmState.RETURNED_UNACK if old is AlarmState.ACTIVE_UNACK else AlarmState.NORMAL
        if old is AlarmState.RETURNED_UNACK:
            new = old
        action = "return"
    elif alarm.condition is None:
        new = AlarmState.ACTIVE_UNACK
        action = "reactivate" if old is AlarmState.RETURNED_UNACK else "activate"
    elif SEVERITY[wanted] > SEVERITY[alarm.condition]:
        new, action = AlarmState.ACTIVE_UNACK, "escalate"
    else:
        new, action = old, "change"  # e.g. hihi back to hi: still active, no new ack
    updated = replace(changed, state=new, since=ts if new is not old else alarm.since)
    return updated, Transition(action, old, new, wanted, value, rule.limit_of(wanted), ts)


# --- operator actions ---


def acknowledge(alarm: Alarm, at: datetime, actor: str, comment: str) -> tuple[Alarm, Transition]:
    if alarm.state is AlarmState.ACTIVE_UNACK:
        new = AlarmState.ACTIVE_ACK
    elif alarm.state is AlarmState.RETURNED_UNACK:
        new = AlarmState.NORMAL
    else:
        raise Conflict(
            f"alarm is {alarm.state.value}; only unacknowledged alarms can be acknowledged"
        )
    return _moved(alarm, "ack", new, at, actor, comment)


def shelve(
    alarm: Alarm, at: datetime, minutes: Any, actor: str, reason: str
) -> tuple[Alarm, Transition]:
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not 1 <= minutes <= MAX_SHELVE_MINUTES
    ):
        raise ValidationFailed([FieldProblem("minutes", f"an integer in 1..{MAX_SHELVE_MINUTES}")])
    if alarm.state is AlarmState.OUT_OF_SERVICE:
        raise Conflict("an out-of-service alarm cannot be shelved")
    until = at + timedelta(minutes=minutes)
    moved, transition = _moved(alarm, "shelve", AlarmState.SHELVED, at, actor, reason)
    return replace(moved, shelved_until=until), transition


def unshelve(
    alarm: Alarm, at: datetime, actor: str, action: str = "unshelve"
) -> tuple[Alarm, Transition]:
    if alarm.state is not AlarmState.SHELVED:
        raise Conflict(f"alarm is {alarm.state.value}, not shelved")
    new = AlarmState.ACTIVE_UNACK if alarm.condition else AlarmState.NORMAL
    moved, transition = _moved(alarm, action, new, at, actor, "")
    return replace(moved, shelved_until=None), transition


def set_in_service(
    alarm: Alarm, in_service: bool, at: datetime, actor: str
) -> tuple[Alarm, Transition] | None:
    if in_service == (alarm.state is not AlarmState.OUT_OF_SERVICE):
        return None
    if not in_service:
        moved, transition = _moved(
            alarm, "remove_from_service", AlarmState.OUT_OF_SERVICE, at, actor, ""
        )
        return replace(moved, shelved_until=None), transition
    fresh = replace(
        alarm, condition=None, pending=None, pending_since=None, last_value=None, last_ts=None
    )
    return _moved(fresh, "return_to_service", AlarmState.NORMAL, at, actor, "")


def _moved(
    alarm: Alarm, action: str, new: AlarmState, at: datetime, actor: str, comment: str
) -> tuple[Alarm, Transition]:
    limit = alarm.rule.limit_of(alarm.condition)
    transition = Transition(
        action, alarm.state, new, alarm.condition, alarm.value, limit, at, actor, comment
    )
    return replace(alarm, state=new, since=at), transition


def shelve_expired(alarm: Alarm, now: datetime) -> bool:
    return (
        alarm.state is AlarmState.SHELVED
        and alarm.shelved_until is not None
        and alarm.shelved_until <= now
    )


# --- rules as given through the API ---

RULE_FIELDS = {
    "device",
    "tag",
    "hihi",
    "hi",
    "lo",
    "lolo",
    "deadband",
    "on_delay_ms",
    "off_delay_ms",
    "rate_of_change",
    "discrete",
    "priority",
    "area",
    "message",
}


def rule_problems(raw: dict[str, Any]) -> list[FieldProblem]:
    """Problems with the rule's own fields (device and tag are resolved by the service)."""
    problems = [FieldProblem(k, "unknown field") for k in sorted(set(raw) - RULE_FIELDS)]
    limits = {}
    for name in ("hihi", "hi", "lo", "lolo", "rate_of_change", "deadband"):
        value = raw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(FieldProblem(name, "must be a number"))
        elif value is not None:
            limits[name] = float(value)
    order = [limits.get(n) for n in ("lolo", "lo", "hi", "hihi")]
    given = [v for v in order if v is not None]
    if given != sorted(given) or len(set(given)) != len(given):
        problems.append(FieldProblem("hi", "limits must be ordered lolo < lo < hi < hihi"))
    if limits.get("deadband", 0) < 0:
        problems.append(FieldProblem("deadband", "must not be negative"))
    if limits.get("rate_of_change") is not None and limits["rate_of_change"] <= 0:
        problems.append(FieldProblem("rate_of_change", "must be positive (units per second)"))
    if not given and raw.get("discrete") is None and "rate_of_change" not in limits:
        problems.append(
            FieldProblem("hi", "give at least one of hihi, hi, lo, lolo, rate_of_change, discrete")
        )
    if raw.get("discrete") is not None and given:
        problems.append(FieldProblem("discrete", "a discrete alarm takes no analog limits"))
    for name in ("on_delay_ms", "off_delay_ms"):
        value = raw.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3600_000:
            problems.append(FieldProblem(name, "an integer in 0..3600000"))
    if raw.get("priority") not in Priority.__members__.values():
        problems.append(FieldProblem("priority", "one of critical, high, medium, low"))
    problems += check_name(raw.get("area"), "area")
    message = raw.get("message", "")
    if not isinstance(message, str) or len(message) > 500:
        problems.append(FieldProblem("message", "at most 500 characters"))
    return problems


def build_rule(raw: dict[str, Any], *, id: str, tenant_id: str, device_id: str) -> AlarmRule:
    def num(name: str) -> float | None:
        return None if raw.get(name) is None else float(raw[name])

    return AlarmRule(
        id=id,
        tenant_id=tenant_id,
        device_id=device_id,
        tag=raw["tag"],
        priority=Priority(raw["priority"]),
        area=raw["area"],
        hihi=num("hihi"),
        hi=num("hi"),
        lo=num("lo"),
        lolo=num("lolo"),
        deadband=num("deadband") or 0.0,
        on_delay_ms=raw.get("on_delay_ms", 0),
        off_delay_ms=raw.get("off_delay_ms", 0),
        rate_of_change=num("rate_of_change"),
        discrete=raw.get("discrete"),
        message=raw.get("message", ""),
    )


def rule_dict(rule: AlarmRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "device_id": rule.device_id,
        "tag": rule.tag,
        "priority": rule.priority.value,
        "area": rule.area,
        "hihi": rule.hihi,
        "hi": rule.hi,
        "lo": rule.lo,
        "lolo": rule.lolo,
        "deadband": rule.deadband,
        "on_delay_ms": rule.on_delay_ms,
        "off_delay_ms": rule.off_delay_ms,
        "rate_of_change": rule.rate_of_change,
        "discrete": rule.discrete,
        "message": rule.message,
    }
