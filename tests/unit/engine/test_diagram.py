"""Mermaid and DOT diagrams: every step and edge, deterministic, escaped."""

from __future__ import annotations

import re

from hub.engine.definition import load_definition_text, parse_definition
from hub.engine.diagram import diagram_edges, to_dot, to_mermaid
from hub.engine.graph import all_edges

from .helpers import EXAMPLE, base


def example():  # type: ignore[no-untyped-def]
    return parse_definition(load_definition_text(EXAMPLE.read_text(), "application/yaml"))


def test_mermaid_has_every_step_and_edge() -> None:
    definition = example()
    text = to_mermaid(definition)
    assert text.startswith("flowchart TD\n")
    for step in definition.steps.values():
        assert f"s_{step.id}" in text and f"{step.id}<br/>{step.type}" in text
    assert "start --> s_validate_event" in text
    assert 's_severity_decision -->|"high"| s_emergency_response' in text
    assert 's_severity_decision -->|"default"| s_log_event' in text
    assert 's_wait_for_telemetry -.->|"timeout"| s_escalate' in text
    assert 's_assess_severity -.->|"error"| s_log_event' in text
    assert 's_checks -->|"branch 1"| s_quality_a' in text
    assert "s_quality_a --> s_quality_b" in text
    assert 's_inventory -->|"join"| s_run_child' in text
    assert 's_assess -->|"rule 2"| s_material_confirmation' in text
    arrows = [line for line in text.splitlines() if "-->" in line or "-.->" in line]
    assert len(arrows) == len(diagram_edges(definition)) + 1  # + the start arrow


def test_every_graph_edge_is_drawn() -> None:
    definition = example()
    drawn = {(e.source, e.target) for e in diagram_edges(definition)}
    for edge in all_edges(definition.steps):
        if edge.kind == "branch":
            continue  # drawn as chains; the heads are checked above
        assert (edge.source, edge.target) in drawn or edge.source == "checks"


def test_dot_has_every_step_and_edge() -> None:
    definition = example()
    text = to_dot(definition)
    assert text.startswith('digraph "safety-monitoring@1.2.0" {\n')
    assert text.rstrip().endswith("}")
    for step in definition.steps.values():
        assert f'"{step.id}" [shape=' in text
    assert '"severity_decision" -> "alert_operators" [label="medium"];' in text
    assert '"wait_for_telemetry" -> "escalate" [label="timeout", style=dashed];' in text
    assert '"(start)" -> "validate_event";' in text
    assert len(re.findall(r" -> ", text)) == len(diagram_edges(definition)) + 1


def test_diagrams_are_deterministic_and_escape_labels() -> None:
    data = base(
        route={
            "type": "decision",
            "expression": "steps.fetch.output.ok",
            "cases": {'say "hi" | <b>': "done", "false": "pause"},
            "default": "done",
        },
        done={"type": "end"},
    )
    first, second = parse_definition(data), parse_definition(data)
    assert to_mermaid(first) == to_mermaid(second)
    assert to_dot(first) == to_dot(second)
    assert '-->|"say #quot;hi#quot; #124; #lt;b#gt;"| s_done' in to_mermaid(first)
    assert '[label="say \\"hi\\" | <b>"]' in to_dot(first)


def test_an_end_step_named_end_is_safe_in_mermaid() -> None:
    data = base(end={"type": "end"}, done=None)
    data["steps"]["route"]["cases"]["true"] = "end"
    text = to_mermaid(parse_definition(data))
    assert "s_end([" in text and 's_route -->|"true"| s_end' in text
