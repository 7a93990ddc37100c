"""The pack format's generator hook: whatever a generator does wrong is a 422 naming the
parameters (never a 500), and a manifest naming a missing generator stops start-up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.packs import WorkflowGenerator, WorkflowRefused
from hub.services.packs.catalog import PackInvalid, load_pack
from hub.services.packs.generated import blame, generate

GOOD = {
    "name": "made",
    "start": "a",
    "steps": {"a": {"type": "end", "x-parameter": "stages[0]"}},
}


def _nested(levels: int) -> Any:
    value: Any = "end"
    for _ in range(levels):
        value = {"x": value}
    return value


def _generator(build: Callable[[Mapping[str, Any]], Any]) -> WorkflowGenerator:
    return WorkflowGenerator("tests.gen", "build", build)


def _problems(build: Callable[[Mapping[str, Any]], Any], timeout: float = 5) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        asyncio.run(generate(_generator(build), {"n": 1}, timeout))
    return {p.field: p.message for p in caught.value.problems}


def test_a_definition_comes_back_as_a_copy_of_plain_data() -> None:
    seen: list[Any] = []

    def build(params: Mapping[str, Any]) -> Any:
        seen.append(params)
        return GOOD

    given = {"stages": [{"name": "x"}]}
    out = asyncio.run(generate(_generator(build), given))
    assert out == GOOD and out is not GOOD
    assert seen[0] == given and seen[0] is not given  # it cannot change the stored ones


def test_refusals_are_named_on_each_parameter() -> None:
    def build(params: Mapping[str, Any]) -> Any:
        raise WorkflowRefused([("stages[2].device", "needs a device"), ("line_id", "bad")])

    assert _problems(build) == {
        "parameters.stages[2].device": "needs a device",
        "parameters.line_id": "bad",
    }


@pytest.mark.parametrize(
    ("result", "says"),
    [
        (["not", "a", "mapping"], "returned list, not a workflow definition"),
        ({"name": "x", "bad": {1, 2}}, "not JSON data"),
        ({"name": "x", "n": float("nan")}, "not JSON data"),
        ({"name": "x", "deep": _nested(100)}, "nested deeper than 64 levels"),
    ],
)
def test_a_result_that_is_no_definition_is_a_422(result: Any, says: str) -> None:
    problems = _problems(lambda params: result)
    assert list(problems) == ["parameters"]
    assert "the workflow generator tests.gen.build" in problems["parameters"]
    assert says in problems["parameters"]


def test_a_generator_that_breaks_is_a_422_not_a_500() -> None:
    def build(params: Mapping[str, Any]) -> Any:
        return params["missing"]

    problems = _problems(build)
    assert problems["parameters"].startswith("the workflow generator tests.gen.build failed")
    assert "KeyError" in problems["parameters"]


def test_a_slow_generator_is_cut_off_and_runs_off_the_loop() -> None:
    release = threading.Event()
    loop_threads: list[int] = []

    def build(params: Mapping[str, Any]) -> Any:
        loop_threads.append(threading.get_ident())
        release.wait(5)
        return GOOD

    try:
        problems = _problems(build, timeout=0.2)
    finally:
        release.set()
    assert "took longer than 0.2 s" in problems["parameters"]
    assert loop_threads and loop_threads[0] != threading.get_ident()


def test_definition_problems_are_blamed_on_the_step_s_parameter() -> None:
    body = {
        "name": "made",
        "steps": {
            "stage_1": {"type": "activity", "x-parameter": "stages[0]"},
            "other": {"type": "end"},
        },
    }
    found = ValidationFailed(
        [
            FieldProblem("steps.stage_1.input.x", "bad literal"),
            FieldProblem("steps.other.next", "dangling"),
            FieldProblem("start", "missing"),
        ]
    )
    problems = [(p.field, p.message) for p in blame(body, found).problems]
    assert problems == [
        ("parameters.stages[0]", "workflow 'made': steps.stage_1.input.x: bad literal"),
        ("parameters", "workflow 'made': steps.other.next: dangling"),
        ("parameters", "workflow 'made': start: missing"),
    ]


def _pack(tmp_path: Path, entry: str) -> Path:
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / "pack.yaml").write_text(
        f"name: gen\nversion: 1.0.0\ngenerated_workflows: [{entry}]\n"
    )
    return folder


def test_the_manifest_names_an_importable_function(tmp_path: Path) -> None:
    folder = _pack(tmp_path, "{module: industry_packs.manufacturing.flow, function: build}")
    (generator,) = load_pack(folder).generators
    assert generator.name == "industry_packs.manufacturing.flow.build" and callable(generator.build)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            "{module: industry_packs.nope, function: build}",
            "generated_workflows 'industry_packs.nope'",
        ),
        ("{module: industry_packs.manufacturing.flow, function: nope}", "is not a function"),
        ("{module: industry_packs.manufacturing.flow}", "items are {module, function}"),
    ],
)
def test_a_bad_generator_entry_names_the_manifest(tmp_path: Path, entry: str, says: str) -> None:
    with pytest.raises(PackInvalid, match=r"pack\.yaml") as caught:
        load_pack(_pack(tmp_path, entry))
    assert says in str(caught.value)
