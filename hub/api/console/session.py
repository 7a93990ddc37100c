"""The console session: the hub's own access and refresh tokens in one cookie.

The cookie (`hub_console`, Path=/ui, HttpOnly, SameSite=Strict, Secure on https) holds
`<session id>.<refresh token>.<access token>`: the same tokens /api/v1/auth/login hands
out, from the same AuthService, so a console session is a login like any other (audited,
throttled, revoked by logout, ended by a deactivation). The session id is random and only
keys the CSRF token (csrf.py). When the access token has expired the refresh token is
rotated through AuthService.refresh and the new pair is set on the response; concurrent
requests carrying the same refresh token (a page and its polling fragment) share one
rotation, since presenting a rotated token twice is treated as theft and ends the login.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.types import Scope

from hub.api.console.paths import LOGIN, PREFIX
from hub.api.console.security_headers import queue_header
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.errors import Unauthorized
from hub.domain.tenancy import Principal
from hub.services.tenancy.auth import AuthService, TokenPair

COOKIE = "hub_console"
LOGIN_COOKIE = "hub_console_login"  # the sign-in form's CSRF nonce, before a session exists
LOGIN_NONCE_SECONDS = 3600
STATE_KEY = "console.session"
# How long a rotation is remembered for requests that still carry the old refresh token.
REFRESH_GRACE_SECONDS = 30.0


class SignInRequired(Unauthorized):
    """No (valid) session on a page that needs one: the console sends the browser to the
    sign-in page (htmx requests get HX-Redirect)."""

    def __init__(self) -> None:
        super().__init__("sign in to use the console")


@dataclass(frozen=True)
class ConsoleSession:
    user_id: str
    username: str
    session_id: str
    refresh_token: str
    access_token: str
    is_platform_admin: bool
    tenants: frozenset[str]  # slugs of the tenants the user holds a role in

    @property
    def principal(self) -> Principal:
        return Principal(self.user_id, self.is_platform_admin, self.tenants)


def cookie_value(session_id: str, pair: TokenPair) -> str:
    return f"{session_id}.{pair.refresh_token}.{pair.access_token}"


def parse_cookie(value: str) -> tuple[str, str, str] | None:
    """(session id, refresh token, access token), or None when it is not one of ours."""
    session_id, _, rest = value.partition(".")
    refresh, _, access = rest.partition(".")
    if not session_id or not refresh or access.count(".") != 2 or len(value) > 3000:
        return None
    return session_id, refresh, access


def _is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


def set_cookie(scope: Scope, name: str, value: str, *, max_age: int, path: str = PREFIX) -> None:
    cookie = Cookie(
        key=name,
        value=value,
        path=path,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_is_https(scope),
    )
    queue_header(scope, *cookie.to_encoded_header())


def clear_cookie(scope: Scope, name: str, *, path: str = PREFIX) -> None:
    set_cookie(scope, name, "", max_age=0, path=path)


def start_session(scope: Scope, hub: Hub, pair: TokenPair) -> str:
    """Set the cookie of a new session (after sign-in); its session id."""
    session_id = secrets.token_urlsafe(18)
    set_cookie(scope, COOKIE, cookie_value(session_id, pair), max_age=_cookie_age(hub))
    return session_id


def end_session(scope: Scope) -> None:
    clear_cookie(scope, COOKIE)


def new_login_nonce(scope: Scope) -> str:
    nonce = secrets.token_urlsafe(18)
    set_cookie(scope, LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_SECONDS, path=LOGIN)
    return nonce


def clear_login_nonce(scope: Scope) -> None:
    clear_cookie(scope, LOGIN_COOKIE, path=LOGIN)


def _cookie_age(hub: Hub) -> int:
    return hub.settings.refresh_token_ttl


class Refresher:
    """Rotates refresh tokens, once per token: requests that arrive with the same token
    while (or shortly after) it is rotated get the same new pair."""

    def __init__(self, auth: AuthService, grace: float = REFRESH_GRACE_SECONDS) -> None:
        self._auth = auth
        self._grace = grace
        self._rotations: dict[str, tuple[float, asyncio.Future[TokenPair]]] = {}

    async def refresh(self, refresh_token: str, request: Request[Any, Any, Any]) -> TokenPair:
        now = time.monotonic()
        self._rotations = {k: v for k, v in self._rotations.items() if v[0] > now}
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        found = self._rotations.get(key)
        if found is None:
            rotation = asyncio.ensure_future(
                self._auth.refresh(refresh_token, request_context(request))
            )
            found = (now + self._grace, rotation)
            self._rotations[key] = found
        return await asyncio.shield(found[1])


async def resolve(
    request: Request[Any, Any, Any], hub: Hub, refresher: Refresher
) -> ConsoleSession | None:
    """The request's session, refreshing an expired access token; None when there is no
    valid session (a stale cookie is cleared)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    scope = request.scope
    parsed = parse_cookie(raw)
    if parsed is None:
        end_session(scope)
        return None
    session_id, refresh_token, access_token = parsed
    try:
        claims = hub.tokens.verify(access_token)
    except Unauthorized:
        try:
            pair = await refresher.refresh(refresh_token, request)
        except Unauthorized:
            end_session(scope)
            return None
        refresh_token, access_token = pair.refresh_token, pair.access_token
        claims = hub.tokens.verify(access_token)
        set_cookie(scope, COOKIE, cookie_value(session_id, pair), max_age=_cookie_age(hub))
    authorizer = hub.authorizer
    await authorizer.refresh_if_stale()
    if not authorizer.is_active(claims.user_id):
        end_session(scope)
        return None
    user_id = claims.user_id
    return ConsoleSession(
        user_id,
        authorizer.username_of(user_id),
        session_id,
        refresh_token,
        access_token,
        authorizer.is_platform_admin(user_id),
        authorizer.tenants_of(user_id),
    )


def session_of(request: Request[Any, Any, Any]) -> ConsoleSession | None:
    """The session the console's guard found for this request (None: signed out)."""
    found: ConsoleSession | None = request.scope.get("state", {}).get(STATE_KEY)
    return found


def require_session(request: Request[Any, Any, Any]) -> ConsoleSession:
    found = session_of(request)
    if found is None:
        raise SignInRequired()
    return found
