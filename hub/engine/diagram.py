"""Diagrams of a definition: Mermaid flowcharts and Graphviz DOT, deterministic text.

Nodes follow the definition's step order and show id and type; edges carry the case value,
``default``, ``rule N``, ``error`` (on_error goto), ``timeout`` (on_timeout) or
``branch N``. A parallel step's branches are drawn as chains from the parallel step, each
ending in a ``join`` edge to the parallel step's ``next``. Compensations are not steps and
are not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hub.engine.graph import step_edges
from hub.engine.model import ParallelStep, Step, WorkflowDefinition

_MERMAID_SHAPES = {
    "activity": ('["', '"]'),
    "decision": ('{"', '"}'),
    "timer": ('{{"', '"}}'),
    "wait": ('{{"', '"}}'),
    "user_task": ('[/"', '"/]'),
    "parallel": ('[/"', '"\\]'),
    "subworkflow": ('[["', '"]]'),
    "end": ('(["', '"])'),
}
_DOT_SHAPES = {
    "activity": "box",
    "decision": "diamond",
    "timer": "hexagon",
    "wait": "hexagon",
    "user_task": "parallelogram",
    "parallel": "trapezium",
    "subworkflow": "box3d",
    "end": "doublecircle",
}
_DASHED = frozenset({"error", "timeout"})
_DOT_START = "(start)"  # parentheses cannot appear in a step id, so no clash


@dataclass(frozen=True)
class DiagramEdge:
    source: str
    target: str
    label: str
    dashed: bool = False


def diagram_edges(definition: WorkflowDefinition) -> list[DiagramEdge]:
    """Edges as drawn: parallel branches become chains that join at the step's next."""
    edges: list[DiagramEdge] = []
    for step in definition.steps.values():
        if isinstance(step, ParallelStep):
            edges.extend(_parallel_edges(step))
            continue
        for edge in step_edges(step):
            edges.append(DiagramEdge(step.id, edge.target, edge.label, edge.kind in _DASHED))
    return edges


def _parallel_edges(step: ParallelStep) -> list[DiagramEdge]:
    edges: list[DiagramEdge] = []
    for number, branch in enumerate(step.branches, start=1):
        edges.append(DiagramEdge(step.id, branch[0], f"branch {number}"))
        edges.extend(DiagramEdge(a, b, "") for a, b in pairwise(branch))
        if step.next is not None:
            edges.append(DiagramEdge(branch[-1], step.next, "join"))
    return edges


def to_mermaid(definition: WorkflowDefinition) -> str:
    lines = ["flowchart TD", '    start(("start"))']
    lines += [f"    {_mermaid_node(step)}" for step in definition.steps.values()]
    lines.append(f"    start --> {_mermaid_id(definition.start)}")
    for edge in diagram_edges(definition):
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {_mermaid_id(edge.source)} {arrow}{label} {_mermaid_id(edge.target)}")
    return "\n".join(lines) + "\n"


def _mermaid_id(step_id: str) -> str:
    # A prefix keeps ids such as "end" or "graph" from reading as Mermaid keywords.
    return f"s_{step_id}"


def _mermaid_node(step: Step) -> str:
    opening, closing = _MERMAID_SHAPES[step.type]
    return f"{_mermaid_id(step.id)}{opening}{step.id}<br/>{step.type}{closing}"


def _mermaid_text(text: str) -> str:
    replacements = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "|": "#124;", "\n": " "}
    return "".join(replacements.get(char, char) for char in text)


def to_dot(definition: WorkflowDefinition) -> str:
    lines = [
        f"digraph {_dot_text(definition.ref)} {{",
        "    rankdir=TB;",
        '    node [fontname="Helvetica"];',
        '    edge [fontname="Helvetica"];',
        f'    {_dot_text(_DOT_START)} [shape=circle, label="start"];',
    ]
    for step in definition.steps.values():
        label = _dot_text(f"{step.id}\n{step.type}")
        lines.append(f"    {_dot_text(step.id)} [shape={_DOT_SHAPES[step.type]}, label={label}];")
    lines.append(f"    {_dot_text(_DOT_START)} -> {_dot_text(definition.start)};")
    for edge in diagram_edges(definition):
        attributes = [f"label={_dot_text(edge.label)}"] if edge.label else []
        if edge.dashed:
            attributes.append("style=dashed")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"    {_dot_text(edge.source)} -> {_dot_text(edge.target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
