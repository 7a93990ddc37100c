"""Tenants and their users: /api/v1/tenants[/{tenant}[/users[/{user_id}]]]."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from hub.api.context import request_context
from hub.api.contracts import problems
from hub.api.deps import HubDep
from hub.api.guards import principal_of
from hub.api.schemas import (
    MemberIn,
    MemberList,
    MemberOut,
    MemberPatch,
    TenantIn,
    TenantList,
    TenantOut,
    TenantPatch,
)
from hub.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from hub.domain.tenancy import TenantMember
from hub.ports import Page
from hub.services.tenancy.tenants import MemberChange, NewMember

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, QueryParameter(max_length=200, description="from next_cursor")]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
UserId = Annotated[str, PathParameter(max_length=64)]
AnyRequest = Request[Any, Any, Any]


def _member_list(page: Page[TenantMember]) -> MemberList:
    return MemberList([MemberOut.of(m) for m in page.items], page.next_cursor)


class TenantController(Controller):
    path = "/api/v1/tenants"
    tags = ["tenants"]

    @post(
        "/",
        opt={"action": "tenant.create"},
        summary="Create a tenant (platform admin)",
        responses=problems(409),
    )
    async def create(self, data: JSONBody[TenantIn], hub: HubDep, request: AnyRequest) -> TenantOut:
        ctx = request_context(request)
        return TenantOut.of(await hub.tenants.create(data.slug, data.name, ctx))

    @get("/", summary="Tenants: all for a platform admin, otherwise the caller's own")
    async def list_tenants(
        self, hub: HubDep, request: AnyRequest, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> TenantList:
        page = await hub.tenants.page(principal_of(request), cursor, limit)
        return TenantList([TenantOut.of(t) for t in page.items], page.next_cursor)

    @get("/{tenant:str}", summary="One tenant")
    async def get_tenant(self, tenant: TenantSlug, hub: HubDep) -> TenantOut:
        return TenantOut.of(await hub.tenants.get(tenant))

    @patch(
        "/{tenant:str}",
        opt={"action": "tenant.update"},
        summary="Rename, suspend or reactivate a tenant (platform admin)",
    )
    async def update_tenant(
        self, tenant: TenantSlug, data: JSONBody[TenantPatch], hub: HubDep, request: AnyRequest
    ) -> TenantOut:
        ctx = request_context(request)
        return TenantOut.of(await hub.tenants.update(tenant, data.name, data.status, ctx))


class TenantUserController(Controller):
    path = "/api/v1/tenants/{tenant:str}/users"
    tags = ["users"]

    @post(
        "/",
        opt={"action": "user.create"},
        summary="Create a user in the tenant, or add an existing one (platform admin)",
        responses=problems(409),
    )
    async def add(
        self, tenant: TenantSlug, data: JSONBody[MemberIn], hub: HubDep, request: AnyRequest
    ) -> MemberOut:
        new = NewMember(data.username, data.role, data.password)
        member = await hub.tenants.add_member(
            tenant, new, principal_of(request), request_context(request)
        )
        return MemberOut.of(member)

    @get("/", summary="The tenant's users")
    async def list_users(
        self, tenant: TenantSlug, hub: HubDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> MemberList:
        return await hub.tenants.list_members(tenant, cursor, limit, present=_member_list)

    @get("/{user_id:str}", summary="One user of the tenant")
    async def get_user(self, tenant: TenantSlug, user_id: UserId, hub: HubDep) -> MemberOut:
        return MemberOut.of(await hub.tenants.get_member(tenant, user_id))

    @patch(
        "/{user_id:str}",
        opt={"action": "member.update"},
        summary="Change a user's role or status in the tenant",
        responses=problems(409),
    )
    async def update_user(
        self,
        tenant: TenantSlug,
        user_id: UserId,
        data: JSONBody[MemberPatch],
        hub: HubDep,
        request: AnyRequest,
    ) -> MemberOut:
        change = MemberChange(data.role, data.status)
        ctx = request_context(request)
        return MemberOut.of(await hub.tenants.change_member(tenant, user_id, change, ctx))

    @delete(
        "/{user_id:str}",
        status_code=HTTP_200_OK,
        opt={"action": "member.deactivate"},
        summary="Deactivate a user in the tenant (the record is kept)",
        responses=problems(409),
    )
    async def deactivate_user(
        self, tenant: TenantSlug, user_id: UserId, hub: HubDep, request: AnyRequest
    ) -> MemberOut:
        ctx = request_context(request)
        return MemberOut.of(await hub.tenants.deactivate_member(tenant, user_id, ctx))
