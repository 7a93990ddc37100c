"""The partner portal's pure pieces: what an organisation may do in a collaboration (the
domain's rules, asked), rows and task views, the service's 422s placed on the portal's
fields, and the diagram across organisations (collaboration_views.py,
collaboration_diagram.py)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from hub.api.console import schema_form
from hub.api.console.collaboration_diagram import (
    BOX_W,
    TITLE_CHARS,
    describe,
    lane_layout,
)
from hub.api.console.collaboration_views import (
    action_key,
    actionable,
    approval_problems,
    data_problems,
    may_start,
    may_terminate,
    result_text,
    rows,
    status_class,
    submitter,
    task_views,
)
from hub.domain.collaboration import (
    Collaboration,
    CollaborationStatus,
    acknowledge,
    activate_next,
    complete_task,
    join,
    new_collaboration,
    parse_definition,
    terminate,
    time_out,
    with_names,
)
from hub.domain.errors import FieldProblem

A, B, C = "org-acme-0123456789", "org-globex-0123456789", "org-inspector-0123456789"
NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:05:00Z"
SCHEMA = {
    "type": "object",
    "properties": {"grade": {"type": "string"}, "rows": {"type": "array"}},
    "required": ["grade"],
}


def _collab(*, b_terminates: bool = False, name: str = "Qualification") -> Collaboration:
    body: dict[str, Any] = {
        "name": name,
        "participants": [
            {"organisation": "self", "role": "initiator", "can_terminate": True},
            {"organisation": B, "can_terminate": b_terminates},
            {"organisation": C},
        ],
        "tasks": [
            {"id": "approve", "type": "approval", "assigned_to": B, "title": "Approve it"},
            {
                "id": "specs",
                "type": "data_exchange",
                "assigned_to": B,
                "target_orgs": [A, C],
                "data_schema": SCHEMA,
            },
            {
                "id": "note",
                "type": "notification",
                "assigned_to": "self",
                "target_orgs": [B, C],
                "message": "done",
                "retries": 1,
            },
        ],
    }
    name_, participants, tasks = parse_definition(body, A)
    created = new_collaboration("c1", name_, participants, tasks, NOW)
    return with_names(created, {A: "Acme", B: "Globex", C: "Inspector"})


def _ready() -> Collaboration:
    collab = _collab()
    for org in (B, C):
        collab = join(collab, org, NOW)
    assert collab.status is CollaborationStatus.READY
    return collab


def _done(collab: Collaboration, task_id: str, result: dict[str, Any]) -> Collaboration:
    return complete_task(collab, collab.task(task_id), result, "someone", LATER)


def test_only_the_assigned_organisation_may_act_on_the_current_task() -> None:
    collab = _collab()
    assert actionable(collab, B) is None  # created: nobody acts before the start
    started = activate_next(_ready(), NOW)
    found = actionable(started, B)
    assert found is not None and found.id == "approve"
    assert actionable(started, A) is None and actionable(started, C) is None
    assert actionable(started, "org-outsider") is None  # not a participant: nothing
    after = _done(started, "approve", {"approval_decision": "approved", "comments": ""})
    found = actionable(after, B)
    assert found is not None and found.id == "specs"


def test_a_notification_is_for_each_target_until_it_acknowledged() -> None:
    collab = activate_next(_ready(), NOW)
    collab = _done(collab, "approve", {"approval_decision": "approved", "comments": ""})
    collab = _done(collab, "specs", {"digest": "ab", "fields": ["grade"], "targets": [A, C]})
    note = collab.task("note")
    assert actionable(collab, A) is None  # the sender, not a target
    assert actionable(collab, B) == note and actionable(collab, C) == note
    collab = acknowledge(collab, note, B, "b-user", LATER)
    assert actionable(collab, B) is None  # acknowledged: nothing left for B
    assert actionable(collab, C) == note
    views = {v.id: v for v in task_views(collab, C)}
    assert views["note"].mine and views["note"].acknowledged_by == ("Globex",)


def test_the_action_key_changes_with_a_new_attempt() -> None:
    collab = activate_next(_ready(), NOW)
    collab = _done(collab, "approve", {"approval_decision": "approved", "comments": ""})
    collab = _done(collab, "specs", {"digest": "ab", "fields": [], "targets": []})
    first = action_key(collab, B)
    again = time_out(collab, collab.task("note"), LATER)  # one retry left: attempt 2
    assert first == "note.1" and action_key(again, B) == "note.2"
    assert action_key(again, A) == ""


def test_start_and_terminate_follow_the_domain() -> None:
    collab = _collab()
    assert not may_start(collab, A)  # not every hub has joined yet
    ready = _ready()
    assert may_start(ready, A) and not may_start(ready, B)
    started = activate_next(ready, NOW)
    assert not may_start(started, A)
    assert may_terminate(started, A) and not may_terminate(started, B)
    assert not may_terminate(started, "org-outsider")
    assert may_terminate(activate_next(_collab(b_terminates=True), NOW), B)
    ended = terminate(started, A, "no longer needed", LATER)
    assert not may_terminate(ended, A)  # already ended


def test_task_views_say_what_happened_in_words() -> None:
    collab = activate_next(_ready(), NOW)
    collab = _done(collab, "approve", {"approval_decision": "rejected", "comments": "too dear"})
    views = {v.id: v for v in task_views(collab, B)}
    assert views["approve"].state == "completed" and views["approve"].css == "done"
    assert views["approve"].result == "rejected: too dear"
    assert views["approve"].mine and views["note"].mine  # B is to acknowledge the note
    seen_by_c = {v.id: v.mine for v in task_views(collab, C)}
    assert seen_by_c == {"approve": False, "specs": False, "note": True}  # C only receives
    assert views["specs"].targets == ("Acme", "Inspector")
    assert collab.status is CollaborationStatus.FAILED  # a rejection fails it
    assert status_class(collab.status) == "state state--fault"
    assert status_class("in_progress") == "state"


def test_a_task_under_way_when_the_collaboration_ended_is_stopped() -> None:
    collab = terminate(activate_next(_ready(), NOW), A, "gone", LATER)
    views = {v.id: v for v in task_views(collab, A)}
    assert views["approve"].state == "stopped" and views["approve"].abnormal
    assert views["approve"].css == "failed"  # the fault outline, the only colour
    assert views["specs"].state == "pending" and views["specs"].css == "not-reached"
    layout = lane_layout(collab, A)
    assert layout.current is None


def test_a_partners_submission_names_its_organisation() -> None:
    names = {B: "Globex"}
    assert submitter(names, f"{B}:workflow:run-1") == "Globex: workflow:run-1"
    assert submitter(names, "acme-operator") == "acme-operator"  # the initiator's own user
    assert submitter(names, "org-unknown:someone") == "org-unknown:someone"
    assert submitter(names, None) is None


def test_result_text_for_each_type() -> None:
    collab = _collab()
    names = {A: "Acme", B: "Globex"}
    specs, note = collab.task("specs"), collab.task("note")
    sent = {"digest": "f" * 64, "fields": ["grade"], "targets": [A], "encrypted": True}
    assert result_text(specs, sent, names) == "sent grade (encrypted; sha256 ffffffffffff…)"
    acked = result_text(note, {"acknowledged_by": [B, "org-unknown-0123456789"]}, names)
    assert acked == "acknowledged by Globex, org-unknown-…"
    assert result_text(specs, None, names) == ""


def test_rows_newest_first_with_the_current_task_and_whose_turn() -> None:
    older = replace(activate_next(_ready(), NOW), id="c0", updated_at=NOW)
    newer = replace(activate_next(_ready(), LATER), id="c2", updated_at=LATER)
    found = rows([older, newer], B)
    assert [r.id for r in found] == ["c2", "c0"]
    assert found[0].current == "Approve it (Globex)" and found[0].waiting_for_us
    assert found[0].initiator == "Acme" and not found[0].ours
    assert not rows([newer], A)[0].waiting_for_us and rows([newer], A)[0].ours


# --- 422s on the fields ---


def test_approval_problems_name_the_form_fields() -> None:
    placed = approval_problems(
        [
            FieldProblem("result.approval_decision", "approved or rejected"),
            FieldProblem("comments", "a string of at most 4000"),
            FieldProblem("values", "not a field of this form"),
        ]
    )
    assert placed.fields == {
        "approval_decision": "approved or rejected",
        "comments": "a string of at most 4000",
    }
    assert placed.general == ["values: not a field of this form"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("data", "parameters"),
        ("data.grade", "parameters.grade"),
        ("data.rows.0.x", "parameters.rows[0].x"),
        ("data.a b", "parameters['a b']"),
        ("data.it's", "parameters['it\\'s']"),
        ("data_schema", "data_schema"),  # not the payload: stays, shown above the form
        ("database", "database"),
    ],
)
def test_data_problems_become_form_paths(given: str, expected: str) -> None:
    assert data_problems([FieldProblem(given, "m")]) == [(expected, "m")]


def test_a_required_field_lands_on_its_input() -> None:
    tree = schema_form.build(SCHEMA)
    problems = [
        FieldProblem("data", "'grade' is a required property"),
        FieldProblem("data.rows", "[] is too short"),
        FieldProblem("data_schema", "unusable: x"),
    ]
    placed, general = schema_form.place(tree, data_problems(problems))
    assert placed["p/grade"] == ["required"]
    assert placed["p/rows"] == ["[] is too short"]
    assert general == ["data_schema: unusable: x"]


# --- the diagram ---


def test_each_task_is_a_box_in_its_organisations_lane() -> None:
    collab = activate_next(_ready(), NOW)
    layout = lane_layout(collab, B)
    assert [lane.org_id for lane in layout.lanes] == [A, B, C]
    assert [lane.mine for lane in layout.lanes] == [False, True, False]
    lanes = {lane.org_id: lane for lane in layout.lanes}
    for box in layout.boxes:
        lane = lanes[box.org_id]
        assert lane.y <= box.y and box.y + box.h <= lane.y + lane.h
    xs = [box.x for box in layout.boxes]
    assert all(b - a >= BOX_W for a, b in itertools.pairwise(xs))  # no overlap
    assert layout.boxes[-1].x + BOX_W <= layout.width
    assert layout.lanes[-1].y + layout.lanes[-1].h <= layout.height
    assert [b.state for b in layout.boxes] == ["active", "pending", "pending"]
    assert layout.current is not None and layout.current.task_id == "approve"
    assert "current: Approve it at Globex" in describe(layout, {B: "Globex"})


def test_links_join_the_tasks_in_order_and_deliveries_reach_the_targets() -> None:
    collab = activate_next(_ready(), NOW)
    collab = _done(collab, "approve", {"approval_decision": "approved", "comments": ""})
    layout = lane_layout(collab, A)
    assert [(link.source, link.target) for link in layout.links] == [
        ("approve", "specs"),
        ("specs", "note"),
    ]
    first, second = layout.links
    assert first.taken and not second.taken  # approve done, specs reached
    assert " V" not in first.path  # the same lane: straight
    assert " V" in second.path  # Globex to Acme: down a lane change
    lanes = {lane.org_id: lane for lane in layout.lanes}
    specs = {d.org_id: d for d in layout.deliveries if d.task_id == "specs"}
    assert set(specs) == {A, C}  # to both targets, none to its own lane
    assert specs[A].y == lanes[A].cy and specs[C].y == lanes[C].cy
    assert specs[A].x != specs[C].x  # side by side, not on top of each other
    note = {d.org_id for d in layout.deliveries if d.task_id == "note"}
    assert note == {B, C}
    assert not any(d.done for d in layout.deliveries)


def test_titles_are_cut_for_the_box_and_kept_whole_for_the_title() -> None:
    hostile = "<img src=x onerror=alert(1)> " * 3
    collab = activate_next(replace(_ready(), name=hostile), NOW)
    task = replace(collab.tasks[0], title=hostile)
    collab = replace(collab, tasks=(task, *collab.tasks[1:]))
    box = lane_layout(collab, A).boxes[0]
    assert box.title == hostile
    assert len(box.text) == TITLE_CHARS and box.text.endswith("…")
