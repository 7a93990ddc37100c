"""Industry packs and incidents: /api/v1/tenants/{tenant}/packs[...], .../incidents[...]."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from hub.api.context import request_context
from hub.api.contracts import OptionalBodyOperation, contract, documented_body
from hub.api.deps import HubDep
from hub.api.devices import Cursor, Limit, TenantSlug, _body, _tenant
from hub.api.schemas.packs import (
    IncidentDetail,
    IncidentList,
    IncidentOut,
    PackList,
    PackOut,
    PackParametersIn,
    ReviewIn,
)
from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.paging import DEFAULT_LIMIT

PackName = Annotated[str, PathParameter(max_length=64)]
IncidentId = Annotated[str, PathParameter(max_length=64)]
Status = Annotated[str | None, QueryParameter(max_length=16)]
AnyRequest = Request[Any, Any, Any]


def _parameters(raw: bytes) -> Any:
    body = _body(raw) if raw else {}
    unknown = [k for k in body if k != "parameters"]
    if unknown:
        raise ValidationFailed([FieldProblem(k, "unknown field") for k in unknown])
    return body.get("parameters")


class PackController(Controller):
    path = "/api/v1/tenants/{tenant:str}/packs"
    tags = ["packs"]

    @get(
        "/",
        summary="Available and installed industry packs, with versions",
        responses=contract(PackList),
    )
    async def list_packs(self, tenant: TenantSlug, hub: HubDep) -> dict[str, Any]:
        return {"items": await hub.packs.installed(await _tenant(hub, tenant)), "next_cursor": None}

    @get(
        "/{name:str}",
        summary="One pack: its parameter schema and installation",
        responses=contract(PackOut),
    )
    async def get_pack(self, tenant: TenantSlug, name: PackName, hub: HubDep) -> dict[str, Any]:
        return await hub.packs.get(await _tenant(hub, tenant), name)

    @post(
        "/{name:str}/install",
        opt={"action": "pack.install"},
        summary="Install a pack: its workflows, alarm rules and policies, in one transaction",
        dependencies=documented_body(PackParametersIn),
        operation_class=OptionalBodyOperation,
        responses=contract(PackOut, 201, errors=[409]),
    )
    async def install(
        self, tenant: TenantSlug, name: PackName, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        params = _parameters(await request.body())
        the_tenant = await _tenant(hub, tenant)
        return await hub.packs.install(the_tenant, name, params, request_context(request))

    @post(
        "/{name:str}/upgrade",
        opt={"action": "pack.upgrade"},
        status_code=HTTP_200_OK,
        summary="Upgrade to the available newer version (parameters default to the installed)",
        dependencies=documented_body(PackParametersIn),
        operation_class=OptionalBodyOperation,
        responses=contract(PackOut, errors=[409]),
    )
    async def upgrade(
        self, tenant: TenantSlug, name: PackName, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        params = _parameters(await request.body())
        the_tenant = await _tenant(hub, tenant)
        return await hub.packs.upgrade(the_tenant, name, params, request_context(request))

    @delete(
        "/{name:str}",
        opt={"action": "pack.uninstall"},
        status_code=HTTP_200_OK,
        summary="Uninstall: triggers off, rules out of service; runs, incidents, audit stay",
        responses=contract(PackOut, errors=[409]),
    )
    async def uninstall(
        self, tenant: TenantSlug, name: PackName, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        the_tenant = await _tenant(hub, tenant)
        return await hub.packs.uninstall(the_tenant, name, request_context(request))


class IncidentController(Controller):
    path = "/api/v1/tenants/{tenant:str}/incidents"
    tags = ["incidents"]

    @get(
        "/",
        summary="Incidents, newest first (`status=open|reviewed`)",
        responses=contract(IncidentList),
    )
    async def list_incidents(
        self,
        tenant: TenantSlug,
        hub: HubDep,
        status: Status = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        page = await hub.incidents.page(await _tenant(hub, tenant), status, cursor, limit)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @get(
        "/{incident_id:str}",
        summary="One incident with its timeline: run history, alarm journal, telemetry",
        responses=contract(IncidentDetail),
    )
    async def get_incident(
        self, tenant: TenantSlug, incident_id: IncidentId, hub: HubDep
    ) -> dict[str, Any]:
        return await hub.incidents.detail(await _tenant(hub, tenant), incident_id)

    @post(
        "/{incident_id:str}/review",
        opt={"action": "incident.review"},
        status_code=HTTP_200_OK,
        summary="Review an incident: `{outcome: confirmed|false_alarm|needs_action, comment}`",
        dependencies=documented_body(ReviewIn),
        responses=contract(IncidentOut, errors=[409]),
    )
    async def review(
        self, tenant: TenantSlug, incident_id: IncidentId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        body = _body(await request.body())
        the_tenant = await _tenant(hub, tenant)
        return await hub.incidents.review(the_tenant, incident_id, body, request_context(request))
