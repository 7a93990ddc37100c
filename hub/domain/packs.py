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
from collections.abc import Mapping
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
    """A list parameter whose items name a device and a tag that must exist."""

    parameter: str
    writable: bool = False


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
