"""Industry packs and incidents: the bodies of /api/v1/tenants/{tenant}/packs and /incidents.

A pack's parameters follow the JSON Schema the pack publishes (`parameters_schema` on
GET .../packs/{name}), so they are an open object here; the service checks them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.api.schemas.alarms import JournalEntry

Object = dict[str, Any]


class PackParametersIn(msgspec.Struct, forbid_unknown_fields=True):
    """The body may be left out: install takes the pack's defaults, upgrade the installed
    parameters."""

    parameters: Annotated[
        Object | None,
        msgspec.Meta(description="as the pack's `parameters_schema` asks (GET .../packs/{name})"),
    ] = None


class PackOut(msgspec.Struct):
    """A pack: installation fields (`parameters` with secrets redacted, `resources`,
    `updated_at`, `updated_by`) once installed; `parameters_schema` on one pack's page."""

    name: str
    description: str
    available_version: Annotated[str | None, msgspec.Meta(description="null: not in catalog")]
    installed_version: str | None
    status: Annotated[str, msgspec.Meta(description="available, installed or uninstalled")]
    upgradable: bool
    parameters: Object | None = None
    resources: Annotated[
        Object | None, msgspec.Meta(description="the workflows, alarm rules, policies it made")
    ] = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    parameters_schema: Annotated[Object | None, msgspec.Meta(description="JSON Schema")] = None


class PackList(msgspec.Struct):
    items: list[PackOut]
    next_cursor: None


Outcome = Literal["confirmed", "false_alarm", "needs_action"]


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: Outcome
    comment: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class ReviewOut(msgspec.Struct):
    outcome: Outcome
    comment: str
    by: str
    at: datetime


class IncidentOut(msgspec.Struct):
    id: str
    run_id: str
    pack: str
    area: str
    status: Literal["open", "reviewed"]
    severity: str
    summary: str
    details: Object
    opened_at: datetime
    recorded_at: datetime
    review: ReviewOut | None
    receipt: Annotated[str, msgspec.Meta(description="path of the run's receipt")]
    run: Annotated[str, msgspec.Meta(description="path of the run")]


class IncidentList(msgspec.Struct):
    items: list[IncidentOut]
    next_cursor: str | None


class TimelineStep(msgspec.Struct):
    ts: datetime
    type: str
    step: str | None


class Timeline(msgspec.Struct):
    run: list[TimelineStep]
    alarm_journal: list[JournalEntry]
    telemetry: Annotated[
        Object | None, msgspec.Meta(description="the tag's samples around the event")
    ]


class IncidentDetail(IncidentOut):
    timeline: Timeline
