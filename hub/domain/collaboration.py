"""Cross-organisation collaboration (issue 18): partners, collaborations and their rules.

An organisation is a tenant, known to other organisations by its `org_id`: the RFC 7638
thumbprint of its Ed25519 signing key (hub/security/federation.py), so an id cannot be
claimed without the key. The initiator's hub holds a collaboration's authoritative state;
every other participant keeps a copy that the initiator's `collaboration.state` messages
replace (each carries a version; an older one is ignored). Everything here is pure: the
services decide, the store keeps, the messaging carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from hub.domain.errors import FieldProblem, Forbidden, NotFound, ValidationFailed

DEFAULT_TASK_TIMEOUT_S = 3600
MAX_TASKS = 50
MAX_PARTICIPANTS = 20
MAX_RETRIES = 10
ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


class PartnerStatus(StrEnum):
    INVITED = "invited"  # they invited us; nothing of theirs is accepted until we confirm
    PENDING = "pending"  # we registered them; waiting for their confirmation
    ACTIVE = "active"  # both sides confirmed
    SUSPENDED = "suspended"  # one side suspended (suspended_by says which)


@dataclass(frozen=True)
class Partner:
    tenant_id: str
    id: str
    org_id: str
    name: str
    domain: str
    endpoint_url: str
    keys: dict[str, Any]  # PublicOrganisationKeys.as_document()
    capabilities: tuple[str, ...]
    status: PartnerStatus
    suspended_by: str | None  # "us" | "them" while suspended
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status is PartnerStatus.ACTIVE


class CollaborationStatus(StrEnum):
    CREATED = "created"
    READY = "ready"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"


ENDED = frozenset(
    {CollaborationStatus.COMPLETED, CollaborationStatus.FAILED, CollaborationStatus.TERMINATED}
)


class TaskType(StrEnum):
    ACTIVITY = "activity"
    APPROVAL = "approval"
    DATA_EXCHANGE = "data_exchange"
    NOTIFICATION = "notification"


class TaskStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


class Role(StrEnum):
    INITIATOR = "initiator"
    PARTICIPANT = "participant"


@dataclass(frozen=True)
class Participant:
    org_id: str
    name: str
    role: Role
    can_terminate: bool = False
    need_activity_notifications: bool = False


@dataclass(frozen=True)
class TaskDefinition:
    id: str
    type: TaskType
    assigned_org: str
    title: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    timeout_s: int = DEFAULT_TASK_TIMEOUT_S
    retries: int = 0
    # data_exchange: who receives, the payload's JSON Schema, the fields that may leave
    target_orgs: tuple[str, ...] = ()
    data_schema: dict[str, Any] | None = None
    share_fields: tuple[str, ...] | None = None  # None: every field the schema allows
    encryption_required: bool = True
    # notification
    message: str = ""
    requires_acknowledgment: bool = False


@dataclass(frozen=True)
class TaskState:
    status: TaskStatus = TaskStatus.PENDING
    result: dict[str, Any] | None = None
    submitted_by: str | None = None  # the user of the assigned organisation
    activated_at: str | None = None
    finished_at: str | None = None
    attempt: int = 0
    acknowledged_by: tuple[str, ...] = ()  # notification targets that acknowledged


@dataclass(frozen=True)
class Collaboration:
    """One organisation's copy; the initiator's is authoritative."""

    id: str
    name: str
    initiator: str  # org_id
    participants: tuple[Participant, ...]
    tasks: tuple[TaskDefinition, ...]
    status: CollaborationStatus
    task_states: dict[str, TaskState]
    version: int
    created_at: str
    updated_at: str
    reason: str | None = None  # why it failed or was terminated
    terminated_by: str | None = None
    joined: tuple[str, ...] = ()  # participants whose hubs took the collaboration
    auto_start: bool = False  # started as soon as it is ready (a workflow's step)

    def participant(self, org_id: str) -> Participant | None:
        return next((p for p in self.participants if p.org_id == org_id), None)

    def task(self, task_id: str) -> TaskDefinition:
        found = next((t for t in self.tasks if t.id == task_id), None)
        if found is None:
            raise NotFound(f"task {task_id!r} not found in collaboration {self.id}")
        return found

    def org_ids(self) -> list[str]:
        return [p.org_id for p in self.participants]

    @property
    def current(self) -> TaskDefinition | None:
        return next(
            (t for t in self.tasks if self.task_states[t.id].status is TaskStatus.ACTIVE), None
        )


# --- definition parsing (a 422 naming every bad field) -----------------------------------


def _name(value: Any, where: str, problems: list[FieldProblem], *, max_len: int = 64) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        problems.append(FieldProblem(where, f"must be a non-empty string of at most {max_len}"))
        return ""
    return value


def _task_id(value: Any, where: str, problems: list[FieldProblem]) -> str:
    text = _name(value, where, problems)
    if text and not set(text) <= ID_CHARS:
        problems.append(FieldProblem(where, "lowercase letters, digits, '_' and '-' only"))
    return text


def _flag(spec: Mapping[str, Any], key: str, where: str, problems: list[FieldProblem]) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        problems.append(FieldProblem(f"{where}.{key}", "must be true or false"))
        return False
    return value


def _participants(raw: Any, self_org: str, problems: list[FieldProblem]) -> tuple[Participant, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PARTICIPANTS:
        problems.append(
            FieldProblem("participants", f"a list of 1 to {MAX_PARTICIPANTS} organisations")
        )
        return ()
    found: list[Participant] = []
    for i, spec in enumerate(raw):
        where = f"participants[{i}]"
        if not isinstance(spec, dict):
            problems.append(FieldProblem(where, "must be an object"))
            continue
        unknown = set(spec) - {"organisation", "role", "can_terminate",
                               "need_activity_notifications"}  # fmt: skip
        if unknown:
            problems.append(FieldProblem(where, f"unknown fields: {', '.join(sorted(unknown))}"))
        org = _name(spec.get("organisation"), f"{where}.organisation", problems, max_len=128)
        role = spec.get("role", "participant")
        if role not in ("initiator", "participant"):
            problems.append(FieldProblem(f"{where}.role", "initiator or participant"))
            role = "participant"
        found.append(
            Participant(
                org_id=self_org if org == "self" else org,
                name="",
                role=Role(role),
                can_terminate=_flag(spec, "can_terminate", where, problems),
                need_activity_notifications=_flag(
                    spec, "need_activity_notifications", where, problems
                ),
            )
        )
    initiators = [p for p in found if p.role is Role.INITIATOR]
    if found and (len(initiators) != 1 or initiators[0].org_id != self_org):
        problems.append(
            FieldProblem("participants", "exactly one initiator, and it is your organisation")
        )
    if len({p.org_id for p in found}) != len(found):
        problems.append(FieldProblem("participants", "an organisation is listed twice"))
    return tuple(found)


def _org_list(
    raw: Any, where: str, orgs: set[str], self_org: str, problems: list[FieldProblem]
) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(FieldProblem(where, "a non-empty list of participant organisations"))
        return ()
    out = tuple(self_org if o == "self" else o for o in raw)
    for i, org in enumerate(out):
        if org not in orgs:
            problems.append(FieldProblem(f"{where}[{i}]", "is not a participant"))
    return out


TASK_FIELDS = frozenset(
    {
        "id",
        "type",
        "assigned_to",
        "title",
        "parameters",
        "timeout_s",
        "retries",
        "target_orgs",
        "data_schema",
        "share_fields",
        "encryption_required",
        "message",
        "requires_acknowledgment",
    }
)


def _task(
    spec: Any, where: str, orgs: set[str], self_org: str, problems: list[FieldProblem]
) -> TaskDefinition | None:
    if not isinstance(spec, dict):
        problems.append(FieldProblem(where, "must be an object"))
        return None
    unknown = set(spec) - TASK_FIELDS
    if unknown:
        problems.append(FieldProblem(where, f"unknown fields: {', '.join(sorted(unknown))}"))
    task_id = _task_id(spec.get("id"), f"{where}.id", problems)
    try:
        kind = TaskType(str(spec.get("type")))
    except ValueError:
        problems.append(FieldProblem(f"{where}.type", f"one of {', '.join(TaskType)}"))
        return None
    raw_org = spec.get("assigned_to")
    assigned = self_org if raw_org == "self" else raw_org
    if assigned not in orgs:
        problems.append(FieldProblem(f"{where}.assigned_to", "must be a participant"))
    parameters = spec.get("parameters", {})
    if not isinstance(parameters, dict):
        problems.append(FieldProblem(f"{where}.parameters", "must be an object"))
        parameters = {}
    timeout = spec.get("timeout_s", DEFAULT_TASK_TIMEOUT_S)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 2**31:
        problems.append(FieldProblem(f"{where}.timeout_s", "a whole number of seconds >= 1"))
        timeout = DEFAULT_TASK_TIMEOUT_S
    retries = spec.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        problems.append(FieldProblem(f"{where}.retries", f"0 to {MAX_RETRIES}"))
        retries = 0
    task = TaskDefinition(
        id=task_id,
        type=kind,
        assigned_org=str(assigned or ""),
        title=str(spec.get("title") or task_id)[:200],
        parameters=parameters,
        timeout_s=timeout,
        retries=retries,
    )
    if kind is TaskType.DATA_EXCHANGE:
        schema = spec.get("data_schema")
        if not isinstance(schema, dict):
            problems.append(FieldProblem(f"{where}.data_schema", "a JSON Schema object"))
            schema = None
        share = spec.get("share_fields")
        if share is not None and (
            not isinstance(share, list) or not all(isinstance(f, str) and f for f in share)
        ):
            problems.append(FieldProblem(f"{where}.share_fields", "a list of field names"))
            share = None
        task = replace(
            task,
            target_orgs=_org_list(
                spec.get("target_orgs"), f"{where}.target_orgs", orgs, self_org, problems
            ),
            data_schema=schema,
            share_fields=tuple(share) if share is not None else None,
            encryption_required=spec.get("encryption_required", True) is not False,
        )
    elif kind is TaskType.NOTIFICATION:
        message = spec.get("message", "")
        if not isinstance(message, str) or len(message) > 4000:
            problems.append(FieldProblem(f"{where}.message", "a string of at most 4000"))
            message = ""
        task = replace(
            task,
            target_orgs=_org_list(
                spec.get("target_orgs"), f"{where}.target_orgs", orgs, self_org, problems
            ),
            message=message,
            requires_acknowledgment=_flag(spec, "requires_acknowledgment", where, problems),
        )
    return task


def parse_definition(
    body: Mapping[str, Any], self_org: str
) -> tuple[str, tuple[Participant, ...], tuple[TaskDefinition, ...]]:
    """A collaboration's name, participants and tasks from a request body; a 422 naming
    every bad field. `self` names the caller's own organisation."""
    problems: list[FieldProblem] = []
    unknown = set(body) - {"name", "participants", "tasks"}
    if unknown:
        problems.append(FieldProblem("body", f"unknown fields: {', '.join(sorted(unknown))}"))
    name = _name(body.get("name"), "name", problems, max_len=200)
    participants = _participants(body.get("participants"), self_org, problems)
    orgs = {p.org_id for p in participants}
    raw_tasks = body.get("tasks")
    tasks: list[TaskDefinition] = []
    if not isinstance(raw_tasks, list) or not 1 <= len(raw_tasks) <= MAX_TASKS:
        problems.append(FieldProblem("tasks", f"a list of 1 to {MAX_TASKS} tasks"))
    else:
        for i, spec in enumerate(raw_tasks):
            task = _task(spec, f"tasks[{i}]", orgs, self_org, problems)
            if task is not None:
                tasks.append(task)
        if len({t.id for t in tasks}) != len(tasks):
            problems.append(FieldProblem("tasks", "task ids must be unique"))
    if problems:
        raise ValidationFailed(problems)
    return name, participants, tuple(tasks)


# --- rules ---------------------------------------------------------------------------------


def visible_to(collab: Collaboration, org_id: str) -> Collaboration:
    """Only participants see a collaboration; anyone else is told it does not exist."""
    if collab.participant(org_id) is None:
        raise NotFound(f"collaboration {collab.id} not found")
    return collab


def check_may_submit(collab: Collaboration, task_id: str, org_id: str) -> TaskDefinition:
    task = collab.task(task_id)
    if task.type is TaskType.NOTIFICATION:
        if org_id not in task.target_orgs:
            raise Forbidden(f"task {task_id!r} is not addressed to your organisation")
    elif task.assigned_org != org_id:
        raise Forbidden(f"task {task_id!r} is assigned to another organisation")
    if collab.status is not CollaborationStatus.IN_PROGRESS:
        raise Forbidden(f"collaboration {collab.id} is {collab.status.value}")
    if collab.task_states[task_id].status is not TaskStatus.ACTIVE:
        raise Forbidden(f"task {task_id!r} is {collab.task_states[task_id].status.value}")
    return task


def check_may_terminate(collab: Collaboration, org_id: str) -> None:
    participant = collab.participant(org_id)
    if participant is None:
        raise NotFound(f"collaboration {collab.id} not found")
    if not participant.can_terminate:
        raise Forbidden("your organisation may not terminate this collaboration")
    if collab.status in ENDED:
        raise Forbidden(f"collaboration {collab.id} has already ended ({collab.status.value})")


def approval_result(values: Mapping[str, Any]) -> dict[str, Any]:
    decision = values.get("approval_decision")
    if decision not in ("approved", "rejected"):
        raise ValidationFailed([FieldProblem("result.approval_decision", "approved or rejected")])
    comments = values.get("comments", "")
    if not isinstance(comments, str) or len(comments) > 4000:
        raise ValidationFailed([FieldProblem("result.comments", "a string of at most 4000")])
    return {"approval_decision": decision, "comments": comments}


def shared_fields(task: TaskDefinition, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What of a data exchange's payload may leave the organisation."""
    if task.share_fields is None:
        return dict(payload)
    return {k: v for k, v in payload.items() if k in task.share_fields}


# --- transitions (the initiator's hub applies them) ----------------------------------------


def _with(collab: Collaboration, now: str, **changes: Any) -> Collaboration:
    return replace(collab, version=collab.version + 1, updated_at=now, **changes)


def _states(collab: Collaboration, task_id: str, state: TaskState) -> dict[str, TaskState]:
    return {**collab.task_states, task_id: state}


def activate_next(collab: Collaboration, now: str) -> Collaboration:
    """The first pending task becomes active; none left: the collaboration completed."""
    pending = next(
        (t for t in collab.tasks if collab.task_states[t.id].status is TaskStatus.PENDING), None
    )
    if pending is None:
        return _with(collab, now, status=CollaborationStatus.COMPLETED)
    state = TaskState(status=TaskStatus.ACTIVE, activated_at=now, attempt=1)
    return _with(
        collab,
        now,
        status=CollaborationStatus.IN_PROGRESS,
        task_states=_states(collab, pending.id, state),
    )


def complete_task(
    collab: Collaboration, task: TaskDefinition, result: dict[str, Any], by: str, now: str
) -> Collaboration:
    state = replace(
        collab.task_states[task.id],
        status=TaskStatus.COMPLETED,
        result=result,
        submitted_by=by,
        finished_at=now,
    )
    done = _with(collab, now, task_states=_states(collab, task.id, state))
    if task.type is TaskType.APPROVAL and result.get("approval_decision") == "rejected":
        return replace(done, status=CollaborationStatus.FAILED, reason=f"{task.id}: rejected")
    return activate_next(done, now)


def acknowledge(
    collab: Collaboration, task: TaskDefinition, org_id: str, by: str, now: str
) -> Collaboration:
    state = collab.task_states[task.id]
    acked = tuple(dict.fromkeys((*state.acknowledged_by, org_id)))
    if set(acked) >= set(task.target_orgs):
        return complete_task(collab, task, {"acknowledged_by": list(acked)}, by, now)
    updated = replace(state, acknowledged_by=acked)
    return _with(collab, now, task_states=_states(collab, task.id, updated))


def time_out(collab: Collaboration, task: TaskDefinition, now: str) -> Collaboration:
    """An active task past its timeout: tried again while retries last, else failed."""
    state = collab.task_states[task.id]
    if state.attempt <= task.retries:
        again = replace(state, attempt=state.attempt + 1, activated_at=now)
        return _with(collab, now, task_states=_states(collab, task.id, again))
    failed = replace(state, status=TaskStatus.FAILED, finished_at=now)
    return _with(
        collab,
        now,
        task_states=_states(collab, task.id, failed),
        status=CollaborationStatus.FAILED,
        reason=f"{task.id}: timed out",
    )


def join(collab: Collaboration, org_id: str, now: str) -> Collaboration:
    """A participant's hub took the collaboration; all of them: it is ready to start."""
    joined = tuple(dict.fromkeys((*collab.joined, org_id)))
    status = collab.status
    if status is CollaborationStatus.CREATED and set(joined) >= set(collab.org_ids()):
        status = CollaborationStatus.READY
    joined_now = _with(collab, now, joined=joined, status=status)
    if status is CollaborationStatus.READY and collab.auto_start:
        return activate_next(joined_now, now)
    return joined_now


def terminate(collab: Collaboration, org_id: str, reason: str, now: str) -> Collaboration:
    return _with(
        collab,
        now,
        status=CollaborationStatus.TERMINATED,
        reason=reason,
        terminated_by=org_id,
    )


# --- the state as carried between hubs ------------------------------------------------------


def to_document(collab: Collaboration) -> dict[str, Any]:
    return {
        "id": collab.id,
        "name": collab.name,
        "initiator": collab.initiator,
        "status": collab.status.value,
        "version": collab.version,
        "created_at": collab.created_at,
        "updated_at": collab.updated_at,
        "reason": collab.reason,
        "terminated_by": collab.terminated_by,
        "joined": list(collab.joined),
        "auto_start": collab.auto_start,
        "participants": [
            {
                "organisation": p.org_id,
                "name": p.name,
                "role": p.role.value,
                "can_terminate": p.can_terminate,
                "need_activity_notifications": p.need_activity_notifications,
            }
            for p in collab.participants
        ],
        "tasks": [_task_document(t, collab.task_states[t.id]) for t in collab.tasks],
    }


def _task_document(task: TaskDefinition, state: TaskState) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type.value,
        "title": task.title,
        "assigned_to": task.assigned_org,
        "parameters": task.parameters,
        "timeout_s": task.timeout_s,
        "retries": task.retries,
        "target_orgs": list(task.target_orgs),
        "data_schema": task.data_schema,
        "share_fields": list(task.share_fields) if task.share_fields is not None else None,
        "encryption_required": task.encryption_required,
        "message": task.message,
        "requires_acknowledgment": task.requires_acknowledgment,
        "status": state.status.value,
        "result": state.result,
        "submitted_by": state.submitted_by,
        "activated_at": state.activated_at,
        "finished_at": state.finished_at,
        "attempt": state.attempt,
        "acknowledged_by": list(state.acknowledged_by),
    }


def from_document(doc: Mapping[str, Any]) -> Collaboration:
    """A copy from the initiator's `collaboration.state` message (already verified as
    signed by the initiator); a malformed one raises ValueError."""
    try:
        participants = tuple(
            Participant(
                org_id=str(p["organisation"]),
                name=str(p.get("name", "")),
                role=Role(p["role"]),
                can_terminate=bool(p.get("can_terminate")),
                need_activity_notifications=bool(p.get("need_activity_notifications")),
            )
            for p in doc["participants"]
        )
        tasks, states = [], {}
        for t in doc["tasks"][:MAX_TASKS]:
            share = t.get("share_fields")
            tasks.append(
                TaskDefinition(
                    id=str(t["id"]),
                    type=TaskType(t["type"]),
                    assigned_org=str(t["assigned_to"]),
                    title=str(t.get("title", "")),
                    parameters=dict(t.get("parameters") or {}),
                    timeout_s=int(t.get("timeout_s", DEFAULT_TASK_TIMEOUT_S)),
                    retries=int(t.get("retries", 0)),
                    target_orgs=tuple(str(o) for o in t.get("target_orgs") or ()),
                    data_schema=t.get("data_schema"),
                    share_fields=tuple(share) if share is not None else None,
                    encryption_required=bool(t.get("encryption_required", True)),
                    message=str(t.get("message", "")),
                    requires_acknowledgment=bool(t.get("requires_acknowledgment")),
                )
            )
            states[str(t["id"])] = TaskState(
                status=TaskStatus(t["status"]),
                result=t.get("result"),
                submitted_by=t.get("submitted_by"),
                activated_at=t.get("activated_at"),
                finished_at=t.get("finished_at"),
                attempt=int(t.get("attempt", 0)),
                acknowledged_by=tuple(t.get("acknowledged_by") or ()),
            )
        return Collaboration(
            id=str(doc["id"]),
            name=str(doc["name"]),
            initiator=str(doc["initiator"]),
            participants=participants,
            tasks=tuple(tasks),
            status=CollaborationStatus(doc["status"]),
            task_states=states,
            version=int(doc["version"]),
            created_at=str(doc["created_at"]),
            updated_at=str(doc["updated_at"]),
            reason=doc.get("reason"),
            terminated_by=doc.get("terminated_by"),
            joined=tuple(str(o) for o in doc.get("joined") or ()),
            auto_start=bool(doc.get("auto_start")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed collaboration state: {exc}") from None


def with_names(collab: Collaboration, names: Mapping[str, str]) -> Collaboration:
    participants = tuple(replace(p, name=names.get(p.org_id, p.name)) for p in collab.participants)
    return replace(collab, participants=participants)


def new_collaboration(
    collab_id: str,
    name: str,
    participants: Sequence[Participant],
    tasks: Sequence[TaskDefinition],
    now: str,
) -> Collaboration:
    initiator = next(p.org_id for p in participants if p.role is Role.INITIATOR)
    return Collaboration(
        id=collab_id,
        name=name,
        initiator=initiator,
        participants=tuple(participants),
        tasks=tuple(tasks),
        status=CollaborationStatus.CREATED,
        task_states={t.id: TaskState() for t in tasks},
        version=1,
        created_at=now,
        updated_at=now,
        joined=(initiator,),
    )
