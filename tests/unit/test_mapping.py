"""Data mapping (hub.domain.mapping) and the data.map activity with its publish-time check."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.domain.errors import ValidationFailed
from hub.domain.mapping import (
    MAX_FIELDS,
    MAX_INPUT_DEPTH,
    MAX_JSONPATH_CHARS,
    MAX_MATCHES,
    MAX_TEMPLATE_CHARS,
    MappingError,
    compile_mapping,
    mapping_problems,
)
from hub.engine.activities import (
    COMPUTED,
    ActivityContext,
    NonRetryableError,
    builtin_registry,
    check_data_map,
    data_map,
    literal_view,
)
from hub.engine.definition import DefinitionInvalid, parse_definition


def apply(fields: list[dict[str, Any]], data: Any) -> dict[str, Any]:
    return compile_mapping({"fields": fields}).apply(data)


def problems(spec: Any) -> dict[str, str]:
    return {p.field: p.message for p in mapping_problems(spec)}


ORDER = {
    "d": {"SalesOrder": "4711", "CreationDate": "/Date(1709251200000)/", "Net": "1234.5"},
    "customer": {"name": "ACME", "tags": ["a", "b"]},
    "items": [{"sku": " ab ", "qty": "2"}, {"sku": "cd", "qty": 3.5}],
    "prio": 2,
    "empty": None,
}


def test_paths_targets_templates_and_constants() -> None:
    out = apply(
        [
            {"target": "order.id", "path": "$.d.SalesOrder"},
            {"target": "order.items.1.qty", "path": "$.items[1].qty"},
            {"target": "order.title", "template": "Order {d.SalesOrder} for {customer.name}"},
            {"target": "order.kind", "value": {"fixed": True}},
            {"target": "order.first_tag", "template": "{customer.tags.0}{{x}}{nowhere}"},
            {"target": "order.empty", "path": "$.empty"},
        ],
        ORDER,
    )
    assert out == {
        "order": {
            "id": "4711",
            "items": [None, {"qty": 3.5}],
            "title": "Order 4711 for ACME",
            "kind": {"fixed": True},
            "first_tag": "a{x}",
            "empty": None,
        }
    }


def test_missing_values_are_left_out_defaulted_or_required() -> None:
    assert apply([{"target": "a", "path": "$.nope"}], ORDER) == {}
    assert apply([{"target": "a", "path": "$.nope", "default": 0}], ORDER) == {"a": 0}
    assert apply([{"target": "a", "path": "$.empty", "default": 0}], ORDER) == {"a": 0}
    with pytest.raises(MappingError) as caught:
        apply(
            [{"target": "a", "path": "$.b"}, {"target": "b", "path": "$.x", "required": True}], {}
        )
    assert caught.value.field == "fields[1]"


def test_many_and_each() -> None:
    out = apply(
        [
            {
                "target": "skus",
                "path": "$.items[*].sku",
                "many": True,
                "transform": ["trim", "upper"],
            },
            {"target": "big", "path": "$.items[?(@.qty > 3)].sku", "many": True},
            {
                "target": "lines",
                "path": "$.items[*]",
                "each": {"fields": [{"target": "q", "path": "$.qty", "transform": "number"}]},
            },
        ],
        ORDER,
    )
    assert out == {"skus": ["AB", "CD"], "big": ["cd"], "lines": [{"q": 2}, {"q": 3.5}]}


def test_transforms() -> None:
    fields = [
        {"target": "up", "path": "$.customer.name", "transform": "lower"},
        {"target": "n2", "path": "$.d.Net", "transform": {"number": {"decimals": 2}}},
        {"target": "n0", "path": "$.d.Net", "transform": {"number": {"decimals": 0}}},
        {
            "target": "s3",
            "path": "$.prio",
            "transform": {"number": {"decimals": 3, "as": "string"}},
        },
        {"target": "fmt", "path": "$.d.Net", "transform": {"number": ",.2f"}},
        {"target": "d", "path": "$.d.CreationDate", "transform": "date"},
        {"target": "de", "path": "$.d.CreationDate", "transform": {"date": "%d.%m.%Y %H:%M"}},
        {"target": "v2", "value": "2024-03-01T00:00:00Z", "transform": {"date": "odata_v2"}},
        {"target": "iso", "value": "2024-03-01", "transform": {"date": "iso"}},
        {"target": "off", "value": "/Date(0+0060)/", "transform": {"date": "iso"}},
        {"target": "p", "path": "$.prio", "transform": {"lookup": {"table": {"2": "high"}}}},
        {"target": "f", "value": "X", "transform": {"lookup": {"table": {}, "fallback": "?"}}},
        {"target": "dflt", "path": "$.empty", "transform": [{"default": "x"}, "upper"]},
        {"target": "str", "value": True, "transform": "string"},
    ]
    assert apply(fields, ORDER) == {
        "up": "acme",
        "n2": 1234.5,
        "n0": 1235,
        "s3": "2.000",
        "fmt": "1,234.50",
        "d": "2024-03-01",
        "de": "01.03.2024 00:00",
        "v2": "/Date(1709251200000)/",
        "iso": "2024-03-01T00:00:00+00:00",
        "off": "1970-01-01T01:00:00+01:00",
        "p": "high",
        "f": "?",
        "dflt": "X",
        "str": "true",
    }


@pytest.mark.parametrize(
    ("transform", "value"),
    [
        ("number", "12abc"),
        ("number", "1e999"),
        ("date", "yesterday"),
        ("date", "/Date(99999999999999999)/"),
        ({"lookup": {"table": {"a": 1}}}, "b"),
        ("string", {"a": 1}),
    ],
)
def test_bad_values_fail_naming_the_transform(transform: Any, value: Any) -> None:
    with pytest.raises(MappingError) as caught:
        apply(
            [
                {"target": "a", "value": value},
                {"target": "b", "value": value, "transform": transform},
            ],
            {},
        )
    assert caught.value.field == "fields[1].transform"


def test_invalid_specs_name_each_field() -> None:
    found = problems(
        {
            "fields": [
                {"target": "a", "path": "$.a"},
                {"target": "b", "path": "$["},
                {"target": "c", "path": "$.c", "transform": "uppr"},
                {"target": "a", "value": 1},
                {"target": "d.0", "value": 1},
                {"target": "d.x", "value": 1},
                {"target": "e", "path": "$.a * 2"},
                {"target": "f", "path": "$.a[?(@.x =~ 'a.*')]"},
                {"target": "g", "template": "{a b}"},
                {"target": "h", "template": "open {"},
                {"path": "$.x"},
                {"target": "i", "value": 1, "path": "$.x"},
                {"target": "j", "value": 1, "transform": {"number": {"decimals": 99}}},
                {"target": "k", "value": 1, "transform": {"date": "%Q"}},
                {"target": "l", "value": 1, "transform": {"number": "{:>999999}"}},
                {"target": "m", "value": 1, "colour": "red"},
                {"target": "n", "value": 1, "each": {"fields": [{"target": "x", "value": 1}]}},
                {"target": "0", "value": 1},
            ]
        }
    )
    assert found["fields[2].transform"].startswith("unknown transform 'uppr'")
    assert "invalid JSONPath" in found["fields[1].path"]
    assert found["fields[3].target"] == "overlaps the target of fields[0]"
    assert "both a list index and a key" in found["fields[5].target"]
    assert "operation" in found["fields[6].path"]
    assert "regular expression" in found["fields[7].path"]
    assert "placeholder" in found["fields[8].template"]
    assert "unmatched" in found["fields[9].template"]
    assert "is required" in found["fields[10].target"]
    assert "exactly one of" in found["fields[11]"]
    assert "0 to 12" in found["fields[12].transform.number.decimals"]
    assert "strftime" in found["fields[13].transform.date"]
    assert "type f, e, g or %" in found["fields[14].transform.number.format"]
    assert found["fields[15].colour"] == "unknown field"
    assert "need a path" in found["fields[16].value"]
    assert "start with a key" in found["fields[17].target"]
    assert problems([]) == {"mapping": "must be a mapping with a 'fields' list"}
    assert "non-empty" in problems({"fields": []})["fields"]


def test_compile_raises_validation_failed_with_a_prefix() -> None:
    with pytest.raises(ValidationFailed) as caught:
        compile_mapping(
            {"fields": [{"target": "a", "value": 1, "transform": "uppr"}]}, where="mapping"
        )
    assert [p.field for p in caught.value.problems] == ["mapping.fields[0].transform"]


def test_bounds() -> None:
    many = {"fields": [{"target": f"f{i}", "value": i} for i in range(MAX_FIELDS + 1)]}
    assert f"at most {MAX_FIELDS} fields" in problems(many)["fields"]
    long_path = {"fields": [{"target": "a", "path": "$." + "a" * MAX_JSONPATH_CHARS}]}
    assert "characters" in problems(long_path)["fields[0].path"]
    long_text = {"fields": [{"target": "a", "template": "x" * (MAX_TEMPLATE_CHARS + 1)}]}
    assert "characters" in problems(long_text)["fields[0].template"]
    deep_each: dict[str, Any] = {"fields": [{"target": "x", "value": 1}]}
    for _ in range(3):
        deep_each = {"fields": [{"target": "x", "path": "$[*]", "each": deep_each}]}
    assert any("nest" in message for message in problems(deep_each).values())


def test_hostile_input_is_refused_not_exploded() -> None:
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    mapper = compile_mapping({"fields": [{"target": "a", "path": "$..x"}]})
    with pytest.raises(MappingError, match=f"deeper than {MAX_INPUT_DEPTH}"):
        mapper.apply(deep)
    wide = {"items": list(range(MAX_MATCHES + 1))}
    with pytest.raises(MappingError, match="matches"):
        compile_mapping({"fields": [{"target": "a", "path": "$.items[*]", "many": True}]}).apply(
            wide
        )
    # 200 fields each copying a 100,000-character string: the output budget stops it.
    fields = [{"target": f"f{i}", "path": "$.s"} for i in range(MAX_FIELDS)]
    with pytest.raises(MappingError, match="output would exceed"):
        compile_mapping({"fields": fields}).apply({"s": "x" * 100_000})


# --- the data.map activity and its publish-time check ---------------------------------

CTX = ActivityContext("acme", "wf", "run-1", "map", 1)


def test_data_map_activity_maps_and_fails_without_retry() -> None:
    spec = {"fields": [{"target": "id", "path": "$.id", "transform": "upper"}]}
    assert asyncio.run(data_map(CTX, {"mapping": spec, "input": {"id": "a"}})) == {"id": "A"}
    bad = {"fields": [{"target": "id", "path": "$.id", "transform": "uppr"}]}
    with pytest.raises(NonRetryableError, match=r"mapping\.fields\[0\]\.transform"):
        asyncio.run(data_map(CTX, {"mapping": bad, "input": {}}))
    required = {"fields": [{"target": "id", "path": "$.id", "required": True}]}
    with pytest.raises(NonRetryableError, match=r"fields\[0\]"):
        asyncio.run(data_map(CTX, {"mapping": required, "input": {}}))


def test_literal_view_and_the_data_map_check() -> None:
    assert literal_view({"a": "${input.x}", "b": ["x $${y}", 1]}) == {
        "a": COMPUTED,
        "b": ["x ${y}", 1],
    }
    assert check_data_map(COMPUTED) == []
    assert check_data_map({"mapping": COMPUTED, "input": COMPUTED}) == []
    partly = {"mapping": {"fields": [{"target": "a", "value": COMPUTED, "transform": "uppr"}]}}
    assert check_data_map(partly) == []  # a computed part: checked at run time
    found = check_data_map({"mapping": {"fields": [{"target": "a"}]}, "extra": 1})
    assert {p.field for p in found} == {"extra", "mapping.fields[0]"}


def _definition(step_input: Any, compensate: Any = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "type": "activity",
        "activity": "data.map",
        "input": step_input,
        "next": "done",
    }
    if compensate is not None:
        step["compensate"] = compensate
    return {
        "name": "m",
        "version": "1.0.0",
        "start": "map",
        "steps": {"map": step, "done": {"type": "end"}},
    }


def test_parse_definition_runs_the_input_validators() -> None:
    registry = builtin_registry()
    options = {
        "known_activities": registry.names(),
        "input_validators": registry.input_validators(),
    }
    bad = {
        "mapping": {"fields": [{"target": "a", "path": "$.a", "transform": "uppr"}]},
        "input": "${input}",
    }
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(_definition(bad, {"activity": "data.map", "input": bad}), **options)
    fields = [(p.step, p.field) for p in caught.value.problems]
    assert fields == [
        ("map", "input.mapping.fields[0].transform"),
        ("map", "compensate.input.mapping.fields[0].transform"),
    ]
    parse_definition(_definition("${input}"), **options)  # computed: checked at run time
    parse_definition(_definition(bad))  # no validators given: not checked
