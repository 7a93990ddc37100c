"""The pack's decisions as pure functions: severity, confirmations, trend, interlock values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

RAISING = ("activate", "escalate", "reactivate", "fault")
LEVELS = ("low", "medium", "high", "critical")
_BASE = {"hihi": "high", "lolo": "high", "hi": "medium", "lo": "medium", "rate": "medium",
         "discrete": "high", "bad": "medium", "stale": "medium"}  # fmt: skip


def severity(condition: str | None, level: str) -> str:
    """high | medium | low: the alarm's condition, raised or lowered by the area's level."""
    base = _BASE.get(condition or "", "medium")
    if level == "critical" and base == "medium":
        return "high"
    if level == "low" and base == "medium":
        return "low"
    return base


def past_limit(value: Any, condition: str | None, limit: Any) -> bool:
    """Does `value` still show the alarm's condition (beyond `limit`)?"""
    if not isinstance(value, int | float) or not isinstance(limit, int | float):
        return value == limit if condition == "discrete" else False
    if condition in ("lo", "lolo"):
        return value <= limit
    return value >= limit


def trend(values: Sequence[float], sensor: dict[str, Any], condition: str | None) -> str:
    """improved (back inside the hi/lo limit) | worsened (past hihi/lolo and moving away)
    | stable."""
    if not values:
        return "stable"
    low = condition in ("lo", "lolo")
    first, last = values[0], values[-1]
    inner = sensor.get("lo" if low else "hi")
    outer = sensor.get("lolo" if low else "hihi")
    if inner is not None and (last > inner if low else last < inner):
        return "improved"
    moving_away = last < first if low else last > first
    if outer is not None and (last <= outer if low else last >= outer) and moving_away:
        return "worsened"
    return "stable"


def release_value(interlock: dict[str, Any]) -> Any:
    if "release" in interlock:
        return interlock["release"]
    value = interlock["value"]
    return (not value) if isinstance(value, bool) else 0
