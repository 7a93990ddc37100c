"""Devices and their tags: the bodies of /api/v1/tenants/{tenant}/devices[...].

The request bodies are read by the handler and checked by hub/domain/plc_config.py, which
names every problem; these Structs document them (limits as the domain checks them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.domain.plc_config import MAX_TAGS

DeviceName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
]
Protocol = Literal["modbus", "opcua"]
Datatype = Literal[
    "bool", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64", "string"
]
Register = Literal["coil", "discrete", "holding", "input"]
ByteOrder = Literal["big", "little"]
Millis = Annotated[int, msgspec.Meta(ge=0, le=3_600_000)]
Endpoint = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=500,
        description="modbus-tcp://host:port, modbus-rtu:///dev/PORT or opc.tcp://host:port[/path]",
        examples=["modbus-tcp://10.1.2.3:502", "opc.tcp://10.1.2.4:4840"],
    ),
]
PathText = Annotated[str, msgspec.Meta(max_length=1000)]
# JSON Schema's number holds integers: `int | float` would make an integer match both.
Scalar = float | bool | str


class TagIn(msgspec.Struct, forbid_unknown_fields=True):
    """A tag: Modbus tags need `register` and `address`, OPC-UA tags a `node_id`."""

    name: DeviceName
    datatype: Datatype
    register: Register | None = None
    address: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    node_id: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None
    unit: Annotated[str, msgspec.Meta(max_length=32)] = ""
    scale: Annotated[float, msgspec.Meta(description="engineering = raw * scale + offset")] = 1.0
    offset: float = 0.0
    writable: bool = False
    length: Annotated[int, msgspec.Meta(ge=1, description="registers (strings, blocks)")] | None = (
        None
    )
    byte_order: ByteOrder = "big"
    word_order: ByteOrder = "big"
    poll_interval_ms: Millis | None = None


class OpcUaSecurity(msgspec.Struct, forbid_unknown_fields=True):
    """An OPC-UA device's security; file paths for certificates and keys."""

    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: PathText | None = None
    private_key: PathText | None = None
    server_certificate: PathText | None = None
    identity: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: PathText | None = None
    password: Annotated[PathText, msgspec.Meta(description="shown as *** in answers")] | None = None
    user_certificate: PathText | None = None
    user_private_key: PathText | None = None
    subscribe: bool | None = None
    publishing_interval_ms: Millis | None = None
    sampling_interval_ms: Millis | None = None
    deadband: Annotated[float, msgspec.Meta(ge=0)] | None = None
    deadband_type: Literal["absolute", "percent"] = "absolute"


Tags = Annotated[list[TagIn], msgspec.Meta(max_length=MAX_TAGS)]


class DeviceIn(msgspec.Struct, forbid_unknown_fields=True):
    """A device to register."""

    name: DeviceName
    protocol: Protocol
    endpoint: Endpoint
    unit_id: Annotated[int, msgspec.Meta(ge=0, le=255)] = 1
    poll_interval_ms: Millis = 1000
    timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=120_000)] | None = None
    max_backoff_ms: Annotated[int, msgspec.Meta(ge=100, le=600_000)] | None = None
    security: OpcUaSecurity | None = None
    enabled: bool = True
    tags: Tags = msgspec.field(default_factory=list)


class DevicePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change (the protocol cannot); the device is checked again as a whole."""

    name: DeviceName | None = None
    endpoint: Endpoint | None = None
    unit_id: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None
    poll_interval_ms: Millis | None = None
    timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=120_000)] | None = None
    max_backoff_ms: Annotated[int, msgspec.Meta(ge=100, le=600_000)] | None = None
    security: OpcUaSecurity | None = None
    enabled: bool | None = None
    tags: Tags | None = None


class WriteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A value for a tag, in engineering units (what the handler decodes: integers stay
    integers)."""

    value: bool | int | float | str


class TagWriteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A value for a tag, in engineering units; checked against the tag's type and range."""

    value: Annotated[Scalar, msgspec.Meta(description="a number, true/false or a string")]


class HistoryItem(msgspec.Struct, omit_defaults=True):
    """A raw sample (with `quality`) or a bucket (with `count`)."""

    ts: Annotated[datetime, msgspec.Meta(description="the sample's time, or the bucket's start")]
    value: Annotated[
        Scalar | None,
        msgspec.Meta(description="the sample's value, or the bucket's avg, min, max or last"),
    ]
    quality: Annotated[str | None, msgspec.Meta(description="raw: good, uncertain or bad")] = None
    count: Annotated[
        int | None, msgspec.Meta(description="bucketed: the good and uncertain samples in it")
    ] = None


class HistoryOut(msgspec.Struct):
    """A page of a tag's history: the whole range, or `truncated` with a `next_cursor`."""

    items: list[HistoryItem]
    bucket: str | None
    agg: str | None
    truncated: Annotated[
        bool,
        msgspec.Meta(
            description="the range holds more than this page: ask again with `next_cursor`"
        ),
    ]
    next_cursor: Annotated[
        str | None,
        msgspec.Meta(
            description="`cursor` for the next page (it keeps this page's range); "
            "null when the range is complete"
        ),
    ]


class TagOut(msgspec.Struct):
    """A tag as stored; `register`/`address` (Modbus) or `node_id` (OPC-UA), and `length`,
    byte orders other than big and `poll_interval_ms` only when set."""

    name: str
    datatype: Datatype
    unit: str
    scale: float
    offset: float
    writable: bool
    register: Register | None = None
    address: int | None = None
    node_id: str | None = None
    length: int | None = None
    byte_order: ByteOrder | None = None
    word_order: ByteOrder | None = None
    poll_interval_ms: int | None = None


class DeviceOut(msgspec.Struct):
    id: str
    name: str
    protocol: Protocol
    endpoint: str
    unit_id: int
    poll_interval_ms: int
    timeout_ms: int
    max_backoff_ms: int
    security: Annotated[dict[str, Any], msgspec.Meta(description="OPC-UA only; password ***")]
    enabled: bool
    tags: list[TagOut]
    created_at: datetime


class DeviceList(msgspec.Struct):
    items: list[DeviceOut]
    next_cursor: str | None


class DeviceDeleted(msgspec.Struct):
    id: str
    deleted: bool


class DeviceStatusOut(msgspec.Struct):
    id: str
    name: str
    enabled: bool
    connected: bool
    state: Annotated[str, msgspec.Meta(description="stopped, connecting, connected or backoff")]
    last_error: str | None
    last_seen: datetime | None
    reconnect_count: int


class TagValueOut(msgspec.Struct):
    name: str
    value: Scalar | None
    quality: Annotated[str, msgspec.Meta(description="good, uncertain or bad")]
    ts: datetime | None
    unit: str
    error: Annotated[str | None, msgspec.Meta(description="why the PLC refused the tag")]


class TagValueList(msgspec.Struct):
    items: list[TagValueOut]
    next_cursor: None


class BrowseEntryOut(msgspec.Struct):
    node_id: str
    browse_name: str
    node_class: str
    has_children: bool


class BrowseOut(msgspec.Struct):
    node: Annotated[str | None, msgspec.Meta(description="the node browsed; null: the root")]
    items: list[BrowseEntryOut]
    next_cursor: None


class WriteOut(msgspec.Struct):
    device: str
    tag: str
    old_value: Annotated[Scalar | None, msgspec.Meta(description="the value before the write")]
    value: Annotated[Scalar | None, msgspec.Meta(description="the value read back")]
