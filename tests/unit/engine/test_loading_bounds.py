"""Definition text is bounded before or while it is parsed (issue 12, item 4): at most 64
levels of nesting (YAML flow and block, JSON), the body limit in bytes, and a node budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.engine.loading import (
    MAX_NODES,
    DefinitionSyntaxError,
    DefinitionTooDeep,
    load_definition_text,
    load_yaml_text,
)
from hub.services.packs.catalog import PackInvalid, load_pack

HEAD = "name: deep\nversion: 1.0.0\nstart: done\nsteps:\n  done: {type: end}\n"
TOO_DEEP = "nested deeper than 64 levels"


# Each gives a document whose deepest collection is at `levels` (the top mapping is 1).
def _flow(levels: int) -> str:
    return HEAD + "x-deep: " + "[" * (levels - 1) + "1" + "]" * (levels - 1) + "\n"


def _block_mappings(levels: int) -> str:
    lines = "".join(" " * i + f"k{i}:\n" for i in range(1, levels - 1))
    return HEAD + "x-deep:\n" + lines + " " * (levels - 1) + "k: 1\n"


def _block_sequences(levels: int) -> str:
    return HEAD + "x-deep:\n  " + "- " * (levels - 1) + "x\n"


@pytest.mark.parametrize("make", [_flow, _block_mappings, _block_sequences])
def test_yaml_nested_past_64_levels_is_refused_while_composing(make: object) -> None:
    assert callable(make)
    assert load_definition_text(make(64), "application/yaml")["name"] == "deep"
    with pytest.raises(DefinitionTooDeep, match=TOO_DEEP):
        load_definition_text(make(65), "application/yaml")


def test_yaml_with_20000_nested_brackets_is_refused_without_composing_them() -> None:
    started = time.thread_time()
    with pytest.raises(DefinitionTooDeep, match=f"line 6, column 72: definition {TOO_DEEP}"):
        load_definition_text(_flow(20_000), "application/yaml")
    # 22 s in the issue; composing stops at level 65 (a bound on a stall, not a benchmark).
    assert time.thread_time() - started < 5


def test_json_definition_nested_past_64_levels_is_refused_before_decoding() -> None:
    body = '{"name": "deep", "x-deep": ' + "[" * 63 + "1" + "]" * 63 + "}"
    assert load_definition_text(body, "application/json")["name"] == "deep"
    deeper = '{"name": "deep", "x-deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(DefinitionTooDeep, match=TOO_DEEP):
        load_definition_text(deeper, "application/json")


def test_definition_text_over_the_size_limit_is_refused() -> None:
    text = HEAD + "x-note: " + "é" * 600 + "\n"  # 2 bytes each in UTF-8
    assert load_definition_text(text, "application/yaml", max_bytes=2_000)
    with pytest.raises(DefinitionSyntaxError, match="more than 1000 bytes"):
        load_definition_text(text, "application/yaml", max_bytes=1_000)
    with pytest.raises(DefinitionSyntaxError, match="more than 1000 bytes"):
        load_definition_text('{"x": "' + "é" * 600 + '"}', "application/json", max_bytes=1_000)


def test_yaml_composition_stops_at_the_node_budget() -> None:
    items = "".join(f"  - {i}\n" for i in range(2 * MAX_NODES + 10))
    with pytest.raises(DefinitionSyntaxError, match=f"more than {MAX_NODES} values"):
        load_definition_text(HEAD + "x-many:\n" + items, "application/yaml", max_bytes=10**8)


def test_any_yaml_document_gets_the_same_bounds() -> None:
    assert load_yaml_text("a: [1, {b: 2}]") == {"a": [1, {"b": 2}]}
    with pytest.raises(DefinitionTooDeep, match=TOO_DEEP):
        load_yaml_text("a: " + "[" * 100 + "]" * 100)


def test_a_pack_manifest_nested_too_deeply_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "pack.yaml").write_text(
        "name: deep\nversion: 1.0.0\ndescription: " + "[" * 20_000 + "]" * 20_000 + "\n"
    )
    with pytest.raises(PackInvalid, match=TOO_DEEP):
        load_pack(tmp_path)
