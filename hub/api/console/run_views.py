"""What the Runs pages derive from a run and its history as the API returns them (event
dicts: seq, type, step, data, ts): which steps ran and which edges the run took, the
timeline's rows with durations, JSON shown as text, and the small formatting helpers.
Pure: no I/O; the engine decides, these only read its record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_JSON_CHARS = 20_000  # a value shown in the page; longer ones are cut, and say so
MAX_DETAIL_CHARS = 240  # an event's other data on its timeline row

# An event of these types naming a step that is not under way enters it (a new pass).
ENTRY_TYPES = frozenset(
    {
        "StepScheduled",
        "TimerStarted",
        "WaitStarted",
        "UserTaskCreated",
        "BranchStarted",
        "ChildStarted",
        "EndReached",
    }
)
# ... and these finish the step's pass (the run moves on along one of its edges).
DONE_TYPES = frozenset(
    {
        "ActivityCompleted",
        "TimerFired",
        "WaitTimedOut",
        "SignalReceived",
        "UserTaskCompleted",
        "DecisionTaken",
        "ChildFinished",
        "BranchJoined",
        "EndReached",
    }
)
# A parallel step releases its branches when it starts them, and stays under way.
RELEASE_TYPES = DONE_TYPES | {"BranchStarted"}
RUN_END_TYPES = frozenset({"RunCompleted", "RunFailed", "RunCancelled"})
FINISHED = frozenset({"completed", "failed", "cancelled"})
FAULT_STATUSES = frozenset({"failed"})  # ISA-101: colour for the abnormal only


@dataclass
class Marks:
    """A run drawn on its diagram: steps it entered, the edges it took, where it is now,
    and steps whose last word was a failure."""

    executed: set[str] = field(default_factory=set)
    current: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    taken: set[tuple[str, str]] = field(default_factory=set)
    entries: list[str] = field(default_factory=list)  # steps in the order they were entered

    def step_state(self, step: str) -> str:
        if step in self.current:
            return "current"
        if step in self.failed:
            return "failed"
        if step in self.executed:
            return "done"
        return "not-reached"


def _ordered(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(events, key=lambda e: int(e.get("seq") or 0))


def run_marks(
    events: Iterable[Mapping[str, Any]],
    edges: Sequence[tuple[str, str]],
    current: Iterable[str],
    start: tuple[str, str] | None = None,
) -> Marks:
    """The path a run took over `edges` (source, target): an edge counts as taken when its
    target was entered after its source had finished (or, for a parallel step, released
    its branches) since the target's previous entry. `start` is the diagram's edge into
    the start step, taken once any step was entered."""
    marks = Marks(current=set(current))
    incoming: dict[str, list[str]] = {}
    for source, target in edges:
        incoming.setdefault(target, []).append(source)
    open_steps: set[str] = set()
    released: dict[str, int] = {}  # step -> seq of its latest release
    entered: dict[str, int] = {}  # step -> seq of its latest entry
    last_type: dict[str, str] = {}
    for event in _ordered(events):
        step, kind, seq = event.get("step"), str(event.get("type")), int(event.get("seq") or 0)
        if not isinstance(step, str) or not step:
            continue
        last_type[step] = kind
        if kind in ENTRY_TYPES and step not in open_steps:
            since = entered.get(step, -1)
            for source in incoming.get(step, []):
                if since < released.get(source, -2) < seq:
                    marks.taken.add((source, step))
            entered[step] = seq
            open_steps.add(step)
            marks.executed.add(step)
            marks.entries.append(step)
        if kind in RELEASE_TYPES:
            released[step] = seq
        if kind in DONE_TYPES:
            open_steps.discard(step)
    marks.failed = {s for s, k in last_type.items() if k == "ActivityFailed"} - marks.current
    if start is not None and marks.executed:
        marks.taken.add(start)
    return marks


@dataclass(frozen=True)
class TimelineRow:
    seq: int
    ts: str
    kind: str
    step: str | None
    attempt: int | None
    duration: float | None  # seconds: the step's pass (or the run) up to this event
    error: str | None
    detail: str  # the event's other data, as compact JSON (cut)

    @property
    def abnormal(self) -> bool:
        return self.error is not None or self.kind in ("RunFailed", "ActivityFailed")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error_of(data: Mapping[str, Any]) -> str | None:
    for key in ("message", "error"):
        value = data.get(key)
        if value not in (None, ""):
            return value if isinstance(value, str) else compact_json(value, MAX_DETAIL_CHARS)
    return None


SHOWN_KEYS = frozenset({"attempt", "message", "error"})


def timeline(events: Iterable[Mapping[str, Any]]) -> list[TimelineRow]:
    """The history as rows, oldest first: each with the attempt it belongs to, its error,
    and, for an event that finishes a step's pass (or the run), how long that took."""
    rows: list[TimelineRow] = []
    began: dict[str, datetime] = {}
    run_began: datetime | None = None
    open_steps: set[str] = set()
    for event in _ordered(events):
        kind = str(event.get("type"))
        step = event.get("step") if isinstance(event.get("step"), str) else None
        data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
        assert isinstance(data, Mapping)
        at = _when(event.get("ts"))
        duration: float | None = None
        if kind == "RunStarted" and at is not None:
            run_began = at
        if step is not None:
            if kind in ENTRY_TYPES and step not in open_steps and at is not None:
                began[step] = at
                open_steps.add(step)
            if kind in DONE_TYPES:
                if at is not None and step in began and kind != "EndReached":
                    duration = (at - began[step]).total_seconds()
                open_steps.discard(step)
        elif kind in RUN_END_TYPES and at is not None and run_began is not None:
            duration = (at - run_began).total_seconds()
        attempt = data.get("attempt")
        others = {k: v for k, v in data.items() if k not in SHOWN_KEYS}
        rows.append(
            TimelineRow(
                seq=int(event.get("seq") or 0),
                ts=str(event.get("ts") or ""),
                kind=kind,
                step=step,
                attempt=attempt if isinstance(attempt, int) else None,
                duration=duration,
                error=_error_of(data),
                detail=compact_json(others, MAX_DETAIL_CHARS) if others else "",
            )
        )
    return rows


def pretty_json(value: Any, limit: int = MAX_JSON_CHARS) -> tuple[str, bool]:
    """`value` as indented JSON text (the template escapes it), cut at `limit` characters;
    and whether it was cut."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > limit:
        return text[:limit], True
    return text, False


def compact_json(value: Any, limit: int) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration_text(seconds: float | None) -> str:
    """A duration for people: `850 ms`, `2.4 s`, `3 min 05 s`, `2 h 03 min`, `1 d 04 h`."""
    if seconds is None:
        return ""
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


def status_class(status: str) -> str:
    """The CSS classes of a run status badge: only a failure is coloured (abnormal)."""
    return "state state--fault" if status in FAULT_STATUSES else "state"


def live(status: str) -> bool:
    """Whether a run in `status` can still change (the page keeps polling it)."""
    return status not in FINISHED


def change_token(*parts: Any) -> str:
    """A short digest of what a polled fragment shows: the same digest, nothing changed."""
    text = json.dumps(parts, default=str, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
