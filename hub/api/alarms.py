"""Alarm rules and alarms: /api/v1/tenants/{tenant}/alarm-rules and .../alarms."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from hub.api.context import request_context
from hub.api.contracts import contract, documented_body
from hub.api.deps import HubDep
from hub.api.devices import Cursor, Limit, TenantSlug, _body, _tenant
from hub.api.schemas.alarms import (
    AckIn,
    AlarmDetail,
    AlarmList,
    AlarmOut,
    AlarmRuleDeleted,
    AlarmRuleIn,
    AlarmRulePatch,
    ShelveIn,
)
from hub.domain.errors import FieldProblem, NotFound, ValidationFailed
from hub.domain.paging import DEFAULT_LIMIT
from hub.services.alarms.views import alarm_view

AlarmId = Annotated[str, PathParameter(max_length=64)]
AnyRequest = Request[Any, Any, Any]


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

    @post(
        "/",
        opt={"action": "alarm_rule.create"},
        summary="Add an alarm rule for a tag",
        dependencies=documented_body(AlarmRuleIn),
        responses=contract(AlarmOut, 201),
    )
    async def create(self, tenant: TenantSlug, hub: HubDep, request: AnyRequest) -> dict[str, Any]:
        body = _body(await request.body())
        the_tenant = await _tenant(hub, tenant)
        device = await _device_of(hub, the_tenant, body, True)
        return await hub.plc.alarms.create_rule(the_tenant, body, device, request_context(request))

    @get(
        "/",
        summary="The tenant's alarm rules with their alarm's state",
        responses=contract(AlarmList),
    )
    async def list_rules(
        self, tenant: TenantSlug, hub: HubDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> dict[str, Any]:
        page = await hub.plc.alarms.page(await _tenant(hub, tenant), "all", cursor, limit)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @get("/{alarm_id:str}", summary="One alarm rule", responses=contract(AlarmOut))
    async def get_rule(self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep) -> dict[str, Any]:
        return alarm_view(await hub.plc.alarms.get(await _tenant(hub, tenant), alarm_id))

    @patch(
        "/{alarm_id:str}",
        opt={"action": "alarm_rule.update"},
        summary="Change a rule; `in_service: false` takes the alarm out of service",
        dependencies=documented_body(AlarmRulePatch),
        responses=contract(AlarmOut),
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
    ) -> AlarmRuleDeleted:
        await hub.plc.alarms.delete_rule(
            await _tenant(hub, tenant), alarm_id, request_context(request)
        )
        return AlarmRuleDeleted(alarm_id, True)


class AlarmController(Controller):
    path = "/api/v1/tenants/{tenant:str}/alarms"
    tags = ["alarms"]

    @get(
        "/",
        summary="Alarms by state: active, unacknowledged, shelved or all",
        responses=contract(AlarmList),
    )
    async def list_alarms(
        self,
        tenant: TenantSlug,
        hub: HubDep,
        state_: Annotated[str, QueryParameter(name="state", max_length=32)] = "active",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        page = await hub.plc.alarms.page(await _tenant(hub, tenant), state_, cursor, limit)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @get("/{alarm_id:str}", summary="One alarm with its journal", responses=contract(AlarmDetail))
    async def get_alarm(self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep) -> dict[str, Any]:
        return await hub.plc.alarms.detail(await _tenant(hub, tenant), alarm_id)

    @post(
        "/{alarm_id:str}/ack",
        status_code=HTTP_200_OK,
        opt={"action": "alarm.ack"},
        responses=contract(AlarmOut, errors=[409]),
    )
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

    @post(
        "/{alarm_id:str}/shelve",
        status_code=HTTP_200_OK,
        opt={"action": "alarm.shelve"},
        responses=contract(AlarmOut, errors=[409]),
    )
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

    @post(
        "/{alarm_id:str}/unshelve",
        status_code=HTTP_200_OK,
        opt={"action": "alarm.unshelve"},
        responses=contract(AlarmOut, errors=[409]),
    )
    async def unshelve(
        self, tenant: TenantSlug, alarm_id: AlarmId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        return await hub.plc.alarms.unshelve(
            await _tenant(hub, tenant), alarm_id, request_context(request)
        )
