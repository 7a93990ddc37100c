"""Device definitions as given through the API: checked, every problem named by its field."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.plc import (
    DEFAULT_MAX_BACKOFF_MS,
    DEFAULT_TIMEOUT_MS,
    MAX_BLOCK_REGISTERS,
    ByteOrder,
    Datatype,
    Device,
    Protocol,
    Register,
    Tag,
    check_name,
)

MAX_TAGS = 2000
OPCUA_POLICIES = ("None", "Basic256Sha256")
OPCUA_MODES = ("None", "Sign", "SignAndEncrypt")
OPCUA_IDENTITIES = ("anonymous", "username", "certificate")
SECURITY_KEYS = {
    "policy",
    "mode",
    "certificate",
    "private_key",
    "server_certificate",
    "identity",
    "username",
    "password",
    "user_certificate",
    "user_private_key",
    "subscribe",
    "publishing_interval_ms",
    "sampling_interval_ms",
    "deadband",
    "deadband_type",
}
SECRET_KEYS = ("password",)


def _choice(value: Any, enum: Any, where: str, problems: list[FieldProblem]) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        problems.append(FieldProblem(where, f"must be one of {allowed}"))
        return None


def _int(raw: Any, where: str, low: int, high: int, problems: list[FieldProblem]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        problems.append(FieldProblem(where, f"must be an integer in {low}..{high}"))
        return None
    return raw


def _num(raw: Any, where: str, problems: list[FieldProblem]) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.append(FieldProblem(where, "must be a number"))
        return None
    return float(raw)


def endpoint_problems(protocol: Protocol, endpoint: Any) -> list[FieldProblem]:
    if not isinstance(endpoint, str) or not 1 <= len(endpoint) <= 500:
        return [FieldProblem("endpoint", "must be a string of 1-500 characters")]
    parts = urlsplit(endpoint)
    if protocol is Protocol.OPCUA:
        ok = parts.scheme == "opc.tcp" and bool(parts.hostname)
        return [] if ok else [FieldProblem("endpoint", "must be opc.tcp://host:port[/path]")]
    if parts.scheme == "modbus-tcp":
        try:
            ok = bool(parts.hostname) and parts.port is not None
        except ValueError:
            ok = False
        return [] if ok else [FieldProblem("endpoint", "must be modbus-tcp://host:port")]
    if parts.scheme == "modbus-rtu":
        return [] if parts.path else [FieldProblem("endpoint", "must be modbus-rtu:///dev/PORT")]
    return [FieldProblem("endpoint", "must be modbus-tcp://host:port or modbus-rtu:///dev/PORT")]


def _tag(
    raw: Any, where: str, protocol: Protocol | None, problems: list[FieldProblem]
) -> Tag | None:
    if not isinstance(raw, dict):
        problems.append(FieldProblem(where, "must be an object"))
        return None
    before = len(problems)
    problems += check_name(raw.get("name"), f"{where}.name")
    datatype = _choice(raw.get("datatype"), Datatype, f"{where}.datatype", problems)
    register = address = node_id = None
    length = _int(raw.get("length"), f"{where}.length", 1, MAX_BLOCK_REGISTERS, problems) or 0
    if protocol is Protocol.MODBUS:
        register = _choice(raw.get("register"), Register, f"{where}.register", problems)
        address = _int(raw.get("address"), f"{where}.address", 0, 65535, problems)
        if raw.get("address") is None:
            problems.append(FieldProblem(f"{where}.address", "required for Modbus tags"))
        if register is not None and datatype is not None:
            if register.is_bit != (datatype is Datatype.BOOL):
                problems.append(
                    FieldProblem(
                        f"{where}.datatype",
                        f"{register.value} tags need bool"
                        if register.is_bit
                        else "bool needs a coil or discrete register",
                    )
                )
            if datatype is Datatype.STRING and not length:
                problems.append(FieldProblem(f"{where}.length", "string tags need a length"))
    elif protocol is Protocol.OPCUA:
        node_id = raw.get("node_id")
        if not isinstance(node_id, str) or not 1 <= len(node_id) <= 500:
            problems.append(FieldProblem(f"{where}.node_id", "required for OPC-UA tags"))
    scale = _num(raw.get("scale"), f"{where}.scale", problems)
    if scale == 0:
        problems.append(FieldProblem(f"{where}.scale", "must not be 0"))
    offset = _num(raw.get("offset"), f"{where}.offset", problems)
    unit = raw.get("unit", "")
    if not isinstance(unit, str) or len(unit) > 32:
        problems.append(FieldProblem(f"{where}.unit", "at most 32 characters"))
    writable = raw.get("writable", False)
    if not isinstance(writable, bool):
        problems.append(FieldProblem(f"{where}.writable", "must be true or false"))
    elif writable and register is not None and not register.is_writable_kind:
        problems.append(FieldProblem(f"{where}.writable", f"{register.value} is read-only"))
    orders = {}
    for key in ("byte_order", "word_order"):
        orders[key] = _choice(raw.get(key, "big"), ByteOrder, f"{where}.{key}", problems)
    interval = _int(raw.get("poll_interval_ms"), f"{where}.poll_interval_ms", 0, 3600_000, problems)
    unknown = set(raw) - {
        "name",
        "datatype",
        "register",
        "address",
        "node_id",
        "unit",
        "scale",
        "offset",
        "writable",
        "length",
        "byte_order",
        "word_order",
        "poll_interval_ms",
    }
    problems += [FieldProblem(f"{where}.{k}", "unknown field") for k in sorted(unknown)]
    if len(problems) > before:
        return None
    return Tag(
        raw["name"],
        datatype,
        register,
        address,
        node_id,
        unit,
        1.0 if scale is None else scale,
        offset or 0.0,
        writable,
        length,
        orders["byte_order"],
        orders["word_order"],
        interval,
    )


def _security(raw: Any, protocol: Protocol | None, problems: list[FieldProblem]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(FieldProblem("security", "must be an object"))
        return {}
    problems += [
        FieldProblem(f"security.{k}", "unknown field") for k in sorted(set(raw) - SECURITY_KEYS)
    ]
    if protocol is not Protocol.OPCUA:
        if raw:
            problems.append(FieldProblem("security", "only OPC-UA devices take security settings"))
        return {}
    policy, mode = raw.get("policy", "None"), raw.get("mode", "None")
    if policy not in OPCUA_POLICIES:
        problems.append(FieldProblem("security.policy", f"one of {', '.join(OPCUA_POLICIES)}"))
    if mode not in OPCUA_MODES:
        problems.append(FieldProblem("security.mode", f"one of {', '.join(OPCUA_MODES)}"))
    if (policy == "None") != (mode == "None"):
        problems.append(FieldProblem("security.mode", "None exactly when the policy is None"))
    if policy != "None" and not (raw.get("certificate") and raw.get("private_key")):
        problems.append(
            FieldProblem(
                "security.certificate", "Sign modes need certificate and private_key paths"
            )
        )
    identity = raw.get("identity", "anonymous")
    if identity not in OPCUA_IDENTITIES:
        problems.append(FieldProblem("security.identity", f"one of {', '.join(OPCUA_IDENTITIES)}"))
    if identity == "username" and not raw.get("username"):
        problems.append(FieldProblem("security.username", "required for the username identity"))
    if identity == "certificate" and not (
        raw.get("user_certificate") and raw.get("user_private_key")
    ):
        problems.append(
            FieldProblem(
                "security.user_certificate",
                "certificate identity needs user_certificate and user_private_key",
            )
        )
    if raw.get("deadband_type", "absolute") not in ("absolute", "percent"):
        problems.append(FieldProblem("security.deadband_type", "absolute or percent"))
    for key in ("publishing_interval_ms", "sampling_interval_ms"):
        _int(raw.get(key), f"security.{key}", 0, 3600_000, problems)
    if raw.get("deadband") is not None:
        dead = _num(raw.get("deadband"), "security.deadband", problems)
        if dead is not None and dead < 0:
            problems.append(FieldProblem("security.deadband", "must not be negative"))
    for key in (
        "certificate",
        "private_key",
        "server_certificate",
        "username",
        "password",
        "user_certificate",
        "user_private_key",
    ):
        if raw.get(key) is not None and (not isinstance(raw[key], str) or len(raw[key]) > 1000):
            problems.append(FieldProblem(f"security.{key}", "must be a string"))
    if "subscribe" in raw and not isinstance(raw["subscribe"], bool):
        problems.append(FieldProblem("security.subscribe", "must be true or false"))
    return dict(raw)


def parse_device(raw: dict[str, Any], *, id: str, tenant_id: str, at: datetime) -> Device:
    """A Device from its API form; ValidationFailed lists every problem."""
    problems: list[FieldProblem] = [
        FieldProblem(k, "unknown field") for k in sorted(set(raw) - DEVICE_FIELDS)
    ]
    problems += check_name(raw.get("name"), "name")
    protocol = _choice(raw.get("protocol"), Protocol, "protocol", problems)
    if protocol is not None:
        problems += endpoint_problems(protocol, raw.get("endpoint"))
    unit_id = _int(raw.get("unit_id"), "unit_id", 0, 255, problems)
    interval = _int(raw.get("poll_interval_ms"), "poll_interval_ms", 0, 3600_000, problems)
    timeout = _int(raw.get("timeout_ms"), "timeout_ms", 10, 120_000, problems)
    backoff = _int(raw.get("max_backoff_ms"), "max_backoff_ms", 100, 600_000, problems)
    security = _security(raw.get("security"), protocol, problems)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(FieldProblem("enabled", "must be true or false"))
    tags_raw = raw.get("tags", [])
    tags: list[Tag] = []
    if not isinstance(tags_raw, list) or len(tags_raw) > MAX_TAGS:
        problems.append(FieldProblem("tags", f"must be a list of at most {MAX_TAGS} tags"))
        tags_raw = []
    seen: set[str] = set()
    for index, item in enumerate(tags_raw):
        tag = _tag(item, f"tags[{index}]", protocol, problems)
        if tag is None:
            continue
        if tag.name in seen:
            problems.append(FieldProblem(f"tags[{index}].name", f"duplicate tag {tag.name!r}"))
        seen.add(tag.name)
        tags.append(tag)
    if problems:
        raise ValidationFailed(problems)
    return Device(
        id=id,
        tenant_id=tenant_id,
        name=raw["name"],
        protocol=protocol,
        endpoint=raw["endpoint"],
        tags=tuple(tags),
        created_at=at,
        unit_id=1 if unit_id is None else unit_id,
        poll_interval_ms=1000 if interval is None else interval,
        timeout_ms=timeout or DEFAULT_TIMEOUT_MS,
        max_backoff_ms=backoff or DEFAULT_MAX_BACKOFF_MS,
        security=security,
        enabled=enabled,
    )


PATCHABLE = (
    "name",
    "endpoint",
    "unit_id",
    "poll_interval_ms",
    "timeout_ms",
    "max_backoff_ms",
    "security",
    "tags",
    "enabled",
)
# What a device is created with: everything a PATCH may change, and its protocol.
DEVICE_FIELDS = frozenset({"protocol", *PATCHABLE})


def patch_device(device: Device, patch: dict[str, Any]) -> Device:
    """The device with `patch` applied, checked as a whole (the protocol cannot change)."""
    unknown = set(patch) - set(PATCHABLE)
    if unknown:
        raise ValidationFailed([FieldProblem(k, "cannot be changed") for k in sorted(unknown)])
    merged = {**device_dict(device, secrets=True), **patch}
    fresh = parse_device(merged, id=device.id, tenant_id=device.tenant_id, at=device.created_at)
    return replace(fresh, created_at=device.created_at)


def tag_dict(tag: Tag) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tag.name, "datatype": tag.datatype.value}
    if tag.register is not None:
        out.update(register=tag.register.value, address=tag.address)
    if tag.node_id is not None:
        out["node_id"] = tag.node_id
    out.update(unit=tag.unit, scale=tag.scale, offset=tag.offset, writable=tag.writable)
    if tag.length:
        out["length"] = tag.length
    if tag.byte_order is not ByteOrder.BIG:
        out["byte_order"] = tag.byte_order.value
    if tag.word_order is not ByteOrder.BIG:
        out["word_order"] = tag.word_order.value
    if tag.poll_interval_ms is not None:
        out["poll_interval_ms"] = tag.poll_interval_ms
    return out


def device_dict(device: Device, *, secrets: bool = False) -> dict[str, Any]:
    """The device in its API form; secrets (passwords) are masked unless asked for."""
    security = dict(device.security)
    if not secrets:
        for key in SECRET_KEYS:
            if key in security:
                security[key] = "***"
    out: dict[str, Any] = {
        "name": device.name,
        "protocol": device.protocol.value,
        "endpoint": device.endpoint,
        "unit_id": device.unit_id,
        "poll_interval_ms": device.poll_interval_ms,
        "timeout_ms": device.timeout_ms,
        "max_backoff_ms": device.max_backoff_ms,
        "security": security,
        "enabled": device.enabled,
        "tags": [tag_dict(t) for t in device.tags],
    }
    return out
