"""The pack catalog: reads and checks each `industry_packs/<name>/pack.yaml`.

A manifest (see docs/PACKS.md) names the pack, its semver version, a description, its
install parameters as a JSON Schema, its workflow files, its activity module, alarm-rule
templates, device/tag references to check at install, policy additions, and functions
that generate workflows from the parameters (`generated_workflows`, imported here).
Loading is pure apart from reading the files and importing those modules; a bad manifest
is a `PackInvalid` naming the file.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from hub.domain.packs import DeviceTagRef, Pack, PolicyLine, RuleTemplate, WorkflowGenerator
from hub.engine.definition import parse_version
from hub.engine.loading import load_definition_text, load_yaml_text
from hub.engine.schemas import schema_problem

DEFAULT_ROOT = Path(importlib.import_module("industry_packs").__file__ or ".").parent
ROLES = ("tenant_admin", "engineer", "operator", "auditor", "viewer")
_KEYS = {
    "name", "version", "description", "parameters", "workflows", "activities",
    "alarm_rules", "policies", "device_tags", "channels", "generated_workflows",
}  # fmt: skip


class PackInvalid(ValueError):
    """A manifest or one of its files is not usable."""


def load_catalog(root: Path | None = None) -> dict[str, Pack]:
    """Every pack under `root` (a folder per pack), by name."""
    root = root or DEFAULT_ROOT
    packs: dict[str, Pack] = {}
    for manifest in sorted(root.glob("*/pack.yaml")):
        pack = load_pack(manifest.parent)
        if pack.name in packs:
            raise PackInvalid(f"{manifest}: a second pack named {pack.name!r}")
        packs[pack.name] = pack
    return packs


def load_pack(folder: Path) -> Pack:
    where = folder / "pack.yaml"
    raw = _yaml(where)
    if not isinstance(raw, dict):
        raise PackInvalid(f"{where}: must be a mapping")
    unknown = set(raw) - _KEYS
    if unknown:
        raise PackInvalid(f"{where}: unknown keys {sorted(unknown)}")
    name, version = raw.get("name"), str(raw.get("version", ""))
    if not isinstance(name, str) or not name:
        raise PackInvalid(f"{where}: name is required")
    try:
        parse_version(version)
    except ValueError as exc:
        raise PackInvalid(f"{where}: version: {exc}") from None
    schema = raw.get("parameters") or {"type": "object"}
    if problem := schema_problem(schema) or _nested_write_only(schema):
        raise PackInvalid(f"{where}: parameters: {problem}")
    files = raw.get("workflows") or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise PackInvalid(f"{where}: workflows must be a list of file names")
    workflows = tuple(_workflow(folder / f) for f in files)
    return Pack(
        name=name,
        version=version,
        description=str(raw.get("description", "")),
        parameters=schema,
        workflows=workflows,
        activities=raw.get("activities"),
        alarm_rules=tuple(_rule(where, r) for r in raw.get("alarm_rules") or []),
        policies=tuple(_policy(where, p) for p in raw.get("policies") or []),
        device_tags=tuple(_device_ref(where, d) for d in raw.get("device_tags") or []),
        channels=_channels(where, raw.get("channels") or []),
        generators=tuple(_generator(where, g) for g in raw.get("generated_workflows") or []),
    )


def _generator(where: Path, raw: Any) -> WorkflowGenerator:
    """`{module, function}`: imported now, so a missing one stops start-up, not an install."""
    if not isinstance(raw, dict) or set(raw) != {"module", "function"}:
        raise PackInvalid(f"{where}: generated_workflows items are {{module, function}}")
    module_name, function = raw["module"], raw["function"]
    if not isinstance(module_name, str) or not isinstance(function, str):
        raise PackInvalid(f"{where}: generated_workflows module and function are names")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PackInvalid(f"{where}: generated_workflows {module_name!r}: {exc}") from None
    build = getattr(module, function, None)
    if not callable(build):
        raise PackInvalid(f"{where}: {module_name}.{function} is not a function")
    return WorkflowGenerator(module_name, function, build)


def _channels(where: Path, raw: Any) -> tuple[str, ...]:
    """List parameters of notification channels, checked against the egress policy."""
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise PackInvalid(f"{where}: channels must be a list of parameter names")
    return tuple(raw)


def _nested_write_only(schema: dict[str, Any]) -> str | None:
    """A parameter is encrypted whole when it is `writeOnly`; a `writeOnly` deeper inside
    a parameter that is not would promise a protection the hub does not give."""
    properties = schema.get("properties")
    for name, sub in (properties if isinstance(properties, dict) else {}).items():
        if isinstance(sub, dict) and not sub.get("writeOnly") and _mentions_write_only(sub):
            return f"{name!r} has a writeOnly part: mark the parameter itself writeOnly"
    return None


def _mentions_write_only(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("writeOnly") is True or any(_mentions_write_only(v) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_write_only(v) for v in node)
    return False


def _yaml(path: Path) -> Any:
    # Bounded like a published definition (depth, size, nodes; issue 12).
    try:
        return load_yaml_text(path.read_text())
    except (OSError, ValueError) as exc:
        raise PackInvalid(f"{path}: {exc}") from None


def _workflow(path: Path) -> dict[str, Any]:
    try:
        return load_definition_text(path.read_text(), "application/yaml")
    except (OSError, ValueError) as exc:
        raise PackInvalid(f"{path}: {exc}") from None


def _rule(where: Path, raw: Any) -> RuleTemplate:
    if not isinstance(raw, dict) or not isinstance(raw.get("rule"), dict):
        raise PackInvalid(f"{where}: alarm_rules items need a rule mapping")
    return RuleTemplate(raw["rule"], raw.get("for_each"))


def _policy(where: Path, raw: Any) -> PolicyLine:
    if not isinstance(raw, dict) or raw.get("role") not in ROLES:
        raise PackInvalid(f"{where}: policies need a role, one of {ROLES}")
    resource, action = raw.get("resource"), raw.get("action")
    if not isinstance(resource, str) or not resource.startswith("/api/v1/tenants/:tenant"):
        raise PackInvalid(f"{where}: a policy resource must be under /api/v1/tenants/:tenant")
    if not isinstance(action, str) or not action:
        raise PackInvalid(f"{where}: a policy needs an action (GET, (GET|POST), ...)")
    return PolicyLine(raw["role"], resource, action)


def _device_ref(where: Path, raw: Any) -> DeviceTagRef:
    if not isinstance(raw, dict) or not isinstance(raw.get("parameter"), str):
        raise PackInvalid(f"{where}: device_tags items need a parameter name")
    tag, tags = raw.get("tag", "tag"), raw.get("tags")
    if not isinstance(tag, str) or not (tags is None or isinstance(tags, str)):
        raise PackInvalid(f"{where}: device_tags tag and tags are key names")
    return DeviceTagRef(raw["parameter"], bool(raw.get("writable", False)), tag, tags)
