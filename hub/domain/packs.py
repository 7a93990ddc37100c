"""Industry packs: the manifest's parts, installations, incidents, and parameter
substitution into parsed data.

Substitution works on the parsed structure, never on YAML text, so no parameter value
can change the shape of a workflow or a rule:

* ``{"$param": "name"}`` is replaced by the parameter's value (any JSON value);
* ``{"$item": "key"}`` (inside a ``for_each`` template) by that key of the current list
  item; a mapping entry whose ``$item`` key the item lacks is left out;
* ``{"$format": "areas/{area_id}/alarm"}`` by a string with ``{name}`` filled in from
  string parameters that are identifiers (letters, digits, ``_ . -``): a value that could
  add a topic level or a wildcard is refused.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.domain.errors import FieldProblem

IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING = object()


class NotificationFailed(Exception):
    """A notification channel did not take the message (unreachable, refused, non-2xx)."""


class SealBroken(ValueError):
    """A sealed (encrypted) parameter cannot be opened: another HUB_SECRET_KEY, or tampered."""


# How a write-only parameter is kept: {"$sealed": "..."} (hub/security/sealing.py), and
# what an answer shows instead of it.
SEALED = "$sealed"
REDACTED = "***"


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}


def sealing_context(tenant_id: str, pack: str, parameter: str) -> str:
    """What a sealed value is bound to: the same value elsewhere does not open."""
    return f"{tenant_id}/{pack}/{parameter}"


class SubstitutionError(ValueError):
    """A template names a parameter that is missing or unfit for its place."""


@dataclass(frozen=True)
class PolicyLine:
    role: str
    resource: str
    action: str


@dataclass(frozen=True)
class RuleTemplate:
    """Alarm rules: one per item of the list parameter `for_each` (or one if None)."""

    rule: dict[str, Any]
    for_each: str | None = None


@dataclass(frozen=True)
class DeviceTagRef:
    """A list parameter whose items name a device and a tag that must exist.

    `tag` is the key of each item naming the tag; `tags`, when set, the key of a mapping
    {tag: value} in each item instead (setpoints to write, each value checked against its
    tag). With either of those two options, an item without its device or its tag key is
    skipped (the parameter schema says when they are required)."""

    parameter: str
    writable: bool = False
    tag: str = "tag"
    tags: str | None = None

    @property
    def optional(self) -> bool:
        return self.tag != "tag" or self.tags is not None


# A generated step's key naming the parameter it was made from (`stages[1]`): a problem the
# definition checks find in that step is named on that parameter.
GENERATED_FROM = "x-parameter"


@dataclass(frozen=True)
class WorkflowGenerator:
    """A manifest's `generated_workflows` entry: `module.function(parameters)` returns a
    workflow definition (plain data in the definition language) made from the checked
    install parameters, for workflows whose steps depend on them (one step per stage)."""

    module: str
    function: str
    build: Callable[[Mapping[str, Any]], Any] = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return f"{self.module}.{self.function}"


class WorkflowRefused(ValueError):
    """A generator refuses the parameters: each problem is (parameter path such as
    `stages[2].device`, what is wrong). The install answers 422 naming each one."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{where}: {message}" for where, message in self.problems))


@dataclass(frozen=True)
class Pack:
    name: str
    version: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the install parameters
    workflows: tuple[dict[str, Any], ...]  # parsed workflow files, with placeholders
    activities: str | None  # module with register(registry, services)
    alarm_rules: tuple[RuleTemplate, ...] = ()
    policies: tuple[PolicyLine, ...] = ()
    device_tags: tuple[DeviceTagRef, ...] = ()
    # list parameters of notification channels: their destinations are checked against
    # the tenant's egress policy at install and upgrade (issue 12, item 3)
    channels: tuple[str, ...] = ()
    # workflows made from the parameters at install and upgrade (issue 16, item 2)
    generators: tuple[WorkflowGenerator, ...] = ()

    @property
    def secret_parameters(self) -> frozenset[str]:
        """Parameters never shown back (JSON Schema ``writeOnly``)."""
        return frozenset(
            k for k, v in self._properties().items() if isinstance(v, dict) and v.get("writeOnly")
        )

    @property
    def sealed_parameters(self) -> frozenset[str]:
        """Write-only parameters kept encrypted (the hashed ones are kept as a digest)."""
        return self.secret_parameters - self.hashed_parameters

    @property
    def hashed_parameters(self) -> frozenset[str]:
        """Parameters kept only as their digest (``x-store: hash``), e.g. an override key."""
        return frozenset(
            k
            for k, v in self._properties().items()
            if isinstance(v, dict) and v.get("x-store") == "hash"
        )

    def defaults(self) -> dict[str, Any]:
        return {
            k: copy.deepcopy(v["default"])
            for k, v in self._properties().items()
            if isinstance(v, dict) and "default" in v
        }

    def _properties(self) -> dict[str, Any]:
        props = self.parameters.get("properties")
        return props if isinstance(props, dict) else {}


@dataclass
class Installation:
    tenant_id: str
    pack: str
    version: str
    status: str  # installed | uninstalled
    parameters: dict[str, Any]
    resources: dict[str, Any]  # {"workflows": {name: version}, "alarm_rules": [...], ...}
    installed_at: datetime
    updated_at: datetime
    updated_by: str


@dataclass
class Incident:
    id: str
    tenant_id: str
    run_id: str
    pack: str
    area: str
    status: str  # open | reviewed
    severity: str
    summary: str
    details: dict[str, Any]
    opened_at: datetime
    recorded_at: datetime
    review: dict[str, Any] | None = None


@dataclass
class Substitution:
    params: Mapping[str, Any]
    item: Mapping[str, Any] | None = None
    used: set[str] = field(default_factory=set)

    def apply(self, node: Any) -> Any:
        value = self._node(node)
        return None if value is _MISSING else value

    def _node(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self._node(n) for n in node) if v is not _MISSING]
        if not isinstance(node, dict):
            return copy.deepcopy(node)
        if len(node) == 1:
            key, arg = next(iter(node.items()))
            if key == "$param":
                return self._param(arg)
            if key == "$item":
                return self._item(arg)
            if key == "$format":
                return self._format(arg)
        out = {}
        for key, child in node.items():
            value = self._node(child)
            if value is not _MISSING:
                out[key] = value
        return out

    def _param(self, name: Any) -> Any:
        if not isinstance(name, str) or name not in self.params:
            raise SubstitutionError(f"unknown parameter {name!r}")
        self.used.add(name)
        return copy.deepcopy(self.params[name])

    def _item(self, key: Any) -> Any:
        if self.item is None:
            raise SubstitutionError(f"$item {key!r} outside a for_each template")
        value = self.item.get(key, _MISSING) if isinstance(key, str) else _MISSING
        return _MISSING if value is None or value is _MISSING else copy.deepcopy(value)

    def _format(self, text: Any) -> str:
        if not isinstance(text, str):
            raise SubstitutionError("$format takes a string")

        def fill(match: re.Match[str]) -> str:
            value = self._param(match.group(1))
            if not isinstance(value, str) or not IDENTIFIER_RE.match(value):
                raise SubstitutionError(
                    f"parameter {match.group(1)!r} must be an identifier to be used in a name"
                )
            return value

        return _PLACEHOLDER_RE.sub(fill, text)


def expand_rules(template: RuleTemplate, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The alarm rules a template makes for these parameters."""
    if template.for_each is None:
        return [Substitution(params).apply(template.rule)]
    items = params.get(template.for_each) or []
    return [Substitution(params, item).apply(template.rule) for item in items]


def schema_path_problems(errors: list[tuple[str, str]]) -> list[FieldProblem]:
    """jsonschema errors (json path, message) as field problems under `parameters`."""
    return [FieldProblem("parameters" + path.removeprefix("$"), msg) for path, msg in errors]


def redact(params: Mapping[str, Any], secret: frozenset[str]) -> dict[str, Any]:
    return {k: (REDACTED if k in secret and v is not None else v) for k, v in params.items()}
