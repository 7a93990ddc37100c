"""/ui/: the user's first tenant, or the tenant picker when there is none to go to."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.console.nav import Page
from hub.api.console.paths import TENANT_PICKER, tenant_url
from hub.api.console.rendering import render
from hub.api.console.session import require_session

AnyRequest = Request[Any, Any, Any]
SIGNED_IN = ("GET", "/api/v1/me")  # every signed-in, active user
TENANTS = ("GET", "/api/v1/tenants")


@get("/", opt={"api": SIGNED_IN})
async def home(request: AnyRequest) -> Response[Any]:
    session = require_session(request)
    if session.tenants:
        return Redirect(tenant_url(min(session.tenants)), status_code=HTTP_303_SEE_OTHER)
    return Redirect(TENANT_PICKER, status_code=HTTP_303_SEE_OTHER)


@get("/tenants", opt={"api": TENANTS})
async def tenant_picker(request: AnyRequest) -> Response[Any]:
    return await render(request, "tenants.html", title="Tenants")


PAGE = Page(handlers=[home, tenant_picker])
