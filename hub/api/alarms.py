"""Alarm rules and alarms: /api/v1/tenants/{tenant}/alarm-rules and .../alarms."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from hub.api.context import request_context
from hub.api.deps import HubDep
from hub.api.devices import Cursor, Limit, TenantSlug, _body, _tenant
from hub.domain.errors import FieldProblem, NotFound, ValidationFailed
from hub.domain.paging import DEFAULT_LIMIT
from hub.services.alarms.views import alarm_view

AlarmId = Annotated[str, PathParameter(max_length=64)]
AnyRequest = Request[Any, Any, Any]


class AckIn(msgspec.Struct, forbid_unknown_fields=True):
    comment: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class ShelveIn(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


async def _device_of(hub: Any, tenant: Any, body: dict[str, Any], required: bool) -> Any:
    ref = body.get("device")
    if ref is None and not required:
        return None
    if not isinstance(ref, str) or not 1 <= len(ref) <= 64:
        raise ValidationFailed([FieldProblem("device", "a device id or name")])
    try:
        return await hub.plc.devices.get(tenant, ref)
    except NotFound:
        raise ValidationFailed([FieldProblem("device", f"no device {ref!r}")]) from None


class AlarmRuleController(Controller):
    path = "/api/v1/tenants/{tenant:str}/alarm-rules"
    tags = ["alarms"]

    @post("/", opt={"action": "alarm_rule.create"}, summary="Add an alarm rule for a tag")
    async def create(self, tenant: TenantSlug, hub: HubDep, request: AnyRequest) -> dict[str, Any]:
        body = _body(await request.body())
        the_tenant = await _tenant(hub, tenant)
        device = await _device_of(hub, the_tenant, body, True)
        return await hub.plc.alarms.create_rule(the_tenant, body, device, request_context(request))

    @get("/", summary="The tenant's alarm rules with their alarm's state")
    async def list_rules(
        self, tenant: TenantSlug, hub: HubDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> dict[str, Any]:
        page = await hub.plc.alarms.list(await _tenant(hub, tenant), "all", cursor, limit)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @get("/{alarm_id:str}", summary="One alarm rule")
    async def get_rule(self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep) -> dict[str, Any]:
        return alarm_view(await hub.plc.alarms.get(await _tenant(hub, tenant), alarm_id))

    @patch(
        "/{alarm_id:str}",
        opt={"action": "alarm_rule.update"},
        summary="Change a rule; `in_service: false` takes the alarm out of service",
    )
    async def update_rule(
        self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        body = _body(await request.body())
        the_tenant = await _tenant(hub, tenant)
        await hub.plc.alarms.get(the_tenant, alarm_id)
        device = await _device_of(hub, the_tenant, body, False)
        return await hub.plc.alarms.update_rule(
            the_tenant, alarm_id, body, device, request_context(request)
        )

    @delete(
        "/{alarm_id:str}",
        status_code=HTTP_200_OK,
        opt={"action": "alarm_rule.delete"},
        summary="Remove a rule and its alarm",
    )
    async def delete_rule(
        self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        await hub.plc.alarms.delete_rule(
            await _tenant(hub, tenant), alarm_id, request_context(request)
        )
        return {"id": alarm_id, "deleted": True}


class AlarmController(Controller):
    path = "/api/v1/tenants/{tenant:str}/alarms"
    tags = ["alarms"]

    @get("/", summary="Alarms by state: active, unacknowledged, shelved or all")
    async def list_alarms(
        self,
        tenant: TenantSlug,
        hub: HubDep,
        state_: Annotated[str, QueryParameter(name="state", max_length=32)] = "active",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        page = await hub.plc.alarms.list(await _tenant(hub, tenant), state_, cursor, limit)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @get("/{alarm_id:str}", summary="One alarm with its journal")
    async def get_alarm(self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep) -> dict[str, Any]:
        return await hub.plc.alarms.detail(await _tenant(hub, tenant), alarm_id)

    @post("/{alarm_id:str}/ack", status_code=HTTP_200_OK, opt={"action": "alarm.ack"})
    async def ack(
        self,
        tenant: TenantSlug,
        alarm_id: AlarmId,
        data: JSONBody[AckIn],
        hub: HubDep,
        request: AnyRequest,
    ) -> dict[str, Any]:
        return await hub.plc.alarms.ack(
            await _tenant(hub, tenant), alarm_id, data.comment, request_context(request)
        )

    @post("/{alarm_id:str}/shelve", status_code=HTTP_200_OK, opt={"action": "alarm.shelve"})
    async def shelve(
        self,
        tenant: TenantSlug,
        alarm_id: AlarmId,
        data: JSONBody[ShelveIn],
        hub: HubDep,
        request: AnyRequest,
    ) -> dict[str, Any]:
        return await hub.plc.alarms.shelve(
            await _tenant(hub, tenant),
            alarm_id,
            data.minutes,
            data.reason,
            request_context(request),
        )

    @post("/{alarm_id:str}/unshelve", status_code=HTTP_200_OK, opt={"action": "alarm.unshelve"})
    async def unshelve(
        self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        return await hub.plc.alarms.unshelve(
            await _tenant(hub, tenant), alarm_id, request_context(request)
        )
