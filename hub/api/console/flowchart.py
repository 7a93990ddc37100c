"""A workflow's step graph laid out for an SVG drawn by the server: layers from the start
down, back edges (loops) routed up the right-hand side. Pure: ids, kinds and edges in,
coordinates out; the templates draw it (templates/runs/_diagram.html), text escaped.

The layout is a small layered one of our own:

1. a depth-first walk from the start finds the back edges (an edge to a step still on the
   walk's stack: a loop); without them the graph is acyclic;
2. each node's layer is its longest distance from the start along the remaining edges
   (nodes the start does not reach are walked after it, in the given order);
3. within a layer, nodes keep the walk's order, then two sweeps down order each layer by
   the mean slot of its predecessors (fewer crossings; ties keep the walk's order);
4. coordinates: layers are rows, centred; forward edges are curves from the bottom of
   the source to the top of the target; back edges leave the source's right side, run up
   a lane right of the drawing (one lane each) and enter the target's right side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hub.engine.diagram import diagram_edges
from hub.engine.model import WorkflowDefinition

START = "(start)"  # parentheses cannot appear in a step id, so no clash
NODE_W = 168
NODE_H = 46
GAP_X = 36
GAP_Y = 62
MARGIN = 16
LANE = 14  # between back-edge lanes
BACK_LABEL_ROOM = 72  # right of the lanes, for a back edge's label ("timeout")
LABEL_CHARS = 20  # longer ids are cut (with "…"); the full id is in the node's title


@dataclass(frozen=True)
class EdgeSpec:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # a step type, or "start"
    layer: int
    slot: int
    x: int
    y: int
    w: int = NODE_W
    h: int = NODE_H

    @property
    def text(self) -> str:
        return short(self.id)

    @property
    def cx(self) -> int:
        return self.x + self.w // 2


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    label: str
    dashed: bool
    back: bool
    path: str  # SVG path data
    label_x: int
    label_y: int


@dataclass(frozen=True)
class Layout:
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    width: int
    height: int

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)


def short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _walk(
    order: Sequence[str], start: str, successors: dict[str, list[str]]
) -> tuple[list[str], set[tuple[str, str]]]:
    """Preorder of an iterative depth-first walk from `start`, then from every node not
    yet seen (in `order`); and the back edges it found."""
    seen: set[str] = set()
    preorder: list[str] = []
    back: set[tuple[str, str]] = set()
    for root in [start, *order]:
        if root in seen:
            continue
        seen.add(root)
        preorder.append(root)
        on_stack = {root}
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, index = stack[-1]
            children = successors.get(node, [])
            if index >= len(children):
                stack.pop()
                on_stack.discard(node)
                continue
            stack[-1] = (node, index + 1)
            child = children[index]
            if child in on_stack:
                back.add((node, child))
            elif child not in seen:
                seen.add(child)
                preorder.append(child)
                on_stack.add(child)
                stack.append((child, 0))
    return preorder, back


def _layers(
    preorder: Sequence[str], edges: Iterable[tuple[str, str]], back: set[tuple[str, str]]
) -> dict[str, int]:
    """Longest-path layers over the forward edges (an acyclic graph), in topological order."""
    forward = [(a, b) for a, b in edges if (a, b) not in back and a != b]
    incoming = {n: 0 for n in preorder}
    out: dict[str, list[str]] = {n: [] for n in preorder}
    for a, b in forward:
        incoming[b] += 1
        out[a].append(b)
    layer = dict.fromkeys(preorder, 0)
    ready = [n for n in preorder if incoming[n] == 0]
    while ready:
        node = ready.pop(0)
        for child in out[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
    return layer


def _slots(
    preorder: Sequence[str], layer: dict[str, int], edges: Iterable[tuple[str, str]]
) -> list[list[str]]:
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    for node in preorder:
        rows[layer[node]].append(node)
    predecessors: dict[str, list[str]] = {n: [] for n in preorder}
    for a, b in edges:
        if layer[a] < layer[b]:
            predecessors[b].append(a)
    for _ in range(2):
        position = {n: i for row in rows for i, n in enumerate(row)}
        for depth in range(1, len(rows)):
            position.update({n: i for i, n in enumerate(rows[depth - 1])})
            keys = {n: _barycentre(n, i, predecessors, position) for i, n in enumerate(rows[depth])}
            rows[depth] = sorted(rows[depth], key=keys.__getitem__)
    return rows


def _barycentre(
    node: str, index: int, predecessors: dict[str, list[str]], position: dict[str, int]
) -> tuple[float, int]:
    """Where `node` would sit under its predecessors (their mean slot); ties keep `index`."""
    above = [position[p] for p in predecessors[node] if p in position]
    return (sum(above) / len(above) if above else float(index), index)


def layout(kinds: dict[str, str], edges: Sequence[EdgeSpec], start: str) -> Layout:
    """Lay out nodes `kinds` (id -> kind, in the order given) joined by `edges`, walking
    from `start`. Edges naming unknown nodes are left out."""
    order = list(kinds)
    edges = [e for e in edges if e.source in kinds and e.target in kinds]
    successors: dict[str, list[str]] = {}
    for edge in edges:
        successors.setdefault(edge.source, []).append(edge.target)
    preorder, back = (_walk(order, start, successors)) if kinds else ([], set())
    pairs = [(e.source, e.target) for e in edges]
    layer = _layers(preorder, pairs, back)
    rows = _slots(preorder, layer, pairs)
    widest = max((len(row) for row in rows), default=0)
    inner = widest * NODE_W + max(widest - 1, 0) * GAP_X
    nodes: dict[str, Node] = {}
    for depth, row in enumerate(rows):
        span = len(row) * NODE_W + max(len(row) - 1, 0) * GAP_X
        left = MARGIN + (inner - span) // 2
        for slot, node_id in enumerate(row):
            nodes[node_id] = Node(
                node_id,
                kinds[node_id],
                depth,
                slot,
                left + slot * (NODE_W + GAP_X),
                MARGIN + depth * (NODE_H + GAP_Y),
            )
    links: list[Link] = []
    lanes = 0
    right = MARGIN + inner
    for edge in edges:
        a, b = nodes[edge.source], nodes[edge.target]
        if b.layer > a.layer:
            links.append(_forward(edge, a, b))
        else:
            lanes += 1
            links.append(_backward(edge, a, b, right + lanes * LANE))
    width = right + lanes * LANE + MARGIN + (BACK_LABEL_ROOM if lanes else 0)
    height = MARGIN * 2 + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    return Layout(tuple(nodes[n] for n in order), tuple(links), max(width, 1), max(height, 1))


def _forward(edge: EdgeSpec, a: Node, b: Node) -> Link:
    x1, y1 = a.cx, a.y + a.h
    x2, y2 = b.cx, b.y
    bend = (y2 - y1) // 2
    path = f"M{x1},{y1} C{x1},{y1 + bend} {x2},{y2 - bend} {x2},{y2}"
    return Link(
        edge.source,
        edge.target,
        edge.label,
        edge.dashed,
        False,
        path,
        (x1 + x2) // 2,
        (y1 + y2) // 2,
    )


def _backward(edge: EdgeSpec, a: Node, b: Node, lane: int) -> Link:
    y1 = a.y + a.h // 2 + 8
    y2 = b.y + b.h // 2 - 8
    path = f"M{a.x + a.w},{y1} H{lane} V{y2} H{b.x + b.w}"
    return Link(edge.source, edge.target, edge.label, edge.dashed, True, path, lane, (y1 + y2) // 2)


def definition_layout(definition: WorkflowDefinition) -> Layout:
    """A definition's diagram (the edges hub.engine.diagram draws), with a start node."""
    kinds = {START: "start", **{s.id: s.type for s in definition.steps.values()}}
    edges = [EdgeSpec(START, definition.start)]
    edges += [EdgeSpec(e.source, e.target, e.label, e.dashed) for e in diagram_edges(definition)]
    return layout(kinds, edges, START)
