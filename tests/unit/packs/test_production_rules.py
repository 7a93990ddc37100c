"""The production-control pack's pure parts: batch ids, references, recipes against
machine limits, shortages, the configuration's verdict, the rate deviation, and the
workflow made from the parameters (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.domain.packs import WorkflowRefused
from hub.engine.definition import parse_definition
from hub.services.packs.catalog import load_catalog
from industry_packs.production_control import flow, rules
from industry_packs.production_control.rules import LineState

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
LIMITS = {"speed_sp": {"min": 1, "max": 1200}, "temperature_sp": {"min": 20, "max": 250}}


def test_a_batch_id_is_the_orders_own_and_fits_the_plc() -> None:
    assert rules.batch_id("1000101") == 1000101
    assert rules.batch_id(1000101) == 1000101
    assert rules.batch_id("000001000101") == 1000101  # SAP's zero-padded number
    for odd in ("PO-77", "99999999999", "0", "Ä1"):
        first = rules.batch_id(odd)
        assert first == rules.batch_id(odd)  # the same on every attempt and re-run
        assert 1 <= first <= 0xFFFFFFFF
    assert rules.batch_id("PO-77") != rules.batch_id("PO-78")
    with pytest.raises(ValueError):
        rules.batch_id("  ")


def test_client_references_are_stable_and_fit_the_erp_field() -> None:
    run = "0190a1b2c3d4e5f60718293a4b5c6d7e"
    assert rules.client_reference(run, "cf") == f"{run}:cf"
    assert len(rules.client_reference(run, "cf")) <= 40  # SAP's ConfirmationText
    long = rules.client_reference(run, "mr", "17", "RM-" + "9" * 37, "1000", limit=50)
    assert len(long) == 50 and long.startswith(run + ":")
    assert long == rules.client_reference(run, "mr", "17", "RM-" + "9" * 37, "1000", limit=50)
    other = rules.client_reference(run, "mr", "18", "RM-" + "9" * 37, "1000", limit=50)
    assert other != long


def test_recipes_come_from_the_material_or_the_default_and_stay_within_limits() -> None:
    recipes = {"FG-100": {"speed_sp": 600, "temperature_sp": 180}}
    default = {"speed_sp": 100, "temperature_sp": 150}
    assert rules.choose_recipe("FG-100", recipes, default) == (recipes["FG-100"], "recipes.FG-100")
    assert rules.choose_recipe("FG-200", recipes, default) == (default, "default_recipe")
    assert rules.choose_recipe("FG-200", recipes, None) == (None, "none")
    assert rules.recipe_problems(recipes["FG-100"], LIMITS) == []
    assert rules.recipe_problems({"speed_sp": 1500, "temperature_sp": 10}, LIMITS) == [
        "speed_sp 1500 is outside the machine limits 1..1200",
        "temperature_sp 10 is outside the machine limits 20..250",
    ]
    assert rules.recipe_problems({"speed_sp": True}, LIMITS) == [
        "speed_sp is missing or not a number",
        "temperature_sp is missing or not a number",
    ]
    assert rules.recipe_problems(None, LIMITS) == [
        "no recipe for the material and no default_recipe"
    ]
    assert rules.recipe_problems({"speed_sp": 1200, "temperature_sp": 20}, LIMITS) == []


def test_the_target_is_what_is_left_to_make() -> None:
    assert rules.target_quantity({"quantity": 100, "confirmed_yield": 0}) == 100
    assert rules.target_quantity({"quantity": 250, "confirmed_yield": 40}) == 210
    assert rules.target_quantity({"quantity": 10.5}) == 11
    assert rules.target_quantity({"quantity": 50, "confirmed_yield": 60}) == 0


def test_shortages_name_what_is_missing() -> None:
    components = [
        {"material": "RM-10", "plant": "1000", "required_quantity": 400, "unit": "PC"},
        {"material": "RM-30", "plant": "1000", "required_quantity": 120, "unit": "KG"},
    ]
    stock = {("RM-10", "1000"): 5000.0, ("RM-30", "1000"): 20.0}
    assert rules.shortages(components, stock) == [
        {
            "material": "RM-30",
            "plant": "1000",
            "required": 120.0,
            "available": 20.0,
            "missing": 100.0,
            "unit": "KG",
        }
    ]
    assert rules.shortages(components, {**stock, ("RM-30", "1000"): 120.0}) == []
    assert [s["material"] for s in rules.shortages(components, {})] == ["RM-10", "RM-30"]


def test_a_configuration_is_judged_on_a_fresh_reading_or_after_settling() -> None:
    assert rules.verification(LineState.READY, True, 0.0, 3.0) == "ok"
    assert rules.verification(LineState.CONFIG_ERROR, True, 0.0, 3.0) == "failed"
    # a reading that may predate the writes does not count until the line settled
    assert rules.verification(LineState.READY, False, 1.0, 3.0) is None
    assert rules.verification(LineState.CONFIG_ERROR, False, 3.5, 3.0) == "failed"
    assert rules.verification(LineState.IDLE, True, 9.0, 3.0) is None
    assert rules.verification(None, True, 9.0, 3.0) is None


def test_reconfigurations_are_bounded() -> None:
    history = [
        ("ActivityCompleted", "configure_machines"),
        ("ActivityCompleted", "verify_configuration"),
        ("ActivityCompleted", "reconfigure_machines"),
        ("ActivityFailed", "reconfigure_machines"),
        ("ActivityCompleted", "reconfigure_machines"),
    ]
    assert rules.reconfigurations_since_configure(history) == 2
    # the operator's retry configures afresh: the count starts again
    again = [*history, ("UserTaskCompleted", "machine_attention")]
    assert (
        rules.reconfigurations_since_configure(
            [*again, ("ActivityCompleted", "configure_machines")]
        )
        == 0
    )
    assert rules.configuration_action(True, 5, 2) == "start"
    assert rules.configuration_action(False, 0, 2) == "reconfigure"
    assert rules.configuration_action(False, 1, 2) == "reconfigure"
    assert rules.configuration_action(False, 2, 2) == "give_up"
    assert rules.configuration_action(False, 0, 0) == "give_up"


def _sample(seconds: float, made: int, state: int = 2, batch: int = 7, **extra: Any) -> Any:
    scrap = made // 50
    return {
        "at": T0 + timedelta(seconds=seconds),
        "state": state,
        "active_batch": batch,
        "good": made - scrap,
        "scrap": scrap,
        "fault_code": extra.get("fault_code", 0),
    }


def _assess(previous: Any, sample: Any, **extra: Any) -> dict[str, Any]:
    options = {"expected_rate": 600.0, "tolerance": 0.2, "min_window_s": 1.0, **extra}
    return rules.assess(
        previous,
        sample,
        7,
        options["expected_rate"],
        options["tolerance"],
        options["min_window_s"],
        options.get("resumed_at"),
        options.get("deviation_accepted", False),
    )


def test_the_rate_is_judged_over_the_window_since_the_last_reading() -> None:
    first = _assess(None, _sample(0, 0))
    assert first["status"] == "running" and first["rate"] is None  # a baseline
    on_rate = _assess(first, _sample(10, 100))  # 100 units in 10 s = 600/min
    assert on_rate["status"] == "running" and on_rate["rate"] == 600.0
    slow = _assess(on_rate, _sample(20, 140))  # 40 in 10 s = 240/min: 60 % off
    assert slow["status"] == "deviation" and slow["deviating"] and slow["rate"] == 240.0
    # raised when it begins, not again while it lasts
    still = _assess(slow, _sample(30, 180))
    assert still["status"] == "running" and still["deviating"]
    back = _assess(still, _sample(40, 280))
    assert back["status"] == "running" and not back["deviating"]
    # within the tolerance (15 % fast) is no deviation
    assert _assess(back, _sample(50, 395))["status"] == "running"


def test_short_windows_and_interventions_are_not_judged() -> None:
    base = _assess(None, _sample(0, 0))
    short = _assess(base, _sample(0.5, 1), min_window_s=1.0)
    assert short["status"] == "running" and short["rate"] is None
    # readings closer than the window add up to one: judged once it is long enough
    longer = _assess(short, _sample(0.9, 2), min_window_s=1.0)
    assert longer["rate"] is None and longer["window"] == base["window"]
    judged = _assess(longer, _sample(1.5, 4), min_window_s=1.0)
    assert judged["status"] == "deviation" and judged["rate"] == 160.0  # 4 in 1.5 s
    assert judged["window"]["at"] == judged["at"]  # the next window begins here
    # an operator intervened after the previous reading: a new baseline, no judgement
    after = _assess(base, _sample(10, 10), resumed_at=T0 + timedelta(seconds=5))
    assert after["status"] == "running" and after["rate"] is None
    # a deviation the operator accepted for this batch is not raised again
    accepted = _assess(base, _sample(10, 10), deviation_accepted=True)
    assert accepted["status"] == "running" and accepted["deviating"]


def test_faults_completion_and_a_lost_batch() -> None:
    base = _assess(None, _sample(0, 0))
    fault = _assess(base, _sample(5, 40, state=LineState.FAULT, fault_code=17))
    assert fault["status"] == "fault" and fault["fault_code"] == 17
    done = _assess(base, _sample(20, 100, state=LineState.COMPLETE))
    assert done["status"] == "complete" and (done["good"], done["scrap"]) == (98, 2)
    # another batch completing is not this one
    other = _assess(base, _sample(20, 100, state=LineState.COMPLETE, batch=8))
    assert other["status"] == "stopped"
    assert _assess(base, _sample(5, 10, state=LineState.IDLE))["status"] == "stopped"
    assert _assess(base, _sample(5, 10, state=99))["status"] == "unknown"


def test_the_expected_rate_defaults_to_the_recipe_speed() -> None:
    assert rules.expected_rate(None, {"speed_sp": 600}) == 600.0
    assert rules.expected_rate(0, {"speed_sp": 600}) == 600.0
    assert rules.expected_rate(450, {"speed_sp": 600}) == 450.0


def test_changes_by_others_and_totals() -> None:
    before = {"quantity": 100, "status": "RELEASED", "confirmed_yield": 0, "etag": 'W/"1"'}
    after = {"quantity": 120, "status": "RELEASED", "confirmed_yield": 98, "etag": 'W/"3"'}
    assert rules.order_changes(before, after) == {"quantity": [100, 120]}
    assert rules.order_changes(before, {**before, "confirmed_yield": 98, "etag": "x"}) == {}
    assert rules.totals({"confirmed_yield": 40, "confirmed_scrap": 2}, 98, 2) == (138.0, 4.0)
    assert rules.totals({}, 98, 2) == (98.0, 2.0)


# --- the workflow made from the parameters ---


def _params(**extra: Any) -> dict[str, Any]:
    pack = load_catalog()["production-control"]
    erp = {"connection": "cap", "plant": "1000", "work_center": "LINE1"}
    return {**pack.defaults(), "line_id": "line-1", "erp": erp, **extra}


def test_the_workflow_is_made_from_the_parameters() -> None:
    params = _params(monitor_interval_s=0.5, material_confirmation_due="PT2H")
    body = flow.build(params)
    definition = parse_definition({**body, "vars": params})
    assert definition.name == "production-control"
    steps = body["steps"]
    assert steps["wait_line_event"]["event"] == "production/line-1/events/+"
    assert steps["wait_line_event"]["timeout"] == 0.5
    assert steps["material_confirmation"]["due"] == "PT2H"
    assert steps["material_confirmation"]["candidate_groups"] == ["operators", "engineers"]
    assert body["triggers"][0]["event"] == "production/line-1/orders/released"
    assert body["triggers"][0]["key"] == "${trigger.payload.order_id}"
    retry = steps["configure_machines"]["retry"]
    assert (retry["max_attempts"], retry["initial_interval"], retry["max_interval"]) == (
        3,
        "5s",
        "30s",
    )
    assert set(retry["non_retryable"]) == {"MachineUnavailable", "ConfigurationInvalid"}


def test_parameters_a_schema_cannot_check_are_refused_by_name() -> None:
    params = _params(
        recipes={"FG-100": {"speed_sp": 1500, "temperature_sp": 180}},
        default_recipe={"speed_sp": 100, "temperature_sp": 300},
        recipe_tags=[
            {"role": "speed_sp", "device": "line-1", "tag": "speed_sp"},
            {"role": "speed_sp", "device": "line-1", "tag": "temperature_sp"},
            {"role": "target_qty", "device": "line-1", "tag": "target_qty"},
            {"role": "batch_id", "device": "line-1", "tag": "batch_id"},
        ],
    )
    with pytest.raises(WorkflowRefused) as refused:
        flow.build(params)
    assert set(refused.value.problems) == {
        ("recipe_tags", "names the role(s) speed_sp more than once"),
        ("recipe_tags", "needs the role(s) temperature_sp"),
        ("recipes['FG-100'].speed_sp", "speed_sp 1500 is outside the machine limits 1..1200"),
        (
            "default_recipe.temperature_sp",
            "temperature_sp 300 is outside the machine limits 20..250",
        ),
    }
    limits = {"speed_sp": {"min": 500, "max": 100}, "temperature_sp": {"min": 20, "max": 250}}
    with pytest.raises(WorkflowRefused) as refused:
        flow.build(_params(machine_limits=limits))
    assert refused.value.problems == (("machine_limits.speed_sp", "min is above max"),)


def test_the_report_looks_for_interventions_in_every_user_task_of_the_flow() -> None:
    """report_production reads the run's history only when a user task ran: the list of
    them must be the flow's."""
    from industry_packs.production_control.activities import USER_TASK_STEPS

    params = _params()
    definition = parse_definition({**flow.build(params), "vars": params})
    user_tasks = {step for step, spec in definition.steps.items() if spec.type == "user_task"}
    assert user_tasks == set(USER_TASK_STEPS)
