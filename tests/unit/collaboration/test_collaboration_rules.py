"""The collaboration model's rules, as pure functions (hub/domain/collaboration.py)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.domain.collaboration import (
    Collaboration,
    CollaborationStatus,
    TaskStatus,
    acknowledge,
    activate_next,
    check_may_submit,
    check_may_terminate,
    complete_task,
    from_document,
    join,
    new_collaboration,
    parse_definition,
    terminate,
    time_out,
    to_document,
    visible_to,
)
from hub.domain.errors import Forbidden, NotFound, ValidationFailed

ME, SUPPLIER, INSPECTOR, OUTSIDER = "org-me", "org-supplier", "org-inspector", "org-out"
NOW = "2027-01-01T00:00:00.000000Z"


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "chain",
        "participants": [
            {"organisation": "self", "role": "initiator", "can_terminate": True},
            {"organisation": SUPPLIER},
            {"organisation": INSPECTOR, "can_terminate": True},
        ],
        "tasks": [
            {"id": "approve", "type": "approval", "assigned_to": SUPPLIER, "retries": 1},
            {"id": "inspect", "type": "approval", "assigned_to": INSPECTOR},
            {"id": "tell", "type": "notification", "assigned_to": "self",
             "target_orgs": [SUPPLIER, INSPECTOR], "requires_acknowledgment": True},
        ],
    }  # fmt: skip
    body.update(changes)
    return body


def _started() -> Collaboration:
    name, participants, tasks = parse_definition(_body(), ME)
    collab = new_collaboration("c1", name, participants, tasks, NOW)
    for org in (SUPPLIER, INSPECTOR):
        collab = join(collab, org, NOW)
    assert collab.status is CollaborationStatus.READY
    return activate_next(collab, NOW)


def test_a_definition_is_refused_naming_every_bad_field() -> None:
    body = _body(
        participants=[
            {"organisation": SUPPLIER, "role": "initiator"},
            {"organisation": SUPPLIER, "extra": 1},
        ],
        tasks=[
            {"id": "Bad Id", "type": "approval", "assigned_to": OUTSIDER, "timeout_s": 0},
            {"id": "x", "type": "teleport", "assigned_to": "self"},
            {"id": "d", "type": "data_exchange", "assigned_to": SUPPLIER, "target_orgs": []},
        ],
    )
    with pytest.raises(ValidationFailed) as refused:
        parse_definition(body, ME)
    fields = {p.field for p in refused.value.problems}
    assert {
        "participants",
        "participants[1]",
        "tasks[0].id",
        "tasks[0].assigned_to",
        "tasks[0].timeout_s",
        "tasks[1].type",
        "tasks[2].target_orgs",
        "tasks[2].data_schema",
    } <= fields


def test_tasks_run_in_order_and_only_the_assigned_organisation_submits() -> None:
    collab = _started()
    assert collab.current is not None and collab.current.id == "approve"
    with pytest.raises(Forbidden):
        check_may_submit(collab, "approve", INSPECTOR)
    with pytest.raises(Forbidden):  # not active yet
        check_may_submit(collab, "inspect", INSPECTOR)
    task = check_may_submit(collab, "approve", SUPPLIER)
    collab = complete_task(collab, task, {"approval_decision": "approved"}, "s", NOW)
    assert collab.current is not None and collab.current.id == "inspect"
    task = check_may_submit(collab, "inspect", INSPECTOR)
    collab = complete_task(collab, task, {"approval_decision": "approved"}, "i", NOW)
    tell = check_may_submit(collab, "tell", SUPPLIER)  # a notification's target acknowledges
    collab = acknowledge(collab, tell, SUPPLIER, "s", NOW)
    assert collab.status is CollaborationStatus.IN_PROGRESS  # the inspector has not yet
    collab = acknowledge(collab, tell, INSPECTOR, "i", NOW)
    assert collab.status is CollaborationStatus.COMPLETED


def test_a_rejection_fails_the_collaboration() -> None:
    collab = _started()
    task = collab.task("approve")
    failed = complete_task(collab, task, {"approval_decision": "rejected"}, "s", NOW)
    assert failed.status is CollaborationStatus.FAILED
    assert failed.reason == "approve: rejected"


def test_a_timeout_retries_then_fails() -> None:
    collab = _started()
    task = collab.task("approve")
    again = time_out(collab, task, NOW)
    assert again.status is CollaborationStatus.IN_PROGRESS
    assert again.task_states["approve"].attempt == 2
    failed = time_out(again, task, NOW)
    assert failed.status is CollaborationStatus.FAILED
    assert failed.task_states["approve"].status is TaskStatus.FAILED


def test_only_participants_see_and_only_those_allowed_terminate() -> None:
    collab = _started()
    with pytest.raises(NotFound):
        visible_to(collab, OUTSIDER)
    with pytest.raises(Forbidden):
        check_may_terminate(collab, SUPPLIER)  # a participant without can_terminate
    with pytest.raises(NotFound):
        check_may_terminate(collab, OUTSIDER)
    check_may_terminate(collab, INSPECTOR)
    ended = terminate(collab, INSPECTOR, "quality issue", NOW)
    assert ended.status is CollaborationStatus.TERMINATED
    with pytest.raises(Forbidden):
        check_may_terminate(ended, ME)  # already ended


def test_the_state_document_round_trips_and_a_malformed_one_is_refused() -> None:
    collab = _started()
    assert from_document(to_document(collab)) == collab
    doc = to_document(collab)
    doc["status"] = "exploded"
    with pytest.raises(ValueError):
        from_document(doc)
    with pytest.raises(ValueError):
        from_document({"id": "x"})
