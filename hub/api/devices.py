"""Devices and their tags: /api/v1/tenants/{tenant}/devices[/{device_id}[/...]]."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from hub.api.bodies import json_object
from hub.api.context import request_context
from hub.api.contracts import contract, documented_body
from hub.api.deps import HubDep
from hub.api.schemas.devices import (
    BrowseEntryOut,
    BrowseOut,
    DeviceDeleted,
    DeviceIn,
    DeviceList,
    DeviceOut,
    DevicePatch,
    DeviceStatusOut,
    HistoryItem,
    HistoryOut,
    TagValueList,
    TagWriteIn,
    WriteIn,
    WriteOut,
)
from hub.domain.errors import FieldProblem, HubError, ValidationFailed
from hub.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from hub.domain.tenancy import Tenant
from hub.services.plc.devices import device_view
from hub.services.telemetry.history import MAX_HISTORY

TenantSlug = Annotated[str, PathParameter(max_length=63)]
DeviceRef = Annotated[str, PathParameter(max_length=64, description="device id or name")]
TagName = Annotated[str, PathParameter(max_length=64)]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, QueryParameter(max_length=200)]
AnyRequest = Request[Any, Any, Any]
T = TypeVar("T")
UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.+)`")
MISSING_FIELD = re.compile(r"Object missing required field `(.+)`")


def _body(raw: bytes) -> dict[str, Any]:
    """A JSON object body (400 when not JSON, 422 when not an object)."""
    return json_object(raw)


def _struct(raw: bytes, kind: type[T]) -> T:
    """A body decoded into a Struct; a bad field is a 422 naming it, bad JSON a 400 (as
    Litestar answers for the bodies it decodes)."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")
        unknown = UNKNOWN_FIELD.fullmatch(message)
        if unknown:
            raise ValidationFailed([FieldProblem(unknown[1], "unknown field")]) from None
        missing = MISSING_FIELD.fullmatch(message)
        if missing:
            raise ValidationFailed([FieldProblem(missing[1], "required")]) from None
        raise ValidationFailed([FieldProblem(where.rstrip("`") or "body", message)]) from None
    except msgspec.DecodeError:
        raise HubError("the body is not valid JSON") from None


async def _tenant(hub: Any, slug: str) -> Tenant:
    return await hub.tenants.get(slug)


def _parse_time(value: str | None, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed([FieldProblem(where, "an RFC 3339 time")]) from None
    if parsed.tzinfo is None:
        raise ValidationFailed([FieldProblem(where, "needs a time zone (Z or +hh:mm)")])
    return parsed


class DeviceController(Controller):
    path = "/api/v1/tenants/{tenant:str}/devices"
    tags = ["devices"]

    @post(
        "/",
        opt={"action": "device.create"},
        summary="Register a device (Modbus or OPC-UA) and its tags",
        dependencies=documented_body(DeviceIn),
        responses=contract(DeviceOut, 201, errors=[409]),
    )
    async def create(self, tenant: TenantSlug, hub: HubDep, request: AnyRequest) -> dict[str, Any]:
        body = _body(await request.body())
        device = await hub.plc.devices.create(
            await _tenant(hub, tenant), body, request_context(request)
        )
        return device_view(device)

    @get("/", summary="The tenant's devices", responses=contract(DeviceList))
    async def list_devices(
        self, tenant: TenantSlug, hub: HubDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> dict[str, Any]:
        page = await hub.plc.devices.page(await _tenant(hub, tenant), cursor, limit)
        return {"items": [device_view(d) for d in page.items], "next_cursor": page.next_cursor}

    @get("/{device_id:str}", summary="One device", responses=contract(DeviceOut))
    async def get_device(
        self, tenant: TenantSlug, device_id: DeviceRef, hub: HubDep
    ) -> dict[str, Any]:
        return device_view(await hub.plc.devices.get(await _tenant(hub, tenant), device_id))

    @patch(
        "/{device_id:str}",
        opt={"action": "device.update"},
        summary="Change a device",
        dependencies=documented_body(DevicePatch),
        responses=contract(DeviceOut, errors=[409]),
    )
    async def update(
        self, tenant: TenantSlug, device_id: DeviceRef, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        body = _body(await request.body())
        device = await hub.plc.devices.update(
            await _tenant(hub, tenant), device_id, body, request_context(request)
        )
        return device_view(device)

    @delete(
        "/{device_id:str}",
        status_code=HTTP_200_OK,
        opt={"action": "device.delete"},
        summary="Remove a device, its tags, history and alarm rules",
    )
    async def remove(
        self, tenant: TenantSlug, device_id: DeviceRef, hub: HubDep, request: AnyRequest
    ) -> DeviceDeleted:
        the_tenant = await _tenant(hub, tenant)
        device = await hub.plc.devices.get(the_tenant, device_id)
        await hub.plc.devices.delete(the_tenant, device.id, request_context(request))
        return DeviceDeleted(device.id, True)

    @get("/{device_id:str}/status", summary="Connection status")
    async def status(
        self, tenant: TenantSlug, device_id: DeviceRef, hub: HubDep
    ) -> DeviceStatusOut:
        device = await hub.plc.devices.get(await _tenant(hub, tenant), device_id)
        status = hub.plc.devices.status(device)
        return DeviceStatusOut(
            device.id,
            device.name,
            device.enabled,
            status.connected,
            status.state,
            status.last_error,
            status.last_seen,
            status.reconnect_count,
        )

    @get(
        "/{device_id:str}/tags",
        summary="Latest scaled value and quality of every tag",
        responses=contract(TagValueList),
    )
    async def tag_values(
        self, tenant: TenantSlug, device_id: DeviceRef, hub: HubDep
    ) -> dict[str, Any]:
        device = await hub.plc.devices.get(await _tenant(hub, tenant), device_id)
        values = await hub.plc.devices.tag_values(device)
        return {"items": [v.as_dict() for v in values], "next_cursor": None}

    @get(
        "/{device_id:str}/browse",
        summary="Browse an OPC-UA server's address space",
        responses=contract(BrowseOut, errors=[409, 502, 503, 504]),
    )
    async def browse(
        self,
        tenant: TenantSlug,
        device_id: DeviceRef,
        hub: HubDep,
        node: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> BrowseOut:
        entries = await hub.plc.devices.browse(await _tenant(hub, tenant), device_id, node)
        items = [
            BrowseEntryOut(e.node_id, e.browse_name, e.node_class, e.has_children) for e in entries
        ]
        return BrowseOut(node, items, None)

    @get("/{device_id:str}/tags/{tag:str}/history", summary="A tag's samples, raw or bucketed")
    async def history(
        self,
        tenant: TenantSlug,
        device_id: DeviceRef,
        tag: TagName,
        hub: HubDep,
        from_: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
        to: Annotated[str | None, QueryParameter(max_length=40)] = None,
        bucket: Annotated[str | None, QueryParameter(max_length=8)] = None,
        agg: Annotated[str, QueryParameter(max_length=8)] = "avg",
        cursor: Cursor = None,
        limit: Annotated[
            int,
            QueryParameter(
                ge=1,
                le=MAX_HISTORY,
                description="samples (raw) or buckets (bucketed) in one page",
            ),
        ] = MAX_HISTORY,
    ) -> HistoryOut:
        start, end = _parse_time(from_, "from"), _parse_time(to, "to")
        page = await hub.plc.devices.history(
            await _tenant(hub, tenant), device_id, tag, start, end, bucket, agg, cursor, limit
        )
        return HistoryOut(
            [HistoryItem(**item) for item in page.items],
            bucket,
            agg if bucket else None,
            page.truncated,
            page.next_cursor,
        )

    @post(
        "/{device_id:str}/tags/{tag:str}/write",
        status_code=HTTP_200_OK,
        opt={"action": "tag.write"},
        summary="Write a tag (engineering units), verified by reading it back",
        dependencies=documented_body(TagWriteIn),
        responses=contract(WriteOut, errors=[409, 502, 503, 504]),
    )
    async def write(
        self,
        tenant: TenantSlug,
        device_id: DeviceRef,
        tag: TagName,
        hub: HubDep,
        request: AnyRequest,
    ) -> dict[str, Any]:
        data = _struct(await request.body(), WriteIn)
        result = await hub.plc.devices.write_tag(
            await _tenant(hub, tenant), device_id, tag, data.value, request_context(request)
        )
        return result.as_dict()
