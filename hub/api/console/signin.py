"""Sign-in and sign-out: the hub's AuthService (as /api/v1/auth/login and /logout use it),
with the tokens kept in the console's session cookie."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.console import csrf
from hub.api.console.nav import Page
from hub.api.console.paths import login_url, safe_next
from hub.api.console.rendering import render
from hub.api.console.session import (
    LOGIN_COOKIE,
    clear_login_nonce,
    end_session,
    new_login_nonce,
    require_session,
    session_of,
    start_session,
)
from hub.api.console.state import console_state
from hub.api.context import request_context
from hub.api.deps import HubDep
from hub.domain.errors import RateLimited, Unauthorized

AnyRequest = Request[Any, Any, Any]
MAX_FIELD = 1024


async def _form(
    request: AnyRequest, error: str | None, status: int, next_path: str, username: str = ""
) -> Template:
    nonce = new_login_nonce(request.scope)
    token = csrf.login_token(console_state(request).csrf_key, nonce)
    return await render(
        request,
        "login.html",
        title="Sign in",
        status_code=status,
        login_token=token,
        error=error,
        next_path=safe_next(next_path),
        username=username,
    )


NextPath = Annotated[str | None, QueryParameter(name="next", max_length=MAX_FIELD)]


# Paths are the console app's own: it is mounted at /ui (paths.PREFIX).
@get("/login", opt={"public": True})
async def login_page(request: AnyRequest, next_path: NextPath = None) -> Response[Any]:
    if session_of(request) is not None:
        return Redirect(safe_next(next_path), status_code=HTTP_303_SEE_OTHER)
    return await _form(request, None, 200, next_path or "")


@post("/login", opt={"public": True, "audit_self": True})
async def login(request: AnyRequest, hub: HubDep) -> Response[Any]:
    form = await request.form()
    username = str(form.get("username", ""))[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    next_path = safe_next(str(form.get("next", ""))[:MAX_FIELD])
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = csrf.login_token(console_state(request).csrf_key, nonce) if nonce else ""
    if not nonce or not csrf.matches(expected, str(form.get(csrf.FIELD, ""))):
        message = "The sign-in form expired or was not sent from this page; please try again."
        return await _form(request, message, 403, next_path, username)
    try:
        pair = await hub.auth.login(username, password, request_context(request))
    except RateLimited as exc:
        response = await _form(request, exc.detail, 429, next_path, username)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthorized as exc:
        message = f"{exc.detail[:1].upper()}{exc.detail[1:]}."
        return await _form(request, message, 401, next_path, username)
    start_session(request.scope, hub, pair)
    clear_login_nonce(request.scope)
    return Redirect(next_path, status_code=HTTP_303_SEE_OTHER)


@post("/logout", opt={"api": ("POST", "/api/v1/auth/logout"), "action": "auth.logout"})
async def logout(request: AnyRequest, hub: HubDep) -> Response[Any]:
    session = require_session(request)
    await hub.auth.logout(session.user_id, session.refresh_token, request_context(request))
    end_session(request.scope)
    return Redirect(login_url(), status_code=HTTP_303_SEE_OTHER)


PAGE = Page(handlers=[login_page, login, logout])
