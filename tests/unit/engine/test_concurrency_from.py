"""`concurrency.from` (docs/WORKFLOWS.md, "Concurrency keys"): its validation, and how the
interpreter stops a keyed run at the step to ask for a slot and enters it once given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hub.engine.definition import parse_definition
from hub.engine.history import EventType, RunState, RunStatus, fold
from hub.engine.interpreter import Interpreter, Transition

from .helpers import find, problems_of

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def definition(**concurrency: Any) -> dict[str, Any]:
    return {
        "name": "cell",
        "version": "1.0.0",
        "concurrency": {"key": "${input.line}", **concurrency},
        "start": "prep",
        "steps": {
            "prep": {"type": "activity", "activity": "noop", "next": "route"},
            "route": {
                "type": "decision",
                "expression": "input.loop",
                "cases": {"true": "machine"},
                "default": "machine",
            },
            "machine": {"type": "activity", "activity": "noop", "next": "pause"},
            "pause": {"type": "timer", "duration": "1s", "next": "again"},
            "again": {
                "type": "decision",
                "expression": "input.loop",
                "cases": {"true": "machine"},
                "default": "both",
            },
            "both": {"type": "parallel", "branches": [["left"], ["right"]], "next": "done"},
            "left": {"type": "activity", "activity": "noop"},
            "right": {"type": "activity", "activity": "noop"},
            "done": {"type": "end"},
        },
    }


def test_from_names_the_step_the_key_is_held_from() -> None:
    assert parse_definition(definition()).concurrency.from_step is None  # type: ignore[union-attr]
    for step in ("prep", "route", "machine", "both"):
        parsed = parse_definition(definition(**{"from": step})).concurrency
        assert parsed is not None and parsed.from_step == step


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5, "must be the id of a step, got a number"),
        (["machine"], "must be the id of a step, got a list"),
        ({"step": "machine"}, "must be the id of a step, got a mapping"),
        (True, "must be the id of a step, got a boolean"),
        ("", "must be the id of a step"),
        ("  ", "must be the id of a step"),
        ("nowhere", "unknown step 'nowhere'"),
        ("done", "is an end"),
        ("left", "in a branch of parallel step 'both'"),
    ],
)
def test_a_bad_from_names_its_field(value: Any, text: str) -> None:
    problems = problems_of(definition(**{"from": value}))
    assert find(problems, None, "concurrency.from", text), problems


def run(keyed: bool = True) -> RunState:
    state = RunState("r1", "t1", "cell", "1.0.0")
    state.keyed = keyed
    return state


def types(transition: Transition) -> list[tuple[str, str | None]]:
    return [(e.type.value, e.step) for e in transition.events]


def test_a_keyed_run_stops_at_the_step_and_asks_for_a_slot() -> None:
    spec = parse_definition(definition(**{"from": "machine"}))
    state = run()
    Interpreter(spec, state, NOW).start({"line": "L1", "loop": False})
    out = Interpreter(spec, state, NOW).activity_succeeded("prep", None)
    assert types(out)[-1] == ("SlotRequested", "machine")
    assert out.slot == "requested"
    assert [(t.kind, t.step) for t in out.tasks] == [("slot", None)]
    assert state.status is RunStatus.QUEUED and state.active == {"machine"}
    # given the slot, it enters the step in the same transition
    taken = Interpreter(spec, state, NOW).slot_taken()
    assert types(taken) == [("SlotTaken", "machine"), ("StepScheduled", "machine")]
    assert taken.slot == "taken" and [(t.kind, t.step) for t in taken.tasks] == [
        ("activity", "machine")
    ]
    assert state.status is RunStatus.RUNNING and state.slot == "taken"
    # a second slot task is spent: nothing happens
    assert Interpreter(spec, state, NOW).slot_taken().events == []


def test_a_loop_back_to_the_step_does_not_ask_again() -> None:
    spec = parse_definition(definition(**{"from": "machine"}))
    state = run()
    Interpreter(spec, state, NOW).start({"line": "L1", "loop": True})
    Interpreter(spec, state, NOW).activity_succeeded("prep", None)
    Interpreter(spec, state, NOW).slot_taken()
    Interpreter(spec, state, NOW).activity_succeeded("machine", None)
    again = Interpreter(spec, state, NOW).timer_fired("pause")
    assert ("StepScheduled", "machine") in types(again)
    assert again.slot is None and "SlotRequested" not in [t for t, _ in types(again)]


def test_a_run_without_a_key_or_a_definition_without_from_never_asks() -> None:
    for spec, state in (
        (parse_definition(definition(**{"from": "machine"})), run(keyed=False)),
        (parse_definition(definition()), run()),
    ):
        Interpreter(spec, state, NOW).start({"line": None, "loop": False})
        out = Interpreter(spec, state, NOW).activity_succeeded("prep", None)
        assert types(out)[-1] == ("StepScheduled", "machine") and out.slot is None


def test_the_history_folds_to_a_run_queued_at_the_step() -> None:
    spec = parse_definition(definition(**{"from": "route"}))
    state = run()
    first = Interpreter(spec, state, NOW).start({"line": "L1", "loop": False})
    second = Interpreter(spec, state, NOW).activity_succeeded("prep", None)
    events = [*first.events, *second.events]
    folded = fold("r1", "t1", "cell", "1.0.0", events)
    assert folded.status is RunStatus.QUEUED and folded.active == {"route"}
    assert (folded.slot, folded.slot_step) == ("requested", "route")
    assert events[-1].type is EventType.SLOT_REQUESTED
    # the decision at the step is taken only once the slot is given
    taken = Interpreter(spec, state, NOW).slot_taken()
    assert types(taken)[:3] == [
        ("SlotTaken", "route"),
        ("StepScheduled", "route"),
        ("DecisionTaken", "route"),
    ]
