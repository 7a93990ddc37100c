"""The Runs pages' diagram layout (hub/api/console/flowchart.py): layers from the start
down, loops routed as back edges, nodes never overlapping, every edge drawn."""

from __future__ import annotations

import itertools

import yaml

from hub.api.console.flowchart import (
    GAP_X,
    LABEL_CHARS,
    NODE_H,
    START,
    EdgeSpec,
    Layout,
    definition_layout,
    layout,
    short,
)
from hub.engine.definition import parse_definition

LOOP = """
name: loop
version: 1.0.0
start: fetch
steps:
  fetch: {type: activity, activity: noop, next: check}
  check:
    type: decision
    expression: "size(steps.fetch) > 0"
    cases: {"true": done}
    default: pause
  pause: {type: timer, duration: 5s, next: fetch}
  done: {type: end}
"""
PARALLEL = """
name: fan
version: 1.0.0
start: split
steps:
  split:
    type: parallel
    branches: [[a1, a2], [b1]]
    next: finish
  a1: {type: activity, activity: noop}
  a2: {type: activity, activity: noop}
  b1: {type: timer, duration: 1s}
  finish: {type: end}
"""


def _overlap(a: object, b: object) -> bool:
    ax, ay, aw, ah = (getattr(a, k) for k in ("x", "y", "w", "h"))
    bx, by, bw, bh = (getattr(b, k) for k in ("x", "y", "w", "h"))
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _assert_sane(drawn: Layout) -> None:
    for a, b in itertools.combinations(drawn.nodes, 2):
        assert not _overlap(a, b), (a.id, b.id)
    for node in drawn.nodes:
        assert node.x >= 0 and node.x + node.w <= drawn.width
        assert node.y >= 0 and node.y + node.h <= drawn.height


def test_a_chain_is_one_column_of_layers() -> None:
    kinds = {"s": "start", "a": "activity", "b": "timer", "c": "end"}
    edges = [EdgeSpec("s", "a"), EdgeSpec("a", "b"), EdgeSpec("b", "c")]
    drawn = layout(kinds, edges, "s")
    assert [n.layer for n in drawn.nodes] == [0, 1, 2, 3]
    assert len({n.x for n in drawn.nodes}) == 1
    assert all(not link.back for link in drawn.links)
    assert drawn.height >= 4 * NODE_H
    _assert_sane(drawn)


def test_a_loop_becomes_a_back_edge_up_the_right_side() -> None:
    drawn = definition_layout(parse_definition(yaml.safe_load(LOOP)))
    layers = {n.id: n.layer for n in drawn.nodes}
    assert layers[START] == 0 and layers["fetch"] == 1 and layers["check"] == 2
    assert layers["pause"] == layers["done"] == 3
    back = [link for link in drawn.links if link.back]
    assert [(b.source, b.target) for b in back] == [("pause", "fetch")]
    rightmost = max(n.x + n.w for n in drawn.nodes)
    assert back[0].label_x > rightmost  # its lane is right of every node
    assert back[0].path.startswith("M") and " V" in back[0].path
    labels = {(link.source, link.target): link.label for link in drawn.links}
    assert labels[("check", "done")] == "true" and labels[("check", "pause")] == "default"
    _assert_sane(drawn)


def test_parallel_branches_sit_side_by_side_and_join() -> None:
    drawn = definition_layout(parse_definition(yaml.safe_load(PARALLEL)))
    nodes = {n.id: n for n in drawn.nodes}
    assert nodes["a1"].layer == nodes["b1"].layer == nodes["split"].layer + 1
    assert abs(nodes["a1"].x - nodes["b1"].x) >= nodes["a1"].w + GAP_X
    assert nodes["finish"].layer > nodes["a2"].layer  # after the longest branch
    pairs = {(link.source, link.target) for link in drawn.links}
    assert {("a2", "finish"), ("b1", "finish"), ("split", "a1"), ("split", "b1")} <= pairs
    _assert_sane(drawn)


def test_self_loops_unreachable_nodes_and_unknown_edges_are_drawn_safely() -> None:
    kinds = {"s": "start", "w": "wait", "orphan": "activity"}
    edges = [EdgeSpec("s", "w"), EdgeSpec("w", "w", "again"), EdgeSpec("w", "nowhere")]
    drawn = layout(kinds, edges, "s")
    assert {n.id for n in drawn.nodes} == {"s", "w", "orphan"}
    assert [(link.source, link.target, link.back) for link in drawn.links] == [
        ("s", "w", False),
        ("w", "w", True),
    ]
    _assert_sane(drawn)


def test_an_empty_graph_has_a_size() -> None:
    drawn = layout({}, [], "s")
    assert drawn.nodes == () and drawn.width >= 1 and drawn.height >= 1


def test_the_layout_is_deterministic_and_wide_graphs_are_centred() -> None:
    kinds = {"s": "start", **{f"n{i}": "activity" for i in range(5)}, "e": "end"}
    edges = [EdgeSpec("s", f"n{i}") for i in range(5)] + [EdgeSpec(f"n{i}", "e") for i in range(5)]
    first, second = layout(kinds, edges, "s"), layout(kinds, edges, "s")
    assert first == second
    nodes = {n.id: n for n in first.nodes}
    centre = nodes["n0"].x + (nodes["n4"].x + nodes["n4"].w - nodes["n0"].x) / 2
    assert abs(nodes["s"].cx - centre) <= 1 and abs(nodes["e"].cx - centre) <= 1
    _assert_sane(first)


def test_long_ids_are_cut_for_the_box_only() -> None:
    long_id = "a" * 64
    assert short(long_id) == "a" * (LABEL_CHARS - 1) + "…"
    assert short("fits") == "fits"
    drawn = layout({"s": "start", long_id: "end"}, [EdgeSpec("s", long_id)], "s")
    assert drawn.node(long_id).id == long_id and len(drawn.node(long_id).text) == LABEL_CHARS
