"""Packs: /ui/t/{tenant}/packs — the catalog with installed and available versions; a
pack's page with its installation (version, what it created, its parameters, secrets
shown as "***") and the install or upgrade form generated from the pack's JSON Schema
(schema_form.py). The form posts to the same PackService calls as
POST /api/v1/tenants/{tenant}/packs/{name}/install|upgrade and DELETE .../packs/{name};
a 422 shows each problem beside the input it names, with what was typed kept (secrets
excepted, never written back into the page)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import MediaType, Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.audit_hooks import record_refusal
from hub.api.console import schema_form
from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can
from hub.api.console.rendering import render
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.errors import ValidationFailed

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
PackName = Annotated[str, PathParameter(max_length=64)]
Done = Annotated[str | None, QueryParameter(max_length=16)]
LIST = ("GET", "/api/v1/tenants/{tenant}/packs")
ONE = ("GET", "/api/v1/tenants/{tenant}/packs/{name}")
INSTALL = ("POST", "/api/v1/tenants/{tenant}/packs/{name}/install")
UPGRADE = ("POST", "/api/v1/tenants/{tenant}/packs/{name}/upgrade")
UNINSTALL = ("DELETE", "/api/v1/tenants/{tenant}/packs/{name}")
DONE = {
    "install": "Installed",
    "upgrade": "Upgraded",
    "uninstall": "Uninstalled",
}


def _pack_url(tenant: str, name: str, done: str | None = None) -> str:
    url = tenant_url(tenant, f"packs/{quote(name, safe='')}")
    return f"{url}?done={done}" if done else url


async def _form_values(request: AnyRequest) -> dict[str, list[str]]:
    form = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key.startswith(schema_form.ROOT):
            values.setdefault(key, []).append(value)
    return values


def _action(pack: dict[str, Any]) -> str | None:
    """What the form does for this pack: install, upgrade, or nothing (up to date)."""
    if pack.get("status") == "installed":
        return "upgrade" if pack.get("upgradable") else None
    return "install" if pack.get("available_version") else None


async def _pack_page(
    request: AnyRequest,
    tenant: str,
    name: str,
    *,
    form: dict[str, list[str]] | None = None,
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    hub: Hub = request.app.state.hub
    pack = await hub.packs.get(await hub.tenants.get(tenant), name)
    action = _action(pack)
    tree = schema_form.build(pack.get("parameters_schema") or {"type": "object"})
    allowed = action is not None and can(request, *(INSTALL if action == "install" else UPGRADE))
    if form is None:
        # an upgrade starts from the installed parameters; an install from the defaults
        start = pack.get("parameters") if action == "upgrade" else None
        form = schema_form.initial(tree, start)
    return await render(
        request,
        "packs/pack.html",
        title=f"Pack {name}",
        active="packs",
        status_code=status_code,
        pack=pack,
        action=action if allowed else None,
        tree=tree,
        form=form,
        errors=errors or {},
        general=general or [],
        done=DONE.get(done or ""),
        may_uninstall=pack.get("status") == "installed" and can(request, *UNINSTALL),
        summary=[
            (schema_form.input_id(key), schema_form.describe(key), message)
            for key, messages in (errors or {}).items()
            for message in messages
        ],
        cell_name=schema_form.cell_name,
        input_id=schema_form.input_id,
        table_rows=schema_form.table_rows,
        install_url=_pack_url(tenant, name) + "/install",
        upgrade_url=_pack_url(tenant, name) + "/upgrade",
        uninstall_url=_pack_url(tenant, name) + "/uninstall",
        list_url=tenant_url(tenant, "packs/"),
    )


@get("/t/{tenant:str}/packs", opt={"api": LIST})
async def packs_page(request: AnyRequest, tenant: TenantSlug) -> Template:
    hub: Hub = request.app.state.hub
    items = await hub.packs.installed(await hub.tenants.get(tenant))
    return await render(
        request,
        "packs/list.html",
        title="Packs",
        active="packs",
        packs=items,
        pack_url=lambda name: _pack_url(tenant, name),
        may_read=can(request, "GET", ONE[1], name="any"),
    )


@get("/t/{tenant:str}/packs/{name:str}", opt={"api": ONE})
async def pack_page(
    request: AnyRequest, tenant: TenantSlug, name: PackName, done: Done = None
) -> Template:
    return await _pack_page(request, tenant, name, done=done)


async def _submit(request: AnyRequest, tenant: str, name: str, action: str) -> Response[Any]:
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    pack = await hub.packs.get(the_tenant, name)
    tree = schema_form.build(pack.get("parameters_schema") or {"type": "object"})
    reading = schema_form.read(tree, await _form_values(request))
    if not reading.ok:  # the form's own reading (not a number, not JSON): nothing sent
        return await _pack_page(
            request, tenant, name, form=reading.form, errors=reading.problems, status_code=422
        )
    params = reading.value if reading.value is not None else {}
    ctx = request_context(request)
    try:
        if action == "install":
            await hub.packs.install(the_tenant, name, params, ctx)
        else:
            await hub.packs.upgrade(the_tenant, name, params, ctx)
    except ValidationFailed as exc:
        await record_refusal(exc, request.scope)  # audited as the API's failed call is
        placed, general = schema_form.place(tree, ((p.field, p.message) for p in exc.problems))
        return await _pack_page(
            request,
            tenant,
            name,
            form=reading.form,
            errors=placed,
            general=general,
            status_code=422,
        )
    return Redirect(_pack_url(tenant, name, action), status_code=HTTP_303_SEE_OTHER)


@post(
    "/t/{tenant:str}/packs/{name:str}/install",
    opt={"api": INSTALL, "action": "pack.install"},
    media_type=MediaType.HTML,
)
async def install(request: AnyRequest, tenant: TenantSlug, name: PackName) -> Response[Any]:
    return await _submit(request, tenant, name, "install")


@post(
    "/t/{tenant:str}/packs/{name:str}/upgrade",
    opt={"api": UPGRADE, "action": "pack.upgrade"},
    media_type=MediaType.HTML,
)
async def upgrade(request: AnyRequest, tenant: TenantSlug, name: PackName) -> Response[Any]:
    return await _submit(request, tenant, name, "upgrade")


@post(
    "/t/{tenant:str}/packs/{name:str}/uninstall",
    opt={"api": UNINSTALL, "action": "pack.uninstall"},
    media_type=MediaType.HTML,
)
async def uninstall(request: AnyRequest, tenant: TenantSlug, name: PackName) -> Response[Any]:
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    await hub.packs.uninstall(the_tenant, name, request_context(request))
    return Redirect(_pack_url(tenant, name, "uninstall"), status_code=HTTP_303_SEE_OTHER)


PAGE = Page(
    handlers=[packs_page, pack_page, install, upgrade, uninstall],
    nav=NavEntry("packs", "Packs", "packs/", LIST),
)
