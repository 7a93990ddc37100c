"""PLC devices and tags: datatypes, registers, quality, readings and the rules on them.

Pure code: the adapters in connectors/ turn protocol values into `Reading`s of raw
values; the telemetry service scales them with `Tag.scaled`.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from hub.domain.errors import Conflict, FieldProblem, HubError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_BLOCK_REGISTERS = 125  # Modbus read holding/input registers limit
MAX_BLOCK_BITS = 2000  # Modbus read coils/discrete inputs limit
DEFAULT_MAX_BACKOFF_MS = 5000
DEFAULT_TIMEOUT_MS = 2000


class Protocol(StrEnum):
    MODBUS = "modbus"
    OPCUA = "opcua"


class Register(StrEnum):
    COIL = "coil"
    DISCRETE = "discrete"
    HOLDING = "holding"
    INPUT = "input"

    @property
    def is_bit(self) -> bool:
        return self in (Register.COIL, Register.DISCRETE)

    @property
    def is_writable_kind(self) -> bool:
        return self in (Register.COIL, Register.HOLDING)


class Datatype(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"


# Registers (16-bit words) per datatype; a string's width is its `length` in registers.
WORDS = {
    Datatype.BOOL: 1,
    Datatype.INT16: 1,
    Datatype.UINT16: 1,
    Datatype.INT32: 2,
    Datatype.UINT32: 2,
    Datatype.INT64: 4,
    Datatype.FLOAT32: 2,
    Datatype.FLOAT64: 4,
}
INT_RANGES = {
    Datatype.INT16: (-(2**15), 2**15 - 1),
    Datatype.UINT16: (0, 2**16 - 1),
    Datatype.INT32: (-(2**31), 2**31 - 1),
    Datatype.UINT32: (0, 2**32 - 1),
    Datatype.INT64: (-(2**63), 2**63 - 1),
}


class Quality(IntEnum):
    """Stored as the integer; served as the name."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class ByteOrder(StrEnum):
    BIG = "big"
    LITTLE = "little"


@dataclass(frozen=True)
class Tag:
    name: str
    datatype: Datatype
    register: Register | None = None
    address: int | None = None
    node_id: str | None = None
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    writable: bool = False
    length: int = 0  # string tags: registers (Modbus) or characters allowed (OPC-UA)
    byte_order: ByteOrder = ByteOrder.BIG
    word_order: ByteOrder = ByteOrder.BIG
    poll_interval_ms: int | None = None  # a polling group of its own

    @property
    def words(self) -> int:
        if self.datatype is Datatype.STRING:
            return max(self.length, 1)
        return WORDS[self.datatype]

    @property
    def numeric(self) -> bool:
        return self.datatype not in (Datatype.STRING, Datatype.BOOL)

    @property
    def linear(self) -> bool:
        return self.scale != 1.0 or self.offset != 0.0

    def scaled(self, raw: Any) -> Any:
        if self.numeric and self.linear and raw is not None:
            return raw * self.scale + self.offset
        return raw

    def raw_of(self, value: Any) -> Any:
        """The raw value to write for an engineering value (checked with `value_problem`)."""
        if not self.numeric:
            return value
        raw = (value - self.offset) / self.scale if self.linear else value
        if self.datatype in INT_RANGES:
            return round(raw)
        return float(raw)

    def value_problem(self, value: Any) -> str | None:
        """Why `value` cannot be written to this tag, or None."""
        if self.datatype is Datatype.BOOL:
            return None if isinstance(value, bool) else "must be true or false"
        if self.datatype is Datatype.STRING:
            if not isinstance(value, str):
                return "must be a string"
            if self.length and len(value.encode()) > self.length * (2 if self.register else 1):
                return f"longer than the tag's {self.length} registers"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        try:  # a JSON integer may be far beyond any float (10**400)
            number = float(value)
            unscaled = (number - self.offset) / self.scale if self.linear else number
        except OverflowError:
            return f"out of range for {self.datatype.value}"
        if not math.isfinite(number):
            return "must be finite"
        if not math.isfinite(unscaled):  # scaling pushed it past a float
            return f"out of range for {self.datatype.value}"
        raw = self.raw_of(value)
        bounds = INT_RANGES.get(self.datatype)
        if bounds and not bounds[0] <= raw <= bounds[1]:
            return f"out of range for {self.datatype.value} ({bounds[0]}..{bounds[1]} raw)"
        if self.datatype is Datatype.FLOAT32 and abs(raw) > 3.4028234e38:
            return "out of range for float32"
        if self.datatype in INT_RANGES and not self.linear and value != int(value):
            return f"must be an integer for {self.datatype.value}"
        return None


@dataclass(frozen=True)
class Device:
    id: str
    tenant_id: str
    name: str
    protocol: Protocol
    endpoint: str
    tags: tuple[Tag, ...]
    created_at: datetime
    unit_id: int = 1
    poll_interval_ms: int = 1000
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    max_backoff_ms: int = DEFAULT_MAX_BACKOFF_MS
    security: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def tag(self, name: str) -> Tag | None:
        for tag in self.tags:
            if tag.name == name:
                return tag
        return None


@dataclass(frozen=True)
class Reading:
    """One value as the adapter saw it: raw (unscaled), with quality and source time."""

    tag: str
    value: Any
    quality: Quality
    ts: datetime


@dataclass(frozen=True)
class BrowseEntry:
    node_id: str
    browse_name: str
    node_class: str
    datatype: str | None = None
    has_children: bool = False


@dataclass
class DeviceStatus:
    connected: bool = False
    last_error: str | None = None
    last_seen: datetime | None = None
    reconnect_count: int = 0
    state: str = "stopped"  # stopped | connecting | connected | backoff
    # Tags the PLC refused while the connection stands (an OPC-UA node it lacks, a Modbus
    # address it does not have), by name: the PLC's status or exception.
    tag_errors: dict[str, str] = field(default_factory=dict)


# --- errors ---


class PlcError(HubError):
    """The PLC could not do what was asked; `reason` says which way it failed."""

    status = 502
    title = "PLC error"
    reason = "error"
    audited = False  # set once the service has recorded the failure


class PlcUnavailable(PlcError):
    status = 503
    title = "PLC unreachable"
    reason = "unavailable"


class PlcTimeout(PlcError):
    status = 504
    title = "PLC timeout"
    reason = "timeout"


class PlcRefused(PlcError):
    """The PLC answered with an exception (Modbus) or a bad status code (OPC-UA)."""

    title = "PLC refused the request"
    reason = "refused"

    def __init__(self, detail: str, code: int | None = None) -> None:
        super().__init__(detail)
        self.code = code


class ReadBackMismatch(PlcError):
    status = 409
    title = "Read-back mismatch"
    reason = "read_back_mismatch"

    def __init__(self, detail: str, written: Any, read_back: Any) -> None:
        super().__init__(detail)
        self.written = written
        self.read_back = read_back


class NotWritable(Conflict):
    reason = "not_writable"
    audited = False


MODBUS_EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def modbus_exception(code: int) -> PlcRefused:
    name = MODBUS_EXCEPTIONS.get(code, "unknown exception")
    return PlcRefused(f"Modbus exception {code} ({name})", code)


# --- reconnecting ---


def backoff_seconds(attempt: int, max_ms: int, *, base_ms: int = 100, rng: Any = random) -> float:
    """Exponential backoff with full jitter: uniform in [d/2, d], d = min(max, base * 2^n)."""
    ceiling = min(max_ms, base_ms * (2 ** min(attempt, 30)))
    return (ceiling / 2 + rng.random() * ceiling / 2) / 1000


def values_equal(tag: Tag, written: Any, read_back: Any) -> bool:
    """A read-back matches the raw value written (float32 rounds, so compare loosely)."""
    if tag.datatype in (Datatype.FLOAT32, Datatype.FLOAT64):
        if not isinstance(read_back, int | float):
            return False
        rel = 1e-6 if tag.datatype is Datatype.FLOAT32 else 1e-12
        return math.isclose(float(written), float(read_back), rel_tol=rel, abs_tol=rel)
    if tag.datatype is Datatype.STRING:
        return str(read_back).rstrip("\x00") == str(written)
    return bool(written == read_back)


def check_name(value: Any, where: str) -> list[FieldProblem]:
    if not isinstance(value, str) or not NAME_RE.match(value):
        return [FieldProblem(where, "1-64 letters, digits, '_', '.' or '-', starting alnum")]
    return []
