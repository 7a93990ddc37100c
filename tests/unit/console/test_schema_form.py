"""Forms from JSON Schema (hub/api/console/schema_form.py): the schema as a field tree, a
submitted form back as the JSON value with its types, the service's problems placed on
the inputs; hostile schemas and inputs give bounded trees and clear problems, never an
exception."""

from __future__ import annotations

from typing import Any

import pytest

from hub.api.console import schema_form as sf
from hub.services.packs.catalog import load_catalog

CATALOG = load_catalog()
PRODUCTION = CATALOG["production-control"].parameters
SAFETY = CATALOG["safety-monitoring"].parameters
MANUFACTURING = CATALOG["manufacturing"].parameters


def _kinds(tree: sf.FormField) -> dict[str, str]:
    return {f.name: f.kind for f in sf.walk(tree)}


def _form(**values: str | list[str]) -> dict[str, list[str]]:
    return {
        f"p/{k.replace('__', '/')}": v if isinstance(v, list) else [v] for k, v in values.items()
    }


# --- schema -> tree ---


def test_the_production_pack_becomes_fieldsets_inputs_tables_and_json() -> None:
    tree = sf.build(PRODUCTION)
    kinds = _kinds(tree)
    assert kinds["p/line_id"] == "text"
    assert kinds["p/erp"] == "object"
    assert kinds["p/erp/connection"] == "text"
    assert kinds["p/erp/goods_receipt"] == "boolean"
    assert kinds["p/recipe_tags"] == "table"  # $ref'd flat objects: rows
    assert kinds["p/default_recipe/speed_sp"] == "number"  # $ref with a sibling default
    assert kinds["p/machine_limits/speed_sp/min"] == "number"  # nested fieldsets
    assert kinds["p/max_reconfigurations"] == "integer"
    assert kinds["p/operator_groups"] == "lines"
    assert kinds["p/recipes"] == "json"  # a map: free keys
    assert kinds["p/notification_channels"] == "json"  # oneOf items, and write-only
    fields = {f.name: f for f in sf.walk(tree)}
    assert fields["p/line_id"].required and fields["p/erp/connection"].required
    assert not fields["p/rate_tolerance"].required
    assert fields["p/rate_tolerance"].has_default and fields["p/rate_tolerance"].default == 0.2
    assert "more than 0" in fields["p/rate_tolerance"].hints
    assert fields["p/notification_channels"].secret
    table = fields["p/recipe_tags"]
    assert [c.name for c in table.children] == ["/role", "/device", "/tag"]
    assert table.children[0].choices == ("speed_sp", "temperature_sp", "target_qty", "batch_id")
    assert (table.min_items, table.max_items) == (4, 4)


def test_secrets_and_enums_of_the_safety_pack() -> None:
    fields = {f.name: f for f in sf.walk(sf.build(SAFETY))}
    assert fields["p/override_key"].kind == "secret"  # writeOnly, x-store: hash
    assert fields["p/safety_level"].kind == "choice"
    assert fields["p/sensors"].kind == "table"
    value = next(c for c in fields["p/interlocks"].children if c.name == "/value")
    assert value.kind == "scalar" and value.types == ("boolean", "number")


def test_deep_arrays_of_objects_are_one_json_field() -> None:
    fields = {f.name: f for f in sf.walk(sf.build(MANUFACTURING))}
    assert fields["p/stages"].kind == "json"  # items hold an object of setpoints
    assert fields["p/stages"].reason
    assert fields["p/quality_checks"].kind == "table"


def test_defaults_fill_the_form_but_never_a_secret() -> None:
    tree = sf.build(PRODUCTION)
    form = sf.defaults(tree)
    assert form["p/rate_tolerance"] == ["0.2"]
    assert form["p/operator_groups"] == ["operators\nengineers"]
    assert form["p/recipe_tags/0/role"] == ["0"] and form["p/recipe_tags/3/tag"] == ["batch_id"]
    assert form["p/machine_limits/speed_sp/max"] == ["1200"]
    assert "p/notification_channels" not in form
    safety = sf.initial(sf.build(SAFETY), {"override_key": "***", "area_id": "a"})
    assert "p/override_key" not in safety and safety["p/area_id"] == ["a"]


# --- form -> value ---


def test_a_form_reads_back_as_typed_json() -> None:
    tree = sf.build(PRODUCTION)
    form = sf.defaults(tree)
    form.update(
        _form(
            line_id="line-1",
            erp__connection="cap",
            erp__plant="1000",
            erp__work_center="LINE1",
            erp__goods_receipt="true",
            max_reconfigurations="3",
            rate_tolerance="0.25",
            recipes='{"FG-1": {"speed_sp": 100, "temperature_sp": 180}}',
            stakeholder_contacts="a@example.com\n\n b@example.com ",
        )
    )
    reading = sf.read(tree, form)
    assert reading.ok, reading.problems
    value = reading.value
    assert value["erp"] == {
        "connection": "cap",
        "plant": "1000",
        "work_center": "LINE1",
        "goods_receipt": True,
    }
    assert value["max_reconfigurations"] == 3 and isinstance(value["max_reconfigurations"], int)
    assert value["rate_tolerance"] == 0.25
    assert value["recipes"]["FG-1"]["speed_sp"] == 100
    assert value["stakeholder_contacts"] == ["a@example.com", "b@example.com"]
    assert value["recipe_tags"][0] == {"role": "speed_sp", "device": "line-1", "tag": "speed_sp"}
    assert len(value["status_tags"]) == 7
    assert "expected_rate" not in value  # empty: left out, the pack's default applies
    assert value == sf.read(tree, sf.initial(tree, value)).value  # round trip


def test_blank_rows_are_left_out_and_rows_renumbered() -> None:
    tree = sf.build(SAFETY)
    form = _form(
        sensors__0__device="",
        sensors__0__tag="",
        sensors__1__device="b-1",
        sensors__1__tag="p",
        sensors__1__hi="1",
        sensors__1__hihi="oops",
        interlocks__0__device="b-1",
        interlocks__0__tag="i",
        interlocks__0__value="true",
    )
    reading = sf.read(tree, form)
    assert reading.problems == {"p/sensors/0/hihi": ["must be a number"]}
    assert reading.form["p/sensors/0/hihi"] == ["oops"]  # kept, in the row it now is
    form["p/sensors/1/hihi"] = ["2.5"]
    value = sf.read(tree, form).value
    assert value["sensors"] == [{"device": "b-1", "tag": "p", "hi": 1, "hihi": 2.5}]
    assert value["interlocks"] == [{"device": "b-1", "tag": "i", "value": True}]


def test_secrets_are_read_but_never_kept_to_show_again() -> None:
    tree = sf.build(SAFETY)
    reading = sf.read(tree, _form(override_key="let-me-in-now", area_id="x"))
    assert reading.value["override_key"] == "let-me-in-now"
    assert "p/override_key" not in reading.form
    assert reading.form["p/area_id"] == ["x"]


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("max_reconfigurations", "1.5", "must be a whole number"),
        ("max_reconfigurations", "9" * 40, "must be a whole number"),
        ("rate_tolerance", "abc", "must be a number"),
        ("rate_tolerance", "1e999", "must be a finite number"),
        ("rate_tolerance", "NaN", "must be a number"),
        ("erp__goods_receipt", "maybe", "must be yes or no"),
        ("recipes", "{", "not valid JSON"),
        ("recipes", '{"a": NaN}', "not valid JSON"),
        ("recipes", "[" * 10_000 + "]" * 10_000, "nested deeper"),
        ("recipes", "x" * (sf.MAX_JSON_CHARS + 1), "at most"),
        ("recipe_tags__0__role", "7", "not one of the choices"),
        ("recipe_tags__0__role", "-1", "not one of the choices"),
        ("line_id", "x" * (sf.MAX_INPUT + 1), "too long"),
        ("stakeholder_contacts", "\n".join("a" for _ in range(sf.MAX_LINES + 1)), "at most"),
    ],
)
def test_wrong_input_is_a_clear_problem_never_an_exception(
    name: str, text: str, problem: str
) -> None:
    tree = sf.build(PRODUCTION)
    reading = sf.read(tree, _form(**{name: text}))
    [messages] = reading.problems.values()
    assert any(problem in m for m in messages), messages


def test_a_hostile_form_is_bounded() -> None:
    tree = sf.build(SAFETY)
    many_rows = {f"p/sensors/{i}/device": ["d"] for i in range(sf.MAX_ROWS + 1)}
    reading = sf.read(tree, many_rows)
    assert reading.problems == {"p/sensors": [f"at most {sf.MAX_ROWS} rows"]}
    odd: dict[str, Any] = {"p/sensors/99999999999/device": ["d"], "p/x": ["y"], "q": ["z"]}
    odd["p/area_id"] = []  # a name sent without a value
    assert sf.read(tree, odd).value is None
    checks = sf.build(
        {"type": "object", "properties": {"a": {"type": "array", "items": {"enum": ["x", "y"]}}}}
    )
    assert sf.read(checks, {"p/a": ["1", "0", "1"]}).value == {"a": ["y", "x"]}
    assert sf.read(checks, {"p/a": ["2"]}).problems == {"p/a": ["not one of the choices"]}


# --- hostile schemas ---


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        node = {"type": "object", "properties": {"a": node}}
    return node


@pytest.mark.parametrize(
    "schema",
    [
        None,
        "a string",
        [],
        {"type": "object", "properties": "nope"},
        {"type": 5},
        {"type": ["object", "array"]},
        {"$ref": "#/$defs/loop", "$defs": {"loop": {"$ref": "#/$defs/loop"}}},
        {"$ref": "https://example.com/schema.json"},
        {"type": "object", "properties": {"a": {"$ref": "#/nope/nothing"}}},
        {"type": "object", "properties": {"a": {"enum": []}}},
        {"type": "object", "properties": {"a": True, "b": False, "c": {"type": "unknown"}}},
        _deep(400),
        {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5000)}},
    ],
)
def test_hostile_schemas_give_a_bounded_tree(schema: Any) -> None:
    tree = sf.build(schema)
    fields = list(sf.walk(tree))
    assert len(fields) <= sf.MAX_FIELDS + 1
    assert sf.read(tree, {}).ok
    sf.defaults(tree)


def test_deep_nesting_turns_into_json_at_the_bound() -> None:
    tree = sf.build(_deep(10))
    depth, f = 0, tree
    while f.kind == "object":
        f, depth = f.children[0], depth + 1
    assert f.kind == "json" and depth == sf.MAX_DEPTH
    assert "deeper" in f.reason
    assert sf.read(tree, {f.name: ['{"a": {"a": "x"}}']}).ok


def test_a_huge_enum_is_a_text_input_that_still_reads_its_values() -> None:
    schema = {"type": "object", "properties": {"n": {"enum": list(range(10_000))}}}
    [field] = sf.build(schema).children
    assert field.kind == "text" and "one of 10000 values" in field.hints
    assert sf.read(sf.build(schema), {"p/n": ["42"]}).value == {"n": 42}


def test_a_cycle_and_odd_keys_in_names() -> None:
    schema = {
        "type": "object",
        "properties": {"a/b~c": {"type": "integer"}, "x": {"$ref": "#"}},
    }
    tree = sf.build(schema)
    names = [f.name for f in sf.walk(tree)]
    assert "p/a~1b~0c" in names
    assert sf.read(tree, {"p/a~1b~0c": ["4"]}).value == {"a/b~c": 4}
    assert sf.input_id("p/a~1b") != sf.input_id("p/a-1b")


# --- the service's problems on the inputs ---


def test_problems_are_placed_on_the_inputs_they_name() -> None:
    tree = sf.build(PRODUCTION)
    placed, general = sf.place(
        tree,
        [
            ("parameters.line_id", "'line/1' does not match"),
            ("parameters.erp", "'work_center' is a required property"),
            ("parameters", "'line_id' is a required property"),
            ("parameters.recipe_tags[2].tag", "not a tag of device 'line-1'"),
            ("parameters.status_tags", "role good_count twice"),
            ("parameters.recipes['FG-1'].speed_sp", "outside the limits"),
            ("parameters.operator_groups[1]", "does not match"),
            ("parameters", "the workflow generator failed"),
            ("body", "must be a JSON object"),
            ("parameters.nope.deeper", "unknown"),
            ("parameters[", "garbled"),
        ],
    )
    assert placed["p/line_id"] == ["'line/1' does not match", "required"]
    assert placed["p/erp/work_center"] == ["required"]
    assert placed["p/recipe_tags/2/tag"] == ["not a tag of device 'line-1'"]
    assert placed["p/status_tags"] == ["role good_count twice"]
    assert placed["p/recipes"] == ["FG-1 > speed_sp: outside the limits"]
    assert placed["p/operator_groups"] == ["item 2: does not match"]
    assert general == [
        "the workflow generator failed",
        "body: must be a JSON object",
        "nope > deeper: unknown",
        "parameters[: garbled",
    ]


def test_paths_parse_as_jsonschema_writes_them() -> None:
    assert sf.parse_path("parameters") == ()
    assert sf.parse_path("parameters.a[0].b") == ("a", 0, "b")
    assert sf.parse_path("parameters['it\\'s'].x") == ("it's", "x")
    assert sf.parse_path("body") is None
    assert sf.parse_path("parameters..") is None
    assert sf.describe("p/sensors/0/hi") == "sensors > row 1 > hi"
    assert sf.describe("p/a~1b") == "a/b"


def test_table_rows_shown() -> None:
    tree = sf.build(PRODUCTION)
    table = next(f for f in sf.walk(tree) if f.name == "p/status_tags")
    assert sf.table_rows(table, {}) == 5  # minItems
    assert sf.table_rows(table, sf.defaults(tree)) == 7  # maxItems: no empty row beyond
    sensors = next(f for f in sf.walk(sf.build(SAFETY)) if f.name == "p/sensors")
    assert sf.table_rows(sensors, {"p/sensors/2/tag": ["t"]}) == 4
    assert sf.table_rows(sensors, {"p/sensors/99999/tag": ["t"]}) == sf.MAX_ROWS
