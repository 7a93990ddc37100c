"""ERP connections (issue 15): /api/v1/tenants/{tenant}/connections[/{name}[/...]].

One controller for a connection and what is done through it: the CRUD routes, and on one
connection its health (a real request), its $metadata and a query (the hub's
EnterpriseGateway: names checked against the metadata before a request goes out, the
connection's circuit breaker, the tenant's egress policy on every call).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from hub.api.bodies import json_object
from hub.api.context import request_context
from hub.api.contracts import contract, documented_body
from hub.api.deps import HubDep
from hub.api.schemas.enterprise import (
    ConnectionDeleted,
    ConnectionHealth,
    ConnectionIn,
    ConnectionList,
    ConnectionOut,
    ConnectionPatch,
    QueryIn,
    QueryOut,
    ServiceMetadataOut,
)
from hub.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from hub.domain.tenancy import Tenant
from hub.ports.enterprise import EntityQuery

TenantSlug = Annotated[str, PathParameter(max_length=63)]
ConnectionRef = Annotated[str, PathParameter(max_length=64, description="connection name")]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, QueryParameter(max_length=200)]
AnyRequest = Request[Any, Any, Any]


async def _tenant(hub: Any, slug: str) -> Tenant:
    return await hub.tenants.get(slug)


class ConnectionController(Controller):
    path = "/api/v1/tenants/{tenant:str}/connections"
    tags = ["connections"]

    @post(
        "/",
        opt={"action": "connection.create"},
        summary="Add an ERP (OData) connection; its secret is write-only",
        dependencies=documented_body(ConnectionIn),
        responses=contract(ConnectionOut, 201, errors=[409]),
    )
    async def create(self, tenant: TenantSlug, hub: HubDep, request: AnyRequest) -> ConnectionOut:
        body = json_object(await request.body())
        stored = await hub.connections.create(
            await _tenant(hub, tenant), body, request_context(request)
        )
        return ConnectionOut.of(stored)

    @get("/", summary="The tenant's ERP connections", responses=contract(ConnectionList))
    async def list_connections(
        self, tenant: TenantSlug, hub: HubDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> ConnectionList:
        page = await hub.connections.page(await _tenant(hub, tenant), cursor, limit)
        return ConnectionList([ConnectionOut.of(c) for c in page.items], page.next_cursor)

    @get("/{name:str}", summary="One ERP connection", responses=contract(ConnectionOut))
    async def get_connection(
        self, tenant: TenantSlug, name: ConnectionRef, hub: HubDep
    ) -> ConnectionOut:
        return ConnectionOut.of(await hub.connections.get(await _tenant(hub, tenant), name))

    @patch(
        "/{name:str}",
        opt={"action": "connection.update"},
        summary="Change an ERP connection (a secret left out is kept)",
        dependencies=documented_body(ConnectionPatch),
        responses=contract(ConnectionOut),
    )
    async def update(
        self, tenant: TenantSlug, name: ConnectionRef, hub: HubDep, request: AnyRequest
    ) -> ConnectionOut:
        body = json_object(await request.body())
        stored = await hub.connections.update(
            await _tenant(hub, tenant), name, body, request_context(request)
        )
        return ConnectionOut.of(stored)

    @delete(
        "/{name:str}",
        status_code=HTTP_200_OK,
        opt={"action": "connection.delete"},
        summary="Remove an ERP connection and its secrets",
        responses=contract(ConnectionDeleted),
    )
    async def remove(
        self, tenant: TenantSlug, name: ConnectionRef, hub: HubDep, request: AnyRequest
    ) -> ConnectionDeleted:
        await hub.connections.delete(await _tenant(hub, tenant), name, request_context(request))
        return ConnectionDeleted(name, True)

    # --- through the connection (hub.services.enterprise.gateway) ----------------------

    @get(
        "/{name:str}/health",
        summary="Whether the ERP answers now, how fast, and the circuit's state",
        responses=contract(ConnectionHealth),
    )
    async def health(
        self, tenant: TenantSlug, name: ConnectionRef, hub: HubDep
    ) -> ConnectionHealth:
        found = await _tenant(hub, tenant)
        health = await hub.erp.health(found.id, name)
        return ConnectionHealth(health.ok, health.latency_ms, health.circuit, health.error)

    @get(
        "/{name:str}/metadata",
        summary="The service's entity sets (keys, typed properties) and actions/functions",
        responses=contract(ServiceMetadataOut, errors=[502, 503]),
    )
    async def metadata(self, tenant: TenantSlug, name: ConnectionRef, hub: HubDep) -> Any:
        found = await _tenant(hub, tenant)
        return (await hub.erp.metadata(found.id, name)).view()

    @post(
        "/{name:str}/query",
        status_code=HTTP_200_OK,
        summary="Read entities: one page with top, else every server page to the end",
        responses=contract(QueryOut, errors=[502, 503]),
    )
    async def query(
        self, tenant: TenantSlug, name: ConnectionRef, hub: HubDep, data: JSONBody[QueryIn]
    ) -> QueryOut:
        found = await _tenant(hub, tenant)
        query = EntityQuery(
            data.entity_set,
            filter=data.filter,
            select=tuple(data.select or ()),
            expand=tuple(data.expand or ()),
            orderby=tuple(data.orderby or ()),
            top=data.top,
            skip=data.skip,
        )
        page = await hub.erp.query(found.id, name, query)
        return QueryOut(page.items, page.count if page.count is not None else len(page.items))
