"""Workflows, runs and user tasks: the bodies of /api/v1/tenants/{tenant}/workflows|runs|tasks.

A definition is published as YAML or JSON and checked by hub/engine/definition.py (docs/
WORKFLOWS.md); its steps, triggers and schemas are open objects here. Run input, signal
payloads and task values are whatever the workflow's schemas and forms ask for."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar.params import Body

Json = Annotated[Any, msgspec.Meta(description="any JSON value")]
Object = dict[str, Any]


class ConcurrencyIn(msgspec.Struct, forbid_unknown_fields=True):
    """Runs of this workflow (any version) whose key renders the same are active at most
    `limit` at a time; the others wait in status `queued` and start in creation order."""

    key: Annotated[
        str,
        msgspec.Meta(
            description='a template over `input` and `vars`, e.g. "${vars.line_id}", '
            "rendered when a run is created; null or empty: the run has no key"
        ),
    ]
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    from_: (
        Annotated[
            str,
            msgspec.Meta(
                description="the step from which a run holds its key (default: its start); "
                "before it the run runs freely, at it the run waits `queued` for a slot"
            ),
        ]
        | None
    ) = msgspec.field(default=None, name="from")


class WorkflowDefinitionIn(msgspec.Struct):
    """A workflow definition (docs/WORKFLOWS.md), in YAML or JSON."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    version: Annotated[str, msgspec.Meta(description="semantic version, e.g. 1.2.0")]
    start: Annotated[str, msgspec.Meta(description="the first step's id")]
    steps: Annotated[
        dict[str, Object],
        msgspec.Meta(
            description="steps by id; each has a `type`: activity, decision, timer, wait, "
            "user_task, parallel, subworkflow or end"
        ),
    ]
    description: str = ""
    input_schema: Object | None = None
    output_schema: Object | None = None
    triggers: list[Object] | None = None
    vars: Object | None = None
    concurrency: ConcurrencyIn | None = None


class StartRunIn(msgspec.Struct, forbid_unknown_fields=True):
    workflow: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    input: dict[str, Any] = msgspec.field(default_factory=dict)
    version: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    priority: Annotated[int, msgspec.Meta(ge=-100, le=100)] = 0


class CompleteTaskIn(msgspec.Struct, forbid_unknown_fields=True):
    values: dict[str, Any] = msgspec.field(default_factory=dict)


class PublishedOut(msgspec.Struct):
    name: str
    version: str
    steps: Annotated[int, msgspec.Meta(description="how many steps the definition has")]


class WorkflowSummary(msgspec.Struct):
    name: str
    latest_version: str
    description: str
    published_at: datetime


class WorkflowList(msgspec.Struct):
    items: list[WorkflowSummary]


class WorkflowVersions(msgspec.Struct):
    name: str
    versions: list[str]


class WorkflowDefinitionOut(msgspec.Struct):
    """A published definition as it was given (JSON)."""

    name: str
    version: str
    start: str
    steps: dict[str, Object]
    description: str | None = None
    input_schema: Object | None = None
    output_schema: Object | None = None
    triggers: list[Object] | None = None
    vars: Object | None = None
    concurrency: Object | None = None


RunStatus = Annotated[
    str,
    msgspec.Meta(
        description="queued (waiting for a slot of its concurrency key), running, waiting, "
        "suspended, completed, failed or cancelled"
    ),
]


class RunOut(msgspec.Struct):
    id: str
    workflow: str
    version: str
    status: RunStatus
    priority: int
    input: Object
    current_steps: list[str]
    output: Json
    error: str | None
    parent_run_id: str | None
    created_at: datetime
    updated_at: datetime
    concurrency_key: Annotated[
        str | None,
        msgspec.Meta(description="the run's concurrency key, when its workflow has one"),
    ] = None


class RunList(msgspec.Struct):
    items: list[RunOut]
    next_cursor: str | None


class RunEvent(msgspec.Struct):
    seq: int
    type: str
    step: str | None
    data: Object
    ts: datetime


class RunHistory(msgspec.Struct):
    items: list[RunEvent]


SignalPayload = Annotated[
    Any,
    Body(
        title="Signal payload",
        description="any JSON value, or no body (null); the run's `wait` step receives it "
        "and its `match` picks which payloads it takes",
    ),
]


class TaskOut(msgspec.Struct):
    id: str
    run_id: str
    step: str
    title: str
    form: Annotated[list[Object], msgspec.Meta(description="the fields the task asks for")]
    assignee: str | None
    candidate_groups: list[str]
    status: Literal["open", "claimed", "completed", "cancelled"]
    claimed_by: str | None
    due_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    values: Object | None


class TaskList(msgspec.Struct):
    items: list[TaskOut]
