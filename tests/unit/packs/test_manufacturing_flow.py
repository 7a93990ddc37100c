"""The manufacturing pack's generator: the workflow its parameters make, and what it refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hub.domain.packs import GENERATED_FROM, WorkflowRefused
from hub.engine.definition import MAX_STEPS, UserTaskStep, parse_definition
from hub.engine.model import ActivityStep, DecisionStep, TimerStep
from hub.services.packs.catalog import DEFAULT_ROOT, load_pack
from industry_packs.manufacturing import activities, flow

KNOWN = [activities.PREFIX + name for name in activities.NAMES]


def _params(**extra: Any) -> dict[str, Any]:
    pack = load_pack(DEFAULT_ROOT / "manufacturing")
    return {
        **pack.defaults(),
        "line_id": "line-1",
        "stages": [
            {
                "name": "Welding",
                "kind": "robotic",
                "device": "robot-1",
                "setpoints": {"program": 7, "speed": 0.5},
                "done_tag": "done",
            },
            {"name": "Assembly", "kind": "manual"},
            {
                "name": "Curing",
                "kind": "machine",
                "device": "oven-1",
                "setpoints": {"temperature_sp": 180},
                "duration_s": 90,
            },
        ],
        "quality_checks": [
            {"stage": 1, "device": "cam-1", "tag": "seam", "min": 0.9, "max": 1.1},
            {"stage": 3, "device": "oven-1", "tag": "temperature", "min": 170, "max": 190},
            {"stage": 3, "device": "oven-1", "tag": "humidity", "min": 0, "max": 5},
        ],
        "final_checks": [{"device": "scale-1", "tag": "weight", "min": 9.5, "max": 10.5}],
        **extra,
    }


def _parsed(definition: dict[str, Any], params: dict[str, Any]) -> Any:
    body = {**definition, "version": "1.0.0", "vars": params}
    return parse_definition(body, known_activities=KNOWN)


def test_the_stages_checks_and_ends_become_steps_the_engine_accepts() -> None:
    params = _params()
    definition = flow.build(params)
    parsed = _parsed(definition, params)
    steps = parsed.steps
    assert parsed.start == "material_preparation"
    assert list(definition["steps"]) == [
        "material_preparation",
        "production_stage_1", "quality_check_1", "quality_gate_1", "quality_hold_1",
        "quality_decision_1", "quality_route_1",
        "production_stage_2",  # no check for stage 2: straight on
        "production_stage_3", "production_stage_3_running", "quality_check_3",
        "quality_gate_3", "quality_hold_3", "quality_decision_3", "quality_route_3",
        "final_quality_check", "final_quality_gate", "final_quality_hold",
        "final_quality_decision", "final_quality_route",
        "packaging", "scrap_batch", "done", "scrapped",
    ]  # fmt: skip
    robot, manual, machine = (steps[f"production_stage_{n}"] for n in (1, 2, 3))
    assert isinstance(robot, ActivityStep) and robot.activity == "manufacturing.robotic_stage"
    assert robot.next == "quality_check_1"  # waits for its done signal: no timer
    assert isinstance(manual, UserTaskStep) and manual.candidate_groups == (
        "operators",
        "engineers",
    )
    assert "Assembly" in manual.title and manual.next == "production_stage_3"
    assert isinstance(machine, ActivityStep) and machine.activity == "manufacturing.machine_stage"
    running = steps["production_stage_3_running"]
    assert isinstance(running, TimerStep) and running.duration == 90
    # Both checks of stage 3 are read by one step, from vars (never text in a template).
    check = definition["steps"]["quality_check_3"]
    assert check["input"]["checks"] == ["${vars.quality_checks[1]}", "${vars.quality_checks[2]}"]
    # A failed check holds the batch; the operator's choice routes it.
    route = steps["quality_route_3"]
    assert isinstance(route, DecisionStep)
    assert dict(route.cases) == {
        "release": "final_quality_check",
        "rework": "production_stage_3",
        "scrap": "scrap_batch",
    }
    assert route.default == "quality_hold_3"
    final = steps["final_quality_route"]
    assert isinstance(final, DecisionStep) and final.cases["rework"] == "production_stage_3"
    trigger = definition["triggers"][0]
    assert trigger["event"] == "manufacturing/line-1/batches/start"
    assert trigger["key"] == "${trigger.payload.batch_id}"


def test_robotic_where_the_parameters_say_so() -> None:
    params = _params()
    params["stages"][0]["kind"] = "machine"
    del params["stages"][0]["done_tag"]
    params["stages"][2]["kind"] = "robotic"
    steps = flow.build(params)["steps"]
    assert steps["production_stage_1"]["activity"] == "manufacturing.machine_stage"
    assert steps["production_stage_3"]["activity"] == "manufacturing.robotic_stage"
    # a robot without a done signal runs for its duration like a machine
    assert steps["production_stage_3"]["next"] == "production_stage_3_running"
    _parsed(flow.build(params), params)


@pytest.mark.parametrize("count", [1, 2, 7, flow.MAX_STAGES])
def test_the_step_count_follows_the_stages_within_the_engine_limit(count: int) -> None:
    stages = [
        {"name": f"S{n}", "kind": "machine", "device": "m", "setpoints": {"sp": n},
         "duration_s": 1}
        for n in range(1, count + 1)
    ]  # fmt: skip
    checks = [
        {"stage": n, "device": "m", "tag": "pv", "min": 0, "max": 1} for n in range(1, count + 1)
    ]
    params = _params(stages=stages, quality_checks=checks)
    definition = flow.build(params)
    ids = list(definition["steps"])
    assert [i for i in ids if i.startswith("production_stage_") and "running" not in i] == [
        f"production_stage_{n}" for n in range(1, count + 1)
    ]
    assert len(ids) == 7 * count + 10 <= MAX_STEPS
    parsed = _parsed(definition, params)
    assert len(parsed.steps) == len(ids)
    # Every step says which parameter made it.
    assert all(
        GENERATED_FROM in step for step in definition["steps"].values() if step["type"] != "end"
    )


def test_a_stage_without_checks_goes_straight_on() -> None:
    params = _params(quality_checks=[])
    steps = flow.build(params)["steps"]
    assert not any(i.startswith("quality_") for i in steps)
    assert steps["production_stage_1"]["next"] == "production_stage_2"
    assert steps["production_stage_3_running"]["next"] == "final_quality_check"
    _parsed(flow.build(params), params)


def _refused(params: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(WorkflowRefused) as caught:
        flow.build(params)
    return dict(caught.value.problems)


def test_what_the_schema_cannot_say_is_refused_naming_each_parameter() -> None:
    params = _params(task_due="soon")
    params["stages"][1]["device"] = "robot-1"  # manual: writes nothing
    params["stages"][2]["done_tag"] = "done"  # only robots signal done
    del params["stages"][0]["setpoints"]
    params["stages"].append({"name": "Welding", "kind": "machine", "setpoints": {"x": 1}})
    params["quality_checks"][0]["stage"] = 9
    params["final_checks"][0]["max"] = 1
    problems = _refused(params)
    assert set(problems) == {
        "task_due",
        "stages[1].device",
        "stages[2].done_tag",
        "stages[0].setpoints",
        "stages[3].name",
        "stages[3].device",
        "quality_checks[0].stage",
        "final_checks[0].max",
    }, problems
    assert problems["quality_checks[0].stage"] == "no stage 9: the stages are numbered 1 to 4"


def test_the_stage_bound_and_an_unusable_line_id() -> None:
    stage = {"name": "x", "kind": "manual"}
    params = _params(stages=[dict(stage, name=f"s{n}") for n in range(flow.MAX_STAGES + 1)])
    params["quality_checks"] = []
    params["line_id"] = "a/#"
    problems = _refused(params)
    assert set(problems) == {"stages", "line_id"}


def test_the_generator_leaves_its_parameters_alone() -> None:
    params = _params()
    before = copy.deepcopy(params)
    flow.build(params)
    assert params == before
