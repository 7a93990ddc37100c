"""What the Runs pages read from a run's history (hub/api/console/run_views.py): the path
taken, the timeline's durations and errors, JSON and durations as text."""

from __future__ import annotations

from typing import Any

import pytest

from hub.api.console.run_views import (
    change_token,
    compact_json,
    duration_text,
    live,
    pretty_json,
    run_marks,
    status_class,
    timeline,
)


def ev(
    seq: int, kind: str, step: str | None = None, second: float = 0, **data: Any
) -> dict[str, Any]:
    minute, sec = divmod(second, 60)
    return {
        "seq": seq,
        "type": kind,
        "step": step,
        "data": data,
        "ts": f"2025-01-02T03:{int(minute):02d}:{sec:06.3f}Z",
    }


# pause (timer) -> ack (wait, timeout -> late) -> done
EDGES = [("pause", "ack"), ("ack", "done"), ("ack", "late")]
WAITING = [
    ev(1, "RunStarted", None, 0, input={}),
    ev(2, "TimerStarted", "pause", 0, seconds=1),
    ev(3, "TimerFired", "pause", 1.5),
    ev(4, "WaitStarted", "ack", 1.5, signal="acknowledged", timeout=30),
]


def test_a_waiting_run_has_run_its_timer_and_waits_at_its_wait() -> None:
    marks = run_marks(WAITING, EDGES, ["ack"], start=("(start)", "pause"))
    assert marks.executed == {"pause", "ack"}
    assert marks.taken == {("(start)", "pause"), ("pause", "ack")}
    assert marks.entries == ["pause", "ack"]
    assert marks.step_state("ack") == "current"
    assert marks.step_state("pause") == "done"
    assert marks.step_state("late") == marks.step_state("done") == "not-reached"


def test_the_timeout_edge_is_taken_only_when_the_wait_timed_out() -> None:
    events = [*WAITING, ev(5, "WaitTimedOut", "ack", 31.5), ev(6, "EndReached", "late", 31.5)]
    events.append(ev(7, "RunCompleted", None, 31.5, output="late"))
    marks = run_marks(events, EDGES, [])
    assert ("ack", "late") in marks.taken and ("ack", "done") not in marks.taken
    assert marks.current == set() and marks.step_state("late") == "done"


def test_loops_and_parallel_joins_mark_each_edge_walked() -> None:
    edges = [
        ("a", "t"),
        ("t", "a"),
        ("a", "end"),
        ("p", "b1"),
        ("p", "c1"),
        ("b1", "j"),
        ("c1", "j"),
    ]
    events = [
        ev(1, "StepScheduled", "a"),
        ev(2, "ActivityCompleted", "a"),
        ev(3, "TimerStarted", "t"),
        ev(4, "TimerFired", "t"),
        ev(5, "StepScheduled", "a"),  # the loop: a second pass
        ev(6, "ActivityCompleted", "a"),
        ev(7, "BranchStarted", "p", branches=[["b1"], ["c1"]]),
        ev(8, "StepScheduled", "b1"),
        ev(9, "StepScheduled", "c1"),
        ev(10, "ActivityCompleted", "b1"),
        ev(11, "ActivityCompleted", "c1"),
        ev(12, "BranchJoined", "p"),
        ev(13, "EndReached", "j"),
    ]
    marks = run_marks(events, edges, [])
    assert {
        ("a", "t"),
        ("t", "a"),
        ("p", "b1"),
        ("p", "c1"),
        ("b1", "j"),
        ("c1", "j"),
    } <= marks.taken
    assert ("a", "end") not in marks.taken
    assert marks.entries.count("a") == 2


def test_a_step_that_failed_last_is_marked_failed_and_retries_are_not_new_passes() -> None:
    events = [
        ev(1, "StepScheduled", "call"),
        ev(2, "ActivityFailed", "call", 1, attempt=1, message="boom"),
        ev(3, "RetryScheduled", "call", 2, attempt=2),
        ev(4, "ActivityFailed", "call", 4, attempt=2, message="<img src=x onerror=alert(1)>"),
        ev(5, "RunFailed", None, 4, error="call failed"),
    ]
    marks = run_marks(events, [], [])
    assert marks.failed == {"call"} and marks.entries == ["call"]
    rows = timeline(events)
    assert [r.attempt for r in rows] == [None, 1, 2, 2, None]
    assert rows[3].error == "<img src=x onerror=alert(1)>"  # text; the template escapes it
    assert rows[4].error == "call failed" and rows[4].abnormal


def test_timeline_durations_are_per_pass_and_for_the_run() -> None:
    events = [
        *WAITING,
        ev(5, "SignalReceived", "ack", 75, name="acknowledged", payload={"by": "d"}),
    ]
    events += [ev(6, "EndReached", "done", 75), ev(7, "RunCompleted", None, 75, output={"by": "d"})]
    rows = {r.seq: r for r in timeline(reversed(events))}  # sorted by seq whatever the order
    assert rows[3].duration == pytest.approx(1.5)  # the timer's pass
    assert rows[5].duration == pytest.approx(73.5)  # the wait's pass
    assert rows[6].duration is None  # an end takes no time
    assert rows[7].duration == pytest.approx(75)  # the whole run
    assert rows[2].detail == '{"seconds":1}'
    assert '"payload":{"by":"d"}' in rows[5].detail


def test_malformed_events_do_not_break_the_timeline() -> None:
    rows = timeline([{"seq": 1, "type": "X", "data": None, "ts": "not a time", "step": 3}])
    assert rows[0].step is None and rows[0].duration is None and rows[0].detail == ""


def test_json_is_indented_text_and_cut_when_long() -> None:
    text, cut = pretty_json({"name": "<b>x</b>", "n": [1, 2]})
    assert text.startswith("{\n") and "<b>x</b>" in text and not cut
    text, cut = pretty_json("x" * 100, limit=10)
    assert len(text) == 10 and cut
    assert (
        compact_json({"a": "b" * 50}, 20).endswith("…")
        and len(compact_json({"a": "b" * 50}, 20)) == 20
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (-1, "0 ms"),
        (0.85, "850 ms"),
        (2.44, "2.4 s"),
        (185, "3 min 05 s"),
        (7380, "2 h 03 min"),
        (100_800, "1 d 04 h"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


def test_status_badges_colour_only_failures_and_finished_runs_are_not_live() -> None:
    assert status_class("failed") == "state state--fault"
    assert status_class("queued") == status_class("running") == "state"
    assert live("queued") and live("suspended") and live("some-new-status")
    assert not live("completed") and not live("cancelled") and not live("failed")


def test_change_tokens_differ_when_anything_shown_changes() -> None:
    assert change_token("running", 3) == change_token("running", 3)
    assert change_token("running", 3) != change_token("running", 4)
    assert len(change_token({"a": 1})) == 20
