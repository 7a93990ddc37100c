"""The step graph: its edges, and the checks that need the whole graph.

Edges follow every way a run can move: ``next``, decision cases/default/rules, ``on_error``
goto, a wait's ``on_timeout`` and a parallel step's branches (compensations are activities
run while unwinding, not steps, so they add no edges).

Checks: dangling step ids; the start exists and is not inside a branch; each branch step
belongs to one branch only and is entered only by its parallel step; every step is
reachable from the start; an end step is reachable, and (when ids all resolve) every
reachable step can still get to one; and no loop is a busy loop, i.e. every cycle passes
through a timer, wait or user_task step. A parallel step counts as waiting when its
completion cannot be met by branches without such a step.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from hub.engine.fields import Collector
from hub.engine.model import (
    WAITING_STEP_TYPES,
    ActivityStep,
    DecisionStep,
    ParallelStep,
    Step,
    WaitStep,
)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # next | case | default | rule | error | timeout | branch
    label: str
    field: str  # where the source step names the target


def step_edges(step: Step) -> list[Edge]:
    """The steps ``step`` can lead to, in a fixed order."""
    edges: list[Edge] = []
    if isinstance(step, DecisionStep):
        edges.extend(_decision_edges(step))
    if step.next is not None:
        edges.append(Edge(step.id, step.next, "next", "", "next"))
    if isinstance(step, ActivityStep) and step.on_error.step is not None:
        edges.append(Edge(step.id, step.on_error.step, "error", "error", "on_error.goto"))
    if isinstance(step, WaitStep) and step.on_timeout is not None:
        edges.append(Edge(step.id, step.on_timeout, "timeout", "timeout", "on_timeout"))
    if isinstance(step, ParallelStep):
        for b, branch in enumerate(step.branches):
            for s, member in enumerate(branch):
                field = f"branches[{b}][{s}]"
                edges.append(Edge(step.id, member, "branch", f"branch {b + 1}", field))
    return edges


def _decision_edges(step: DecisionStep) -> list[Edge]:
    edges = [
        Edge(step.id, target, "case", key, f"cases.{key}") for key, target in step.cases.items()
    ]
    if step.table is not None and step.table.hit_policy != "collect":
        for index, rule in enumerate(step.table.rules):
            if isinstance(rule.then, str):
                field = f"table.rules[{index}].then"
                edges.append(Edge(step.id, rule.then, "rule", f"rule {index + 1}", field))
    if step.default is not None:
        edges.append(Edge(step.id, step.default, "default", "default", "default"))
    return edges


def all_edges(steps: Mapping[str, Step]) -> list[Edge]:
    return [edge for step in steps.values() for edge in step_edges(step)]


def check_graph(
    steps: Mapping[str, Step], start: str | None, collector: Collector, declared: Collection[str]
) -> None:
    """Check the graph of parsed ``steps``; ``declared`` also holds ids that failed to parse."""
    edges = all_edges(steps)
    dangling = _check_dangling(edges, declared, collector)
    edges = [edge for edge in edges if edge.target in steps]
    owners = _check_branches(edges, start, collector)
    if start is None or start not in steps or len(steps) != len(declared):
        return
    reachable = _reach(start, edges)
    for step_id in steps:
        if step_id not in reachable:
            collector.add(step_id, "id", "unreachable: no path leads here from the start step")
    _check_ends(steps, edges, reachable, owners, collector, check_each=not dangling)
    _check_busy_loops(steps, edges, owners, collector)


def _check_dangling(edges: list[Edge], declared: Collection[str], collector: Collector) -> bool:
    found = False
    for edge in edges:
        if edge.target not in declared:
            collector.add(edge.source, edge.field, f"refers to unknown step {edge.target!r}")
            found = True
    return found


def _check_branches(edges: list[Edge], start: str | None, collector: Collector) -> dict[str, str]:
    owners: dict[str, str] = {}
    for edge in edges:
        if edge.kind != "branch":
            continue
        if edge.target in owners:
            other = owners[edge.target]
            collector.add(
                edge.source, edge.field, f"{edge.target!r} is already in a branch of {other!r}"
            )
        else:
            owners[edge.target] = edge.source
    for edge in edges:
        if edge.kind != "branch" and edge.target in owners:
            collector.add(
                edge.source,
                edge.field,
                f"{edge.target!r} is in a branch of parallel "
                f"step {owners[edge.target]!r} and cannot be entered from elsewhere",
            )
    if start in owners:
        collector.add(None, "start", f"{start!r} is inside a parallel branch")
    return owners


def _reach(origin: str, edges: Iterable[Edge]) -> set[str]:
    graph: dict[str, list[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, []).append(edge.target)
    seen = {origin}
    queue = deque([origin])
    while queue:
        for target in graph.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _check_ends(
    steps: Mapping[str, Step],
    edges: list[Edge],
    reachable: set[str],
    owners: Mapping[str, str],
    collector: Collector,
    *,
    check_each: bool,
) -> None:
    ends = [step_id for step_id in reachable if steps[step_id].type == "end"]
    if not ends:
        collector.add(
            None, "steps", "no end step is reachable from the start step: a run could never finish"
        )
        return
    if not check_each:
        return  # a dangling id already explains why some step cannot finish
    flow = [edge for edge in edges if edge.kind != "branch"]
    reversed_edges = [Edge(e.target, e.source, e.kind, e.label, e.field) for e in flow]
    finishing: set[str] = set()
    for end in ends:
        finishing |= _reach(end, reversed_edges)
    for step_id in steps:
        if step_id in reachable and step_id not in owners and step_id not in finishing:
            collector.add(
                step_id,
                "next",
                "no path from this step to an end step: a run that gets here can never finish",
            )


def _check_busy_loops(
    steps: Mapping[str, Step], edges: list[Edge], owners: Mapping[str, str], collector: Collector
) -> None:
    busy = {
        step_id
        for step_id, step in steps.items()
        if step_id not in owners and not _waits(step, steps)
    }
    graph: dict[str, list[str]] = {step_id: [] for step_id in busy}
    for edge in edges:
        if edge.kind != "branch" and edge.source in busy and edge.target in busy:
            graph[edge.source].append(edge.target)
    order = {step_id: index for index, step_id in enumerate(steps)}
    for component in strongly_connected(graph):
        if len(component) > 1 or component[0] in graph[component[0]]:
            members = sorted(component, key=order.__getitem__)
            collector.add(
                members[0],
                "loop",
                f"busy loop through {', '.join(members)}: a loop "
                "must pass through a timer, wait or user_task step",
            )


def _waits(step: Step, steps: Mapping[str, Step]) -> bool:
    if step.type in WAITING_STEP_TYPES:
        return True
    if not isinstance(step, ParallelStep):
        return False
    instant = sum(
        1
        for branch in step.branches
        if not any(
            member in steps and steps[member].type in WAITING_STEP_TYPES for member in branch
        )
    )
    return instant < step.completion.needed(len(step.branches))


def strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, without recursion (graphs may be deep)."""
    return _Tarjan(graph).run()


class _Tarjan:
    def __init__(self, graph: Mapping[str, list[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.components: list[list[str]] = []

    def run(self) -> list[list[str]]:
        for root in self.graph:
            if root not in self.index:
                self._search(root)
        return self.components

    def _search(self, root: str) -> None:
        work = [self._enter(root)]
        while work:
            node, targets = work[-1]
            target = self._next_unvisited(node, targets)
            if target is not None:
                work.append(self._enter(target))
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[node])
            self._close(node)

    def _enter(self, node: str) -> tuple[str, Iterator[str]]:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        return node, iter(self.graph[node])

    def _next_unvisited(self, node: str, targets: Iterator[str]) -> str | None:
        for target in targets:
            if target not in self.index:
                return target
            if target in self.on_stack:
                self.low[node] = min(self.low[node], self.index[target])
        return None

    def _close(self, node: str) -> None:
        if self.low[node] != self.index[node]:
            return
        component: list[str] = []
        while not component or component[-1] != node:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
        self.components.append(component)
