"""What the partner portal's pages derive from a collaboration (issue 18, item 6): rows of
the list, each task as one organisation sees it, the task it may act on now, and the
service's 422 problems placed on the portal's fields. Pure: the rules are the domain's
(check_may_submit, check_may_terminate), asked here, never restated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.domain.collaboration import (
    ENDED,
    Collaboration,
    CollaborationStatus,
    TaskDefinition,
    TaskStatus,
    TaskType,
    check_may_submit,
    check_may_terminate,
)
from hub.domain.errors import FieldProblem, Forbidden, NotFound

ORG_CHARS = 12  # an organisation id shown without a name: its first characters and "…"
RESULT_CHARS = 240
FAULT = frozenset({CollaborationStatus.FAILED, CollaborationStatus.TERMINATED})
# How a task's state is drawn: the run diagram's classes (runs.css), so the palette is one.
STATE_CLASS = {
    "pending": "not-reached",
    "active": "current",
    "completed": "done",
    "failed": "failed",
    "stopped": "failed",
}
APPROVAL_FIELDS = ("approval_decision", "comments")
DATA_ROOT = "data"  # where the service names a data exchange's payload in its 422s
FORM_ROOT = "parameters"  # where schema_form.place looks for a path
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def short_org(org_id: str) -> str:
    return org_id if len(org_id) <= ORG_CHARS else org_id[:ORG_CHARS] + "…"


def org_names(collab: Collaboration) -> dict[str, str]:
    """Each participant's name as the initiator registered it (its id when unnamed)."""
    return {p.org_id: p.name or short_org(p.org_id) for p in collab.participants}


def name_of(names: Mapping[str, str], org_id: str) -> str:
    return names.get(org_id) or short_org(org_id)


def task_state(collab: Collaboration, task: TaskDefinition) -> str:
    """pending | active | completed | failed | stopped (still active in a collaboration
    that ended: terminated or failed elsewhere)."""
    status = collab.task_states[task.id].status
    if status is TaskStatus.ACTIVE and collab.status in ENDED:
        return "stopped"
    return status.value


def status_class(status: CollaborationStatus | str) -> str:
    """A status badge: colour only for the abnormal ends (ISA-101)."""
    value = CollaborationStatus(status)
    return "state state--fault" if value in FAULT else "state"


def compact(value: Any, limit: int = RESULT_CHARS) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_text(
    task: TaskDefinition, result: Mapping[str, Any] | None, names: Mapping[str, str]
) -> str:
    """A task's result in words (text; the template escapes it)."""
    if not result:
        return ""
    if task.type is TaskType.APPROVAL:
        decision = str(result.get("approval_decision", ""))
        comments = str(result.get("comments") or "")
        return f"{decision}: {comments}" if comments else decision
    if task.type is TaskType.DATA_EXCHANGE:
        fields = ", ".join(str(f) for f in result.get("fields") or []) or "no fields"
        digest = str(result.get("digest") or "")[:12]
        sealed = "encrypted" if result.get("encrypted") else "not encrypted"
        return f"sent {fields} ({sealed}; sha256 {digest}…)"
    if task.type is TaskType.NOTIFICATION:
        orgs = [name_of(names, str(o)) for o in result.get("acknowledged_by") or []]
        return "acknowledged by " + ", ".join(orgs) if orgs else "acknowledged"
    return compact(result)


def submitter(names: Mapping[str, str], by: str | None) -> str | None:
    """Who submitted a result: the initiator records a partner's as `org_id:user`; shown
    as `Name: user`."""
    if by is None:
        return None
    org, _, user = by.partition(":")
    return f"{names[org]}: {user}" if user and org in names else by


@dataclass(frozen=True)
class TaskView:
    """One task as an organisation sees it."""

    id: str
    title: str
    type: str
    assigned_org: str
    assigned_name: str
    targets: tuple[str, ...]  # names of the organisations a data exchange or note goes to
    state: str  # task_state()
    attempt: int
    activated_at: str | None
    finished_at: str | None
    submitted_by: str | None
    result: str
    message: str  # a notification's text
    mine: bool  # assigned to this organisation, or a notification it is to acknowledge
    acknowledged_by: tuple[str, ...]

    @property
    def css(self) -> str:
        return STATE_CLASS[self.state]

    @property
    def abnormal(self) -> bool:
        return self.state in ("failed", "stopped")

    @property
    def kind(self) -> str:
        return self.type.replace("_", " ")


def _mine(task: TaskDefinition, me: str) -> bool:
    """Assigned to `me`, or a notification `me` is to acknowledge."""
    addressed = task.type is TaskType.NOTIFICATION and me in task.target_orgs
    return task.assigned_org == me or addressed


def task_views(collab: Collaboration, me: str) -> list[TaskView]:
    names = org_names(collab)
    views: list[TaskView] = []
    for task in collab.tasks:
        state = collab.task_states[task.id]
        views.append(
            TaskView(
                id=task.id,
                title=task.title or task.id,
                type=task.type.value,
                assigned_org=task.assigned_org,
                assigned_name=name_of(names, task.assigned_org),
                targets=tuple(name_of(names, o) for o in task.target_orgs),
                state=task_state(collab, task),
                attempt=state.attempt,
                activated_at=state.activated_at,
                finished_at=state.finished_at,
                submitted_by=submitter(names, state.submitted_by),
                result=result_text(task, state.result, names),
                message=task.message,
                mine=_mine(task, me),
                acknowledged_by=tuple(name_of(names, o) for o in state.acknowledged_by),
            )
        )
    return views


def actionable(collab: Collaboration, me: str) -> TaskDefinition | None:
    """The task this organisation may submit now (the domain's rule), if any; a
    notification it has acknowledged already is not one."""
    current = collab.current
    if current is None:
        return None
    try:
        task = check_may_submit(collab, current.id, me)
    except (Forbidden, NotFound):
        return None
    if task.type is TaskType.NOTIFICATION and me in collab.task_states[task.id].acknowledged_by:
        return None
    return task


def action_key(collab: Collaboration, me: str) -> str:
    """Which action the page offers (task and attempt): the live fragment compares it."""
    task = actionable(collab, me)
    if task is None:
        return ""
    return f"{task.id}.{collab.task_states[task.id].attempt}"


def may_terminate(collab: Collaboration, me: str) -> bool:
    try:
        check_may_terminate(collab, me)
    except (Forbidden, NotFound):
        return False
    return True


def may_start(collab: Collaboration, me: str) -> bool:
    """Only the initiator starts, once every participant's hub has joined."""
    return collab.initiator == me and collab.status is CollaborationStatus.READY


@dataclass(frozen=True)
class CollaborationRow:
    """A line of the list."""

    id: str
    name: str
    initiator: str
    ours: bool  # this organisation is the initiator
    status: str
    badge: str
    current: str  # the current task's title and organisation, or ""
    updated_at: str
    waiting_for_us: bool  # a task this organisation may act on now


def collaboration_row(collab: Collaboration, me: str) -> CollaborationRow:
    names = org_names(collab)
    current = collab.current
    now = ""
    if current is not None and collab.status is CollaborationStatus.IN_PROGRESS:
        now = f"{current.title or current.id} ({name_of(names, current.assigned_org)})"
    return CollaborationRow(
        id=collab.id,
        name=collab.name,
        initiator=name_of(names, collab.initiator),
        ours=collab.initiator == me,
        status=collab.status.value,
        badge=status_class(collab.status),
        current=now,
        updated_at=collab.updated_at,
        waiting_for_us=actionable(collab, me) is not None,
    )


def rows(collabs: Iterable[Collaboration], me: str) -> list[CollaborationRow]:
    """Newest change first."""
    found = [collaboration_row(c, me) for c in collabs]
    return sorted(found, key=lambda r: r.updated_at, reverse=True)


# --- the service's 422s on the portal's fields ---


@dataclass
class Placed:
    """Problems by the field they name, and those that name none of the form's."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def approval_problems(problems: Iterable[FieldProblem]) -> Placed:
    """`result.approval_decision` (the collaboration service) or `approval_decision` (the
    approval's user task) on the approval form's fields."""
    placed = Placed()
    for problem in problems:
        name = problem.field.removeprefix("result.")
        if name in APPROVAL_FIELDS:
            placed.fields.setdefault(name, problem.message)
        else:
            placed.general.append(f"{problem.field}: {problem.message}")
    return placed


def data_problems(problems: Iterable[FieldProblem]) -> list[tuple[str, str]]:
    """A data exchange's problems (`data.grade`, `data` with "'grade' is a required
    property") as schema_form.place reads them (`parameters.grade`, ...)."""
    out: list[tuple[str, str]] = []
    for problem in problems:
        where = problem.field
        if where == DATA_ROOT or where.startswith((DATA_ROOT + ".", DATA_ROOT + "[")):
            where = _dotted(FORM_ROOT + where[len(DATA_ROOT) :])
        out.append((where, problem.message))
    return out


def _dotted(path: str) -> str:
    """The service joins a payload's path with dots (`data.rows.0.x`); schema_form reads
    indices in brackets and other keys quoted (`parameters.rows[0].x`, `['a b']`)."""
    head, *parts = path.split(".")
    return head + "".join(_segment(p) for p in parts)


def _segment(part: str) -> str:
    if part.isdigit():
        return f"[{part}]"
    if _IDENTIFIER.match(part):
        return f".{part}"
    quoted = part.replace("\\", "\\\\").replace("'", "\\'")
    return f"['{quoted}']"
