"""The production-control workflow for a set of install parameters (`generated_workflows`).

The workflow is production_control.yaml with its `$param`/`$format` placeholders filled
in; making it here rather than listing the file under `workflows` lets the install check
what the parameter schema cannot, and answer 422 naming each parameter at fault:

- every recipe (each material's and the default) within the machine limits, and each
  limit's min not above its max;
- each tag role named once in recipe_tags, command_tags and status_tags (the schema
  checks the roles' names; it cannot say "each once").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.domain.packs import Substitution, SubstitutionError, WorkflowRefused
from hub.engine.loading import load_definition_text
from industry_packs.production_control import rules

TEMPLATE = load_definition_text(
    (Path(__file__).parent / "production_control.yaml").read_text(), "application/yaml"
)
IDENTIFIER = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")  # jsonschema's json_path keys
ROLES = {
    "recipe_tags": (rules.RECIPE_ROLES, ()),
    "command_tags": (rules.COMMAND_ROLES, ()),
    "status_tags": (rules.STATUS_ROLES, ("speed_pv", "temperature_pv")),
}


def build(params: Mapping[str, Any]) -> dict[str, Any]:
    """The order workflow for these (schema-checked) parameters; WorkflowRefused naming
    each parameter that cannot make one."""
    problems = role_problems(params) + limit_problems(params)
    if problems:
        raise WorkflowRefused(problems)
    try:
        body = Substitution(dict(params)).apply(TEMPLATE)
    except SubstitutionError as exc:
        raise WorkflowRefused([("", str(exc))]) from None
    return dict(body)


def role_problems(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for parameter, (needed, optional) in ROLES.items():
        items = params.get(parameter) or []
        counts = Counter(str(i.get("role")) for i in items if isinstance(i, Mapping))
        twice = sorted(role for role, n in counts.items() if n > 1)
        missing = [role for role in needed if role not in counts]
        if twice:
            problems.append((parameter, f"names the role(s) {', '.join(twice)} more than once"))
        if missing:
            problems.append((parameter, f"needs the role(s) {', '.join(missing)}"))
        unknown = sorted(set(counts) - set(needed) - set(optional))
        if unknown:
            problems.append((parameter, f"unknown role(s) {', '.join(unknown)}"))
    return problems


def limit_problems(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    limits = params.get("machine_limits") or {}
    problems = []
    for name in rules.RECIPE_SETPOINTS:
        bounds = limits.get(name) if isinstance(limits, Mapping) else None
        if isinstance(bounds, Mapping) and _num(bounds.get("min")) > _num(bounds.get("max")):
            problems.append((f"machine_limits.{name}", "min is above max"))
    if problems:
        return problems
    recipes = params.get("recipes") or {}
    named = [(f"recipes{_key(m)}", r) for m, r in sorted(recipes.items())]
    if params.get("default_recipe") is not None:
        named.append(("default_recipe", params["default_recipe"]))
    for where, recipe in named:
        for problem in rules.recipe_problems(recipe, limits):
            setpoint = problem.split(" ", 1)[0]
            problems.append((f"{where}.{setpoint}", problem))
    return problems


def _key(name: str) -> str:
    """A key in a parameter path as the schema check writes it: `.FG100`, `['FG-100']`."""
    if IDENTIFIER.match(name):
        return f".{name}"
    escaped = name.replace("\\", "\\\\").replace("'", "\\'")
    return f"['{escaped}']"


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)
