"""OPC-UA adapter (asyncua client) behind PlcConnection.

Security None or Basic256Sha256 Sign/SignAndEncrypt with a client certificate; identity
anonymous, username/password or an X.509 user certificate. Subscriptions with sampling
and publishing intervals and an absolute or percent deadband; reads in one call for the
polling fallback. asyncua's own reconnecting is off: the hub's supervisor reconnects with
backoff and re-subscribes. Status codes map to quality by their severity bits.

When a server goes away, asyncua's client loggers report it with tracebacks at ERROR and
warnings from the teardown; the supervisor already logs one line per attempt, so
`ConnectionLossFilter` (installed on import) turns those records into DEBUG ones, shown
only when the `asyncua` logger is set to DEBUG.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from asyncua import Client, Node, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509

from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.plc import (
    BrowseEntry,
    Datatype,
    Device,
    PlcError,
    PlcRefused,
    PlcTimeout,
    PlcUnavailable,
    Quality,
    Tag,
)
from hub.ports import TagBatch

VARIANTS = {
    Datatype.BOOL: ua.VariantType.Boolean,
    Datatype.INT16: ua.VariantType.Int16,
    Datatype.UINT16: ua.VariantType.UInt16,
    Datatype.INT32: ua.VariantType.Int32,
    Datatype.UINT32: ua.VariantType.UInt32,
    Datatype.INT64: ua.VariantType.Int64,
    Datatype.FLOAT32: ua.VariantType.Float,
    Datatype.FLOAT64: ua.VariantType.Double,
    Datatype.STRING: ua.VariantType.String,
}
# NodeId: asyncua annotates its fields with its Int32/String/Int16 marker classes, yet takes
# and itself passes plain int and str (the two type: ignores of this module)
SERVER_STATE = ua.NodeId(2259)  # type: ignore[arg-type]  # Server_ServerStatus_State
QUEUE_SIZE = 10  # values the server keeps per monitored item between two publishes
ASYNCUA_CLIENT_LOGGERS = (
    "asyncua.client.client",
    "asyncua.client.ua_client.UaClient",
    "asyncua.client.ua_client.UASocketProtocol",
    "asyncua.client.ua_session",
    "asyncua.client.ua_session.UaSession",
    "asyncua.common.subscription",
)
LOST_CODES = frozenset(
    {
        ua.StatusCodes.BadConnectionClosed,
        ua.StatusCodes.BadSecureChannelClosed,
        ua.StatusCodes.BadSecureChannelIdInvalid,
        ua.StatusCodes.BadSessionClosed,
        ua.StatusCodes.BadSessionIdInvalid,
        ua.StatusCodes.BadServerNotConnected,
        ua.StatusCodes.BadShutdown,
        ua.StatusCodes.BadCommunicationError,
        ua.StatusCodes.BadTimeout,
    }
)
# What asyncua warns when the hub closes a client whose connection is already gone.
TEARDOWN_WARNINGS = frozenset(
    {
        "close_secure_channel was called but connection is closed",
        "close_session was called but connection is closed",
        "close_session but connection wasn't established",
        "disconnect_socket was called but transport is None",
    }
)


def _connection_lost(exc: BaseException | None) -> bool:
    if isinstance(exc, ua.UaStatusCodeError):
        return exc.code in LOST_CODES
    return isinstance(exc, OSError | EOFError | asyncio.CancelledError)


class ConnectionLossFilter(logging.Filter):
    """Demote asyncua's reports of a lost or closed connection to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if not (_connection_lost(exc) or record.msg in TEARDOWN_WARNINGS):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def install_log_filter() -> None:
    """Put ConnectionLossFilter on asyncua's client loggers (once)."""
    for name in ASYNCUA_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ConnectionLossFilter) for f in logger.filters):
            logger.addFilter(ConnectionLossFilter())


install_log_filter()


def quality_of(status: ua.StatusCode | None) -> Quality:
    if status is None:
        return Quality.GOOD
    severity = (status.value >> 30) & 0x3
    return Quality.GOOD if severity == 0 else Quality.UNCERTAIN if severity == 1 else Quality.BAD


def parse_node_id(text: str, where: str = "node_id") -> ua.NodeId:
    try:
        return ua.NodeId.from_string(text)
    except Exception:  # asyncua raises several kinds for a malformed id
        raise ValidationFailed(
            [FieldProblem(where, f"{text!r} is not an OPC-UA node id")]
        ) from None


def _certificate_uri(path: str) -> str | None:
    """The application URI in a certificate's SAN, which the client must present."""
    try:
        data = open(path, "rb").read()  # noqa: SIM115 - small file, read once at connect
        cert = (
            x509.load_pem_x509_certificate(data)
            if data.startswith(b"-----")
            else x509.load_der_x509_certificate(data)
        )
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
        return uris[0] if uris else None
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None


class _Handler:
    """Collects data changes and hands them on once per loop turn, as one batch."""

    def __init__(self, tags: dict[Any, Tag], deliver: Callable[[TagBatch], None]) -> None:
        self._tags = tags
        self._deliver = deliver
        self._pending: list[tuple[Tag, Any, Quality, datetime, str | None]] = []
        self.lost: str | None = None

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        tag = self._tags.get(node.nodeid)
        if tag is None:
            return
        value = data.monitored_item.Value
        ts = value.SourceTimestamp or value.ServerTimestamp or datetime.now(UTC)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        quality = quality_of(value.StatusCode)
        error = value.StatusCode.name if quality is Quality.BAD else None
        self._pending.append((tag, val, quality, ts, error))

    def status_change_notification(self, status: Any) -> None:
        code = getattr(status, "Status", None)
        if code is not None and not code.is_good():
            self.lost = f"subscription status {code.name}"

    def _flush(self) -> None:
        items, self._pending = self._pending, []
        if items:
            errors = [i[4] for i in items]
            self._deliver(
                TagBatch(
                    [i[0] for i in items],
                    [i[1] for i in items],
                    items[-1][3],
                    [i[2] for i in items],
                    [i[3] for i in items],
                    errors if any(errors) else None,
                )
            )


class OpcUaConnection:
    def __init__(self, device: Device) -> None:
        self.device = device
        self.timeout = device.timeout_ms / 1000
        self._client: Client | None = None
        self._nodes: dict[str, Node] = {}
        self._handler: _Handler | None = None
        self.requests = 0

    async def connect(self) -> None:
        await self.close()
        client = Client(self.device.endpoint, timeout=self.timeout)
        sec = self.device.security
        try:
            await asyncio.wait_for(self._configure(client, sec), self.timeout * 2)
            await asyncio.wait_for(client.connect(auto_reconnect=False), self.timeout * 2)
        except TimeoutError:
            await self._drop(client)
            raise PlcTimeout(f"connecting to {self.device.endpoint} timed out") from None
        except (OSError, ua.UaError, ConnectionError) as exc:
            await self._drop(client)
            raise PlcUnavailable(f"cannot connect to {self.device.endpoint}: {exc}") from None
        self._client = client
        self._nodes = {
            t.name: client.get_node(parse_node_id(t.node_id or "")) for t in self.device.tags
        }

    async def _configure(self, client: Client, sec: dict[str, Any]) -> None:
        if sec.get("policy", "None") != "None":
            uri = _certificate_uri(sec["certificate"])
            if uri:
                client.application_uri = uri
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                sec["certificate"],
                sec["private_key"],
                server_certificate=sec.get("server_certificate") or None,
                mode=getattr(ua.MessageSecurityMode, sec.get("mode", "SignAndEncrypt")),
            )
        identity = sec.get("identity", "anonymous")
        if identity == "username":
            client.set_user(sec["username"])
            client.set_password(sec.get("password", ""))
        elif identity == "certificate":
            await client.load_client_certificate(sec["user_certificate"])
            await client.load_private_key(sec["user_private_key"])

    @staticmethod
    async def _drop(client: Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 1)

    async def close(self) -> None:
        client, self._client, self._handler = self._client, None, None
        if client is not None:
            await self._drop(client)

    def _live(self) -> Client:
        if self._client is None:
            raise PlcUnavailable(f"not connected to {self.device.endpoint}")
        return self._client

    async def _call(self, what: str, call: Any) -> Any:
        self.requests += 1
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except TimeoutError:
            raise PlcTimeout(f"{what} on {self.device.endpoint} timed out") from None
        except ua.UaStatusCodeError as exc:
            raise PlcRefused(f"{what} refused: {exc}", getattr(exc, "code", None)) from None
        except (OSError, ua.UaError, ConnectionError) as exc:
            raise PlcUnavailable(f"{what} on {self.device.endpoint} failed: {exc}") from None

    async def read(self, tags: Sequence[Tag]) -> TagBatch:
        client = self._live()
        nodes = [self._nodes[t.name] for t in tags]
        values = await self._call("read", client.read_attributes(nodes))
        now = datetime.now(UTC)
        qualities = [quality_of(v.StatusCode) for v in values]
        return TagBatch(
            tags,
            [v.Value.Value if v.Value is not None else None for v in values],
            now,
            qualities,
            [_utc(v.SourceTimestamp) or now for v in values],
            None
            if Quality.BAD not in qualities
            else [
                v.StatusCode.name if q is Quality.BAD else None
                for v, q in zip(values, qualities, strict=True)
            ],
        )

    def plan(self, tags: Sequence[Tag]) -> list[list[Tag]]:
        return [list(tags)]  # one Read call takes them all

    async def write(self, tag: Tag, raw: Any) -> Any:
        self._live()
        node = self._nodes[tag.name]
        variant = ua.Variant(raw, VARIANTS[tag.datatype])
        await self._call(f"write {tag.node_id}", node.write_value(ua.DataValue(variant)))
        return await self._call(f"read back {tag.node_id}", node.read_value())

    async def subscribe(self, tags: Sequence[Tag], deliver: Callable[[TagBatch], None]) -> bool:
        sec = self.device.security
        if sec.get("subscribe", True) is False:
            return False
        client = self._live()
        by_node = {self._nodes[t.name].nodeid: t for t in tags}
        handler = _Handler(by_node, deliver)
        publishing = sec.get("publishing_interval_ms", self.device.poll_interval_ms)
        sub = await self._call(
            "create subscription", client.create_subscription(publishing, handler)
        )
        deadband = sec.get("deadband")
        mfilter = None
        if deadband:
            mfilter = ua.DataChangeFilter()
            mfilter.Trigger = ua.DataChangeTrigger.StatusValue
            mfilter.DeadbandType = 2 if sec.get("deadband_type") == "percent" else 1
            mfilter.DeadbandValue = float(deadband)
        numeric = [
            self._nodes[t.name]
            for t in tags
            if mfilter and t.datatype not in (Datatype.BOOL, Datatype.STRING)
        ]
        plain = [self._nodes[t.name] for t in tags if self._nodes[t.name] not in numeric]
        sampling = float(sec.get("sampling_interval_ms", publishing))
        refused: list[tuple[Tag, str]] = []
        # asyncua has no public call for a filtered monitored item; _subscribe is its own.
        for nodes, flt in ((numeric, mfilter), (plain, None)):
            if nodes:
                results = await self._call(
                    "subscribe",
                    sub._subscribe(
                        nodes, mfilter=flt, queuesize=QUEUE_SIZE, sampling_interval=sampling
                    ),
                )
                # The server answers each item on its own (BadNodeIdUnknown for a node it
                # lacks): those tags are bad with that status, the others are monitored.
                refused += [
                    (by_node[node.nodeid], result.name)
                    for node, result in zip(nodes, results, strict=True)
                    if isinstance(result, ua.StatusCode)
                ]
        self._handler = handler
        if refused:
            n = len(refused)
            deliver(
                TagBatch(
                    [tag for tag, _ in refused],
                    [None] * n,
                    datetime.now(UTC),
                    [Quality.BAD] * n,
                    errors=[status for _, status in refused],
                )
            )
        return True

    async def browse(self, node: str | None) -> list[BrowseEntry]:
        client = self._live()
        objects = ua.NodeId(85)  # type: ignore[arg-type]  # plain int: see SERVER_STATE
        start = client.get_node(parse_node_id(node, "node") if node else objects)
        refs = await self._call(
            "browse",
            start.get_references(
                refs=ua.ObjectIds.HierarchicalReferences, direction=ua.BrowseDirection.Forward
            ),
        )
        return [
            BrowseEntry(
                ref.NodeId.to_string(),
                ref.BrowseName.to_string(),
                ref.NodeClass.name,
                None,
                ref.NodeClass in (ua.NodeClass.Object, ua.NodeClass.View),
            )
            for ref in refs
        ]

    async def check(self) -> None:
        client = self._live()
        if self._handler is not None and self._handler.lost:
            raise PlcUnavailable(self._handler.lost)
        await self._call("keep-alive", client.get_node(SERVER_STATE).read_value())

    def status(self) -> dict[str, Any]:
        return {"requests": self.requests, "subscribed": self._handler is not None}


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class OpcUaPort:
    def open(self, device: Device) -> OpcUaConnection:
        return OpcUaConnection(device)


__all__ = ["OpcUaConnection", "OpcUaPort", "PlcError"]
