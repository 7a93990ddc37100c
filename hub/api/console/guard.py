"""The console's one check before every handler (its app's `before_request` hook).

1. The session is read from the cookie (and refreshed when its access token expired).
2. A handler with `opt={"public": True}` (sign-in, static files) passes.
3. Everything else needs a session (else the browser is sent to the sign-in page), a
   valid CSRF token on any unsafe method, and the permission of the API call the handler
   declares in `opt={"api": (method, path template)}`, decided by the API's casbin
   policy (permissions.py). Deny by default: the console refuses to start with a handler
   that declares neither (app.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from hub.api.console import csrf
from hub.api.console.permissions import require
from hub.api.console.session import STATE_KEY, SignInRequired, resolve
from hub.api.console.state import console_state
from hub.domain.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class CsrfRefused(Forbidden):
    def __init__(self) -> None:
        super().__init__("the form's security token is missing or wrong; reload the page")


async def submitted_token(request: Request[Any, Any, Any]) -> str | None:
    """The CSRF token of an unsafe request: the X-CSRF-Token header (htmx), or the form's
    hidden field."""
    header = request.headers.get(csrf.HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").split(";")[0].strip() in FORM_TYPES:
        value = (await request.form()).get(csrf.FIELD)
        return value if isinstance(value, str) else None
    return None


async def console_guard(request: Request[Any, Any, Any]) -> None:
    opt = request.scope["route_handler"].opt
    if opt.get("assets"):
        return  # static files: no session needed, none looked up
    state = console_state(request)
    hub = request.app.state.hub
    session = await resolve(request, hub, state.refresher)
    scope_state: dict[str, Any] = request.scope.setdefault("state", {})
    scope_state[STATE_KEY] = session
    if session is not None:
        scope_state["actor"] = session.username  # the audit context (hub/api/context.py)
        scope_state["principal"] = session.principal
    if opt.get("public"):
        return
    if session is None:
        raise SignInRequired()
    if request.method not in SAFE_METHODS:
        expected = csrf.session_token(state.csrf_key, session.user_id, session.session_id)
        if not csrf.matches(expected, await submitted_token(request)):
            raise CsrfRefused()
    api = opt.get("api")
    if api is None:  # Litestar's automatic OPTIONS handler; app.py refuses any other
        return
    method, template = api
    require(request, method, template)
