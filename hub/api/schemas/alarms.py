"""Alarm rules and alarms: the bodies of /api/v1/tenants/{tenant}/alarm-rules and /alarms.

A rule's body is read by the handler and checked by hub/domain/alarms.py (every problem
named); these Structs document it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.api.schemas.devices import DeviceName

Priority = Literal["critical", "high", "medium", "low"]
AlarmStateName = Literal[
    "normal",
    "active-unacknowledged",
    "active-acknowledged",
    "returned-unacknowledged",
    "shelved",
    "out-of-service",
]
Delay = Annotated[int, msgspec.Meta(ge=0, le=3_600_000)]
Limit = Annotated[float, msgspec.Meta(description="ordered lolo < lo < hi < hihi")]
Discrete = Annotated[
    Any, msgspec.Meta(description="the abnormal value of a bool or discrete tag (no limits)")
]


class AlarmRuleIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rule on one tag: at least one of hihi, hi, lo, lolo, rate_of_change or discrete."""

    device: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="id or name")]
    tag: str
    priority: Priority
    area: DeviceName
    hihi: Limit | None = None
    hi: Limit | None = None
    lo: Limit | None = None
    lolo: Limit | None = None
    deadband: Annotated[float, msgspec.Meta(ge=0)] | None = None
    on_delay_ms: Delay = 0
    off_delay_ms: Delay = 0
    rate_of_change: Annotated[float, msgspec.Meta(gt=0, description="units per second")] | None = (
        None
    )
    discrete: Discrete = None
    message: Annotated[str, msgspec.Meta(max_length=500)] = ""


class AlarmRulePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change (the rule is checked again as a whole); `in_service: false` takes
    the alarm out of service, `true` returns it."""

    device: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    tag: str | None = None
    priority: Priority | None = None
    area: DeviceName | None = None
    hihi: Limit | None = None
    hi: Limit | None = None
    lo: Limit | None = None
    lolo: Limit | None = None
    deadband: Annotated[float, msgspec.Meta(ge=0)] | None = None
    on_delay_ms: Delay | None = None
    off_delay_ms: Delay | None = None
    rate_of_change: Annotated[float, msgspec.Meta(gt=0)] | None = None
    discrete: Discrete = None
    message: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    in_service: bool | None = None


class AckIn(msgspec.Struct, forbid_unknown_fields=True):
    comment: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class ShelveIn(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class AlarmRuleOut(msgspec.Struct):
    id: str
    device_id: str
    tag: str
    priority: Priority
    area: str
    hihi: float | None
    hi: float | None
    lo: float | None
    lolo: float | None
    deadband: float
    on_delay_ms: int
    off_delay_ms: int
    rate_of_change: float | None
    discrete: Discrete
    message: str


class AlarmOut(msgspec.Struct):
    """A rule's alarm and its state (ISA-18.2)."""

    id: str
    device_id: str
    device: Annotated[str | None, msgspec.Meta(description="the device's name")]
    tag: str
    area: str
    priority: Priority
    state: AlarmStateName
    condition: Annotated[
        str | None, msgspec.Meta(description="hihi, hi, lo, lolo, rate or discrete")
    ]
    severity: Any
    value: Annotated[Any, msgspec.Meta(description="the tag's value at the last transition")]
    limit: float | None
    since: datetime
    shelved_until: datetime | None
    rule: AlarmRuleOut


class AlarmList(msgspec.Struct):
    items: list[AlarmOut]
    next_cursor: str | None


class JournalEntry(msgspec.Struct, rename={"from_": "from"}):
    ts: datetime
    action: str
    from_: str
    to: str
    condition: str | None
    value: Any
    limit: float | None
    actor: str
    comment: str


class AlarmDetail(AlarmOut):
    journal: list[JournalEntry]


class AlarmRuleDeleted(msgspec.Struct):
    id: str
    deleted: bool
