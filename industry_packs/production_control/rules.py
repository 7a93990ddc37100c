"""The production-control pack's decisions as pure functions: no I/O, no clock.

Batch ids, client references, recipes against machine limits, material shortages, the
verification of a configuration, and the production rate's deviation from the expected.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any

U32 = 0xFFFFFFFF
MAX_REFERENCE = 40  # SAP keeps a confirmation's reference text to 40 characters
RECIPE_SETPOINTS = ("speed_sp", "temperature_sp")
RECIPE_ROLES = ("speed_sp", "temperature_sp", "target_qty", "batch_id")
COMMAND_ROLES = ("start", "reset")
STATUS_ROLES = ("good_count", "scrap_count", "state", "fault_code", "active_batch")
# The order's fields the run compares before and after production; what the run's own
# confirmation changes (confirmed quantities, the ETag) is not a change by someone else.
PLANNED_FIELDS = ("material", "plant", "quantity", "unit", "status", "work_center")


class LineState(IntEnum):
    """The line's state codes (the PLC contract: docs/PACKS.md)."""

    IDLE = 0
    READY = 1
    RUNNING = 2
    COMPLETE = 3
    FAULT = 4
    CONFIG_ERROR = 5


def line_state(value: Any) -> LineState | None:
    """The state a PLC value stands for, or None when it is no known code."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return LineState(int(value))
    except ValueError:
        return None


# --- identities ---


def batch_id(order_id: Any) -> int:
    """The PLC batch id of a production order: the same for every attempt and every re-run
    of the order's run, so the line (one start per batch) starts an order once.

    An order number of digits that fits a uint32 is its own batch id (1000101 -> 1000101,
    SAP's zero-padded 000001000101 too); any other id maps to 1..2**32-1 through SHA-256.
    """
    text = str(order_id).strip()
    if not text:
        raise ValueError("an order id is needed for a batch id")
    if text.isascii() and text.isdigit() and 0 < int(text) <= U32:
        return int(text)
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return digest % U32 + 1


def client_reference(run_id: str, *parts: Any, limit: int = MAX_REFERENCE) -> str:
    """A client reference for one ERP write of a run: the run id and the parts joined
    with ':', or, when that is longer than `limit` characters, the run id and a digest of
    the parts (SAP keeps a confirmation's text to 40 characters, a reservation item's to
    50). The same parts give the same reference on every attempt and re-run."""
    text = ":".join([str(run_id), *(str(p) for p in parts)])
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()
    room = limit - len(str(run_id)) - 1
    if room < 8:
        return digest[:limit]
    return f"{run_id}:{digest[:room]}"


def tag_map(items: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """{role: (device, tag)} from a tag parameter's items ({role, device, tag})."""
    return {str(i["role"]): (str(i["device"]), str(i["tag"])) for i in items}


def missing_roles(mapped: Mapping[str, Any], needed: Sequence[str]) -> list[str]:
    return [role for role in needed if role not in mapped]


# --- the order and its recipe ---


def target_quantity(order: Mapping[str, Any]) -> int:
    """Units still to make: the order quantity less the yield already confirmed (whole
    units, rounded up); 0 when nothing is left."""
    quantity = _number(order.get("quantity"))
    confirmed = _number(order.get("confirmed_yield"))
    return max(0, math.ceil(quantity - confirmed - 1e-9))


def choose_recipe(
    material: str, recipes: Mapping[str, Any] | None, default: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, str]:
    """The material's recipe, else the default one: (recipe or None, where it came from)."""
    found = (recipes or {}).get(material)
    if isinstance(found, Mapping):
        return dict(found), f"recipes.{material}"
    if isinstance(default, Mapping) and default:
        return dict(default), "default_recipe"
    return None, "none"


def recipe_problems(recipe: Mapping[str, Any] | None, limits: Mapping[str, Any]) -> list[str]:
    """Why a recipe cannot be written to the line: a setpoint missing, not a number, or
    outside the machine's limits ({speed_sp: {min, max}, ...})."""
    if recipe is None:
        return ["no recipe for the material and no default_recipe"]
    problems = []
    for name in RECIPE_SETPOINTS:
        value = recipe.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{name} is missing or not a number")
            continue
        bounds = limits.get(name) if isinstance(limits, Mapping) else None
        low = _bound(bounds, "min", -math.inf)
        high = _bound(bounds, "max", math.inf)
        if not low <= float(value) <= high:
            problems.append(f"{name} {value:g} is outside the machine limits {low:g}..{high:g}")
    return problems


# --- materials ---


def shortages(
    components: Sequence[Mapping[str, Any]], available: Mapping[tuple[str, str], float]
) -> list[dict[str, Any]]:
    """Components whose stock in their plant is below what the order needs, with the
    quantity missing. `available` is keyed by (material, plant)."""
    short = []
    for component in components:
        key = (str(component["material"]), str(component["plant"]))
        need = _number(component.get("required_quantity"))
        have = _number(available.get(key))
        if have + 1e-9 < need:
            short.append(
                {
                    "material": key[0],
                    "plant": key[1],
                    "required": need,
                    "available": have,
                    "missing": round(need - have, 3),
                    "unit": component.get("unit"),
                }
            )
    return short


# --- configuration ---


def verification(
    state: LineState | None,
    fresh: bool,
    waited_s: float,
    settle_s: float,
) -> str | None:
    """What a reading of the line's state after a configuration says: "ok" (READY),
    "failed" (CONFIG_ERROR), or None (not known yet: keep reading).

    A reading taken after the configuration was written (`fresh`) counts at once; one
    that may be older (a PLC whose clock is behind the hub's) counts once the line had
    `settle_s` to show the new state."""
    if state is None or not (fresh or waited_s >= settle_s):
        return None
    if state is LineState.READY:
        return "ok"
    if state is LineState.CONFIG_ERROR:
        return "failed"
    return None


def reconfigurations_since_configure(steps: Sequence[tuple[str, str | None]]) -> int:
    """How many times reconfigure_machines completed since configure_machines last did,
    from the run history's (event type, step) pairs."""
    count = 0
    for kind, step in steps:
        if kind != "ActivityCompleted":
            continue
        if step == "configure_machines":
            count = 0
        elif step == "reconfigure_machines":
            count += 1
    return count


def configuration_action(ok: bool, reconfigurations: int, bound: int) -> str:
    """start | reconfigure | give_up: a failed verification is followed by at most `bound`
    reconfigurations, then by the operator."""
    if ok:
        return "start"
    return "reconfigure" if reconfigurations < bound else "give_up"


# --- monitoring ---


def assess(
    previous: Mapping[str, Any] | None,
    sample: Mapping[str, Any],
    batch: int,
    expected_rate: float,
    tolerance: float,
    min_window_s: float,
    resumed_at: datetime | None = None,
    deviation_accepted: bool = False,
) -> dict[str, Any]:
    """The line's production judged from a sample of its counters and the previous
    assessment (or None).

    `sample` has `at` (a datetime or an ISO 8601 string), `state`, `active_batch`, `good`,
    `scrap`, `fault_code`. The answer is the sample with `status`:

    - complete: the line finished this batch;
    - fault: the line is in FAULT (with its fault code);
    - stopped: the line is not running this batch any more (reset, another batch...);
    - deviation: the rate over the current window (from `window`, the first reading of
      this batch running since the last judgement or operator intervention, to this
      one, once it is at least `min_window_s` long) is off the expected rate by more than
      `tolerance` (a share: 0.2 = 20 %). Raised when the deviation begins, not again
      while it lasts, and not at all after an operator accepted it for this batch
      (`deviation_accepted`);
    - running: otherwise (the rate, when judged, in `rate`);
    - unknown: the state is no known code.
    """
    state = line_state(sample.get("state"))
    at = _time(sample.get("at"))
    good, scrap = int(_number(sample.get("good"))), int(_number(sample.get("scrap")))
    here = {"at": at.isoformat() if at else None, "made": good + scrap}
    out: dict[str, Any] = {
        "at": here["at"],
        "state": state.name.lower() if state is not None else None,
        "active_batch": sample.get("active_batch"),
        "good": good,
        "scrap": scrap,
        "fault_code": sample.get("fault_code") or 0,
        "rate": None,
        "expected_rate": expected_rate,
        "deviating": False,
        "window": here,
    }
    ours = sample.get("active_batch") == batch
    if state is None:
        return {**out, "status": "unknown"}
    if state is LineState.COMPLETE and ours:
        return {**out, "status": "complete"}
    if state is LineState.FAULT:
        return {**out, "status": "fault"}
    if state is not LineState.RUNNING or not ours:
        return {**out, "status": "stopped"}
    window = _window(previous, batch, resumed_at)
    if window is None or at is None or expected_rate <= 0:
        return {**out, "status": "running"}  # a new window begins here
    begun = _time(window.get("at"))
    assert previous is not None and begun is not None
    elapsed = (at - begun).total_seconds()
    if elapsed < min_window_s:  # too short to judge yet: the window goes on
        still = bool(previous.get("deviating"))
        return {**out, "status": "running", "deviating": still, "window": dict(window)}
    rate = (good + scrap - int(_number(window.get("made")))) / elapsed * 60.0
    off = abs(rate - expected_rate) / expected_rate > tolerance
    out.update(rate=round(rate, 3), deviating=off)
    began = off and not previous.get("deviating")
    status = "deviation" if began and not deviation_accepted else "running"
    return {**out, "status": status}


def _window(
    previous: Mapping[str, Any] | None,
    batch: int,
    resumed_at: datetime | None,
) -> Mapping[str, Any] | None:
    """Where the current window began ({at, made}), when the previous reading was of this
    batch running and no operator intervened since the window began; else None."""
    if previous is None or previous.get("state") != "running":
        return None
    if previous.get("active_batch") != batch:
        return None
    window = previous.get("window")
    if not isinstance(window, Mapping):
        return None
    begun = _time(window.get("at"))
    if begun is None or (resumed_at is not None and begun <= resumed_at):
        return None
    return window


def expected_rate(given: Any, recipe: Mapping[str, Any]) -> float:
    """The expected rate (units/min): the parameter when given, else the recipe's speed."""
    if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
        return float(given)
    return _number(recipe.get("speed_sp"))


# --- completion ---


def order_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Planned fields of the order someone changed while it was produced: {field: [old,
    new]} (confirmed quantities and the ETag, which the run's own confirmation moves, are
    left out)."""
    return {
        name: [before.get(name), after.get(name)]
        for name in PLANNED_FIELDS
        if name in before and name in after and before.get(name) != after.get(name)
    }


def totals(prepared: Mapping[str, Any], good: Any, scrap: Any) -> tuple[float, float]:
    """The order's confirmed yield and scrap once this run's production is added to what
    was confirmed before it."""
    return (
        _number(prepared.get("confirmed_yield")) + _number(good),
        _number(prepared.get("confirmed_scrap")) + _number(scrap),
    )


# --- helpers ---


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _bound(bounds: Any, key: str, fallback: float) -> float:
    value = bounds.get(key) if isinstance(bounds, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return fallback
    return float(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (or a datetime) as a datetime; None for anything else."""
    return _time(value)
