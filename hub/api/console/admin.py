"""Admin: /ui/t/{tenant}/admin — the tenant's users and their roles. Add a user with a
role (a new one with a password, or, for the platform admin, an existing one), change a
role, deactivate and reactivate: the TenantService calls behind
/api/v1/tenants/{tenant}/users[/{user_id}] (POST, PATCH, DELETE), for those the API lets
make them. A 422 is shown beside the field, a 409 (the last tenant admin, a taken
username) beside the row or the form, with what was typed kept (never the password)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import MediaType, Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.audit_hooks import record_refusal
from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can
from hub.api.console.rendering import render
from hub.api.console.session import require_session
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.errors import Conflict, NotFound, ValidationFailed
from hub.domain.paging import MAX_LIMIT
from hub.domain.tenancy import TenantMember, TenantRole
from hub.services.tenancy.tenants import MemberChange, NewMember

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
UserId = Annotated[str, PathParameter(max_length=64)]
Cursor = Annotated[str | None, QueryParameter(max_length=200)]
Done = Annotated[str | None, QueryParameter(max_length=16)]
UserQuery = Annotated[str | None, QueryParameter(name="user", max_length=64)]
USERS = ("GET", "/api/v1/tenants/{tenant}/users")
ADD = ("POST", "/api/v1/tenants/{tenant}/users")
CHANGE = ("PATCH", "/api/v1/tenants/{tenant}/users/{user_id}")
DEACTIVATE = ("DELETE", "/api/v1/tenants/{tenant}/users/{user_id}")
ROLES = tuple(r.value for r in TenantRole)
MAX_FIELD = 1024  # what is read of a field (the service names what is too long)
DONE = {
    "added": "Added",
    "role": "Role changed",
    "deactivated": "Deactivated",
    "reactivated": "Reactivated",
}
FIELDS = ("username", "role", "password")


def _admin_url(tenant: str, **query: str) -> str:
    url = tenant_url(tenant, "admin")
    return f"{url}?{urlencode(query)}" if query else url


def _user_url(tenant: str, user_id: str, action: str) -> str:
    return tenant_url(tenant, f"admin/users/{quote(user_id, safe='')}/{action}")


async def _field(request: AnyRequest, name: str) -> str:
    value = (await request.form()).get(name, "")
    return value[:MAX_FIELD] if isinstance(value, str) else ""


async def _page(
    request: AnyRequest,
    tenant: str,
    *,
    cursor: str | None = None,
    done: str | None = None,
    done_user: str | None = None,
    add_form: dict[str, str] | None = None,
    add_errors: dict[str, list[str]] | None = None,
    add_general: list[str] | None = None,
    row_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    hub: Hub = request.app.state.hub
    page = await hub.tenants.list_members(tenant, cursor, MAX_LIMIT)
    members: list[TenantMember] = page.items
    done_member = None
    if done in DONE and done_user:
        done_member = next((m for m in members if m.user.id == done_user), None)
        if done_member is None:
            try:
                done_member = await hub.tenants.get_member(tenant, done_user)
            except NotFound:
                done_member = None
    session = require_session(request)
    return await render(
        request,
        "admin/page.html",
        title="Users and roles",
        active="admin",
        status_code=status_code,
        members=members,
        roles=ROLES,
        me=session.user_id,
        platform_admin=session.is_platform_admin,
        may_add=can(request, *ADD),
        may_change=lambda user_id: can(request, *CHANGE, user_id=user_id),
        may_deactivate=lambda user_id: can(request, *DEACTIVATE, user_id=user_id),
        user_url=lambda user_id, action: _user_url(tenant, user_id, action),
        add_url=tenant_url(tenant, "admin/users"),
        next_url=_admin_url(tenant, cursor=page.next_cursor) if page.next_cursor else None,
        first_url=_admin_url(tenant) if cursor else None,
        done=DONE.get(done or "") if done_member is not None else None,
        done_member=done_member,
        add_form=add_form or {"username": "", "role": "operator"},
        add_errors=add_errors or {},
        add_general=add_general or [],
        row_errors=row_errors or {},
    )


@get("/t/{tenant:str}/admin", opt={"api": USERS})
async def admin_page(
    request: AnyRequest,
    tenant: TenantSlug,
    cursor: Cursor = None,
    done: Done = None,
    user: UserQuery = None,
) -> Template:
    return await _page(request, tenant, cursor=cursor, done=done, done_user=user)


@post(
    "/t/{tenant:str}/admin/users",
    opt={"api": ADD, "action": "user.create"},
    media_type=MediaType.HTML,
)
async def add_user(request: AnyRequest, tenant: TenantSlug) -> Response[Any]:
    hub: Hub = request.app.state.hub
    session = require_session(request)
    username = await _field(request, "username")
    role = await _field(request, "role")
    password = await _field(request, "password")
    new = NewMember(username, role, password or None)
    try:
        member = await hub.tenants.add_member(
            tenant, new, session.principal, request_context(request)
        )
    except (ValidationFailed, Conflict) as exc:
        await record_refusal(exc, request.scope)  # audited as the API's failed call is
        errors: dict[str, list[str]] = {}
        general: list[str] = []
        if isinstance(exc, ValidationFailed):
            for problem in exc.problems:
                if problem.field in FIELDS:
                    errors.setdefault(problem.field, []).append(problem.message)
                else:
                    general.append(f"{problem.field}: {problem.message}")
        else:
            general.append(exc.detail)
        return await _page(
            request,
            tenant,
            add_form={"username": username, "role": role},
            add_errors=errors,
            add_general=general,
            status_code=exc.status,
        )
    return Redirect(
        _admin_url(tenant, done="added", user=member.user.id), status_code=HTTP_303_SEE_OTHER
    )


async def _change(
    request: AnyRequest, tenant: str, user_id: str, change: MemberChange | None, done: str
) -> Response[Any]:
    hub: Hub = request.app.state.hub
    ctx = request_context(request)
    try:
        if change is None:
            await hub.tenants.deactivate_member(tenant, user_id, ctx)
        else:
            await hub.tenants.change_member(tenant, user_id, change, ctx)
    except (ValidationFailed, Conflict) as exc:
        await record_refusal(exc, request.scope)
        message = (
            "; ".join(p.message for p in exc.problems)
            if isinstance(exc, ValidationFailed)
            else exc.detail
        )
        return await _page(request, tenant, row_errors={user_id: message}, status_code=exc.status)
    return Redirect(_admin_url(tenant, done=done, user=user_id), status_code=HTTP_303_SEE_OTHER)


@post(
    "/t/{tenant:str}/admin/users/{user_id:str}/role",
    opt={"api": CHANGE, "action": "member.update"},
    media_type=MediaType.HTML,
)
async def change_role(request: AnyRequest, tenant: TenantSlug, user_id: UserId) -> Response[Any]:
    role = await _field(request, "role")
    return await _change(request, tenant, user_id, MemberChange(role=role), "role")


@post(
    "/t/{tenant:str}/admin/users/{user_id:str}/deactivate",
    opt={"api": DEACTIVATE, "action": "member.deactivate"},
    media_type=MediaType.HTML,
)
async def deactivate(request: AnyRequest, tenant: TenantSlug, user_id: UserId) -> Response[Any]:
    return await _change(request, tenant, user_id, None, "deactivated")


@post(
    "/t/{tenant:str}/admin/users/{user_id:str}/reactivate",
    opt={"api": CHANGE, "action": "member.update"},
    media_type=MediaType.HTML,
)
async def reactivate(request: AnyRequest, tenant: TenantSlug, user_id: UserId) -> Response[Any]:
    change = MemberChange(status="active")
    return await _change(request, tenant, user_id, change, "reactivated")


PAGE = Page(
    handlers=[admin_page, add_user, change_role, deactivate, reactivate],
    nav=NavEntry("admin", "Admin", "admin", USERS),
)
