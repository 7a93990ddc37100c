"""YAML and JSON definition text: same definition, clear syntax errors."""

from __future__ import annotations

import json

import pytest

from hub.engine.definition import DefinitionSyntaxError, load_definition_text, parse_definition
from hub.engine.loading import MAX_NODES, UnsupportedContentType

from .helpers import EXAMPLE

YAML_TEXT = """
name: sample
version: "2.0.1"
start: check
triggers:
  - cron: "0 6 * * 1-5"
    input: {since: 2024-01-01}
steps:
  check:
    type: decision
    expression: input.ok
    cases: {true: done, false: later}
  later:
    type: timer
    duration: PT1H
    next: check
  done:
    type: end
    output: {ok: "${input.ok}", checked: 2024-01-01}
"""

JSON_TEXT = """{
  "name": "sample",
  "version": "2.0.1",
  "start": "check",
  "triggers": [{"cron": "0 6 * * 1-5", "input": {"since": "2024-01-01"}}],
  "steps": {
    "check": {"type": "decision", "expression": "input.ok",
              "cases": {"true": "done", "false": "later"}},
    "later": {"type": "timer", "duration": "PT1H", "next": "check"},
    "done": {"type": "end", "output": {"ok": "${input.ok}", "checked": "2024-01-01"}}
  }
}"""


def test_yaml_and_json_give_the_same_definition() -> None:
    from_yaml = parse_definition(load_definition_text(YAML_TEXT, "application/yaml"))
    from_json = parse_definition(load_definition_text(JSON_TEXT, "application/json"))
    assert from_yaml == from_json
    assert from_yaml.steps["later"] == from_json.steps["later"]
    assert from_yaml.triggers[0].input is not None
    assert from_yaml.triggers[0].input.source == {"since": "2024-01-01"}  # not a date object


def test_the_example_round_trips_through_json() -> None:
    data = load_definition_text(EXAMPLE.read_text(), "text/yaml")
    again = load_definition_text(json.dumps(data), "application/json; charset=utf-8")
    assert parse_definition(again) == parse_definition(data)


@pytest.mark.parametrize("content_type", ["application/x-yaml", "text/yaml", "application/yaml"])
def test_yaml_content_types(content_type: str) -> None:
    assert load_definition_text("name: x\n", content_type) == {"name": "x"}


@pytest.mark.parametrize(
    ("text", "content_type", "fragment"),
    [
        ("name: [unclosed\n", "application/yaml", "invalid YAML at line 2"),
        ("a: 1\n  b: 2\n", "application/yaml", "invalid YAML at line 2, column 4"),
        ("steps:\n  a: 1\n  a: 2\n", "application/yaml", "duplicate key 'a'"),
        ("- just\n- a list\n", "application/yaml", "must be a mapping at the top level, got list"),
        ("", "application/yaml", "got empty"),
        ("a: !!python/object:os.system ls\n", "application/yaml", "invalid YAML"),
        ("a: .nan\n", "application/yaml", "not a JSON number"),
        ('{"name": "x",}', "application/json", "invalid JSON at line 1, column 14"),
        ('{"a": 1, "a": 2}', "application/json", "duplicate key 'a'"),
        ('{"a": NaN}', "application/json", "NaN is not a JSON number"),
        ("[1, 2]", "application/json", "got list"),
    ],
)
def test_syntax_errors(text: str, content_type: str, fragment: str) -> None:
    with pytest.raises(DefinitionSyntaxError) as info:
        load_definition_text(text, content_type)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unsupported_content_type() -> None:
    with pytest.raises(UnsupportedContentType, match="unsupported content type 'text/plain'"):
        load_definition_text("name: x", "text/plain")


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(DefinitionSyntaxError, match=f"more than {MAX_NODES} values"):
        load_definition_text("\n".join(lines), "application/yaml")
