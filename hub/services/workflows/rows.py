"""What one workflow transition writes, as rows: the run projection, tasks, user tasks,
child runs, event waits and audit events. Pure functions; the worker commits them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.canonical import CanonicalizationError
from audit.receipt import content_hash
from hub.domain.audit import AuditEvent, Outcome
from hub.domain.ids import new_id
from hub.engine.history import EventType, RunState, RunStatus
from hub.engine.interpreter import Transition

AUDITED = {
    EventType.RUN_STARTED: "workflow.run.start",
    EventType.RUN_COMPLETED: "workflow.run.complete",
    EventType.RUN_FAILED: "workflow.run.fail",
    EventType.RUN_CANCELLED: "workflow.run.cancel",
    EventType.RUN_SUSPENDED: "workflow.run.suspend",
    EventType.RUN_RESUMED: "workflow.run.resume",
    EventType.USER_TASK_COMPLETED: "workflow.task.complete",
}


def task_row(
    run: dict[str, Any],
    *,
    kind: str,
    step: str | None,
    attempt: int,
    due: datetime,
    owner: str | None = None,
    lease_until: datetime | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """A workflow task of `run` (or of `run_id`, a parent or child, at run's priority)."""
    return {
        "id": task_id or new_id(),
        "tenant_id": run["tenant_id"],
        "run_id": run_id or run["id"],
        "kind": kind,
        "step": step,
        "attempt": attempt,
        "priority": run["priority"],
        "due_at": due,
        "lease_owner": owner,
        "lease_until": lease_until if owner else None,
    }


def projection(state: RunState, now: datetime) -> tuple[RunStatus, dict[str, Any]]:
    """The run row's new status and values after the transition."""
    status = run_status(state)
    values: dict[str, Any] = {
        "status": status.value,
        "next_seq": state.next_seq,
        "current_steps": sorted(state.active),
        "updated_at": now,
    }
    if status is RunStatus.COMPLETED:
        values["output"] = state.output
    if status is RunStatus.FAILED:
        values["error"] = state.failure
    return status, values


def run_status(state: RunState) -> RunStatus:
    if state.status.finished or state.status in (RunStatus.SUSPENDED, RunStatus.QUEUED):
        return state.status
    running = any(state.steps[s].status in ("scheduled", "running") for s in state.active)
    return RunStatus.RUNNING if running or not state.active else RunStatus.WAITING


def touches_waits(transition: Transition) -> bool:
    kinds = {e.type for e in transition.events}
    return transition.finished or bool(
        kinds & {EventType.WAIT_STARTED, EventType.WAIT_TIMED_OUT, EventType.SIGNAL_RECEIVED}
    )


def event_waits(state: RunState, transition: Transition) -> dict[str, tuple[str, Any]]:
    """The run's event waits after the transition: step -> (topic filter, match)."""
    if transition.finished:
        return {}
    return {
        step: (name.removeprefix("event:"), state.wait_match.get(step))
        for name, step in state.waiting_for.items()
        if name.startswith("event:")
    }


def user_task_row(run: dict[str, Any], user_task: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant_id": run["tenant_id"],
        "run_id": run["id"],
        "step": user_task.step,
        "title": user_task.title,
        "form": user_task.form,
        "assignee": user_task.assignee,
        "candidate_groups": user_task.candidate_groups,
        "status": "open",
        "due_at": user_task.due,
        "created_at": now,
    }


def child_run_row(
    run: dict[str, Any], child: Any, name: str, version: str, child_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": child_id,
        "tenant_id": run["tenant_id"],
        "workflow": name,
        "version": version,
        "status": RunStatus.RUNNING.value,
        "priority": run["priority"],
        "input": child.input,
        "next_seq": 1,
        "idempotency_key": None,
        "parent_run_id": run["id"],
        "parent_step": child.step,
        "created_at": now,
        "updated_at": now,
    }


def audit_events(
    run: dict[str, Any], transition: Transition, definition_hash: str | None
) -> list[AuditEvent]:
    """The audit entries of the transition's audited events (run lifecycle, task done);
    `definition_hash` is the published definition's (needed when the run finishes)."""
    found = []
    for event in transition.events:
        action = AUDITED.get(event.type)
        if action is None:
            continue
        outcome = Outcome.FAILURE if event.type is EventType.RUN_FAILED else Outcome.SUCCESS
        details = {"workflow": run["workflow"], "version": run["version"]}
        if event.step:
            details["step"] = event.step
        if event.type is EventType.RUN_FAILED:
            details["error"] = str(event.data.get("error"))[:500]
        if event.type in (EventType.RUN_COMPLETED, EventType.RUN_FAILED):
            details.update(receipt_hashes(definition_hash, run, event.data))
        found.append(AuditEvent(action, "workflow_run", run["id"], outcome, details))
    return found


def receipt_hashes(
    definition_hash: str | None, run: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """What a workflow receipt proves (issue 6): SHA-256 of the RFC 8785 form of the
    definition as published, of the input and of the result (the output of a completed run,
    the error of a failed one); None for a value RFC 8785 cannot encode."""
    result = data.get("output") if "output" in data else data.get("error")
    return {
        "definition_hash": definition_hash,
        "input_hash": safe_content_hash(run["input"]),
        "result_hash": safe_content_hash(result),
    }


def safe_content_hash(value: Any) -> str | None:
    try:
        return content_hash(value)
    except (CanonicalizationError, ValueError, TypeError):
        return None


def fair_order(rows: list[Any]) -> list[Any]:
    """Highest priority first, oldest first; tenants of one priority take turns."""
    by_priority: dict[int, dict[str, list[Any]]] = {}
    for row in rows:  # rows come ordered by priority desc, due_at asc
        by_priority.setdefault(row.priority, {}).setdefault(row.tenant_id, []).append(row)
    ordered: list[Any] = []
    for priority in sorted(by_priority, reverse=True):
        queues = list(by_priority[priority].values())
        while queues:
            for queue in list(queues):
                ordered.append(queue.pop(0))
                if not queue:
                    queues.remove(queue)
    return ordered
