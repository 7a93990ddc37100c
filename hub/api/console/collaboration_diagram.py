"""A collaboration's tasks drawn across organisations: one lane per participant (a row),
one box per task in the order the tasks run (a column each), in the lane of the
organisation it is assigned to; arrows join each task to the next, and a data exchange
or notification has a dashed line to each organisation it goes to. Pure: positions
only; the template (collaboration_diagram.html) draws them, text escaped.

As the run diagram (flowchart.py, runs.css): greys for everything normal, the current
task by weight and a marker, colour only for a failed or stopped task.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from hub.api.console.collaboration_views import STATE_CLASS, org_names, task_state
from hub.domain.collaboration import Collaboration, TaskType

LABEL_W = 176  # the lanes' names, left of the tasks
LANE_H = 84
BOX_W = 184
BOX_H = 50
GAP_X = 48
MARGIN = 12
TITLE_CHARS = 20  # longer titles are cut (with "…"); the full one is in the box's title
NAME_CHARS = 22
DOT_R = 5
SPREAD = 8  # between the delivery lines of one task


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Lane:
    org_id: str
    name: str
    role: str  # initiator | participant
    mine: bool  # the organisation whose portal this is
    y: int
    h: int = LANE_H

    @property
    def label(self) -> str:
        return short(self.name, NAME_CHARS)

    @property
    def cy(self) -> int:
        return self.y + self.h // 2


@dataclass(frozen=True)
class Box:
    task_id: str
    title: str
    kind: str  # the task type, with spaces
    state: str  # collaboration_views.task_state
    org_id: str
    x: int
    y: int
    w: int = BOX_W
    h: int = BOX_H

    @property
    def text(self) -> str:
        return short(self.title, TITLE_CHARS)

    @property
    def css(self) -> str:
        return STATE_CLASS[self.state]

    @property
    def current(self) -> bool:
        return self.state == "active"

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2


@dataclass(frozen=True)
class Link:
    """From one task to the next."""

    source: str
    target: str
    path: str
    taken: bool  # the source finished and the target was reached


@dataclass(frozen=True)
class Delivery:
    """A data exchange or notification going to another organisation's lane."""

    task_id: str
    org_id: str
    path: str
    x: int  # where the dot sits in the target lane
    y: int
    done: bool  # the task completed: delivered (and, for a notification, acknowledged)


@dataclass(frozen=True)
class LaneLayout:
    lanes: tuple[Lane, ...]
    boxes: tuple[Box, ...]
    links: tuple[Link, ...]
    deliveries: tuple[Delivery, ...]
    width: int
    height: int

    @property
    def current(self) -> Box | None:
        return next((b for b in self.boxes if b.current), None)


def _link(a: Box, b: Box) -> Link:
    x1, x2 = a.x + a.w, b.x
    if a.org_id == b.org_id:
        path = f"M{x1},{a.cy} H{x2}"
    else:
        middle = x1 + (x2 - x1) // 2
        path = f"M{x1},{a.cy} H{middle} V{b.cy} H{x2}"
    taken = a.state == "completed" and b.state != "pending"
    return Link(a.task_id, b.task_id, path, taken)


def _deliveries(box: Box, targets: list[Lane], own: Lane) -> list[Delivery]:
    found: list[Delivery] = []
    others = [t for t in targets if t.org_id != own.org_id]
    for i, lane in enumerate(others):
        x = round(box.cx + (i - (len(others) - 1) / 2) * SPREAD)
        if lane.y < own.y:  # above: leave by the box's top, stop short of the dot
            start, end = box.y, lane.cy + DOT_R
        else:
            start, end = box.y + box.h, lane.cy - DOT_R
        path = f"M{x},{start} V{end}"
        found.append(Delivery(box.task_id, lane.org_id, path, x, lane.cy, box.state == "completed"))
    return found


def lane_layout(collab: Collaboration, me: str) -> LaneLayout:
    """The diagram of `collab` as organisation `me` sees it."""
    names = org_names(collab)
    lanes = tuple(
        Lane(p.org_id, names[p.org_id], p.role.value, p.org_id == me, MARGIN + i * LANE_H)
        for i, p in enumerate(collab.participants)
    )
    by_org = {lane.org_id: lane for lane in lanes}
    boxes: list[Box] = []
    deliveries: list[Delivery] = []
    for column, task in enumerate(collab.tasks):
        lane = by_org.get(task.assigned_org)
        if lane is None:  # a malformed copy: a task of nobody's; not drawn
            continue
        box = Box(
            task.id,
            task.title or task.id,
            task.type.value.replace("_", " "),
            task_state(collab, task),
            task.assigned_org,
            MARGIN + LABEL_W + GAP_X // 2 + column * (BOX_W + GAP_X),
            lane.y + (LANE_H - BOX_H) // 2,
        )
        boxes.append(box)
        if task.type in (TaskType.DATA_EXCHANGE, TaskType.NOTIFICATION):
            targets = [by_org[o] for o in task.target_orgs if o in by_org]
            deliveries += _deliveries(box, targets, lane)
    links = tuple(_link(a, b) for a, b in itertools.pairwise(boxes))
    width = MARGIN * 2 + LABEL_W + len(collab.tasks) * (BOX_W + GAP_X)
    height = MARGIN * 2 + len(lanes) * LANE_H
    return LaneLayout(lanes, tuple(boxes), links, tuple(deliveries), width, height)


def describe(layout: LaneLayout, names: Mapping[str, str]) -> str:
    """The diagram in one sentence, for screen readers (the task table says the rest)."""
    current = layout.current
    now = (
        f"current: {current.title} at {names.get(current.org_id, current.org_id)}"
        if current is not None
        else "no task under way"
    )
    return f"Tasks of {len(layout.lanes)} organisations in {len(layout.boxes)} steps; {now}"
