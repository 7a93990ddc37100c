"""The one guard on every route: bearer token, then casbin. Deny by default.

A route is reachable without a token only when its handler sets `opt={"public": True}`.
Asking for a tenant the caller has no role in answers 404, never 403, so the answer does
not reveal that the tenant exists. Refusals are marked so the audit hook records them as
denials.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from hub.bootstrap import Hub
from hub.domain.errors import Forbidden, HubError, NotFound, Unauthorized
from hub.domain.tenancy import Principal
from hub.security.rbac import GLOBAL_DOMAIN


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization: Bearer <access_token>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <access_token>'")
    return token.strip()


def _denied(error: HubError) -> HubError:
    error.denied = True  # type: ignore[attr-defined]
    return error


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("public"):
        return
    hub: Hub = connection.app.state.hub
    claims = hub.tokens.verify(bearer_token(connection))
    authorizer = hub.authorizer
    await authorizer.refresh_if_stale()
    user_id = claims.user_id
    if not authorizer.is_active(user_id):
        raise Unauthorized("user is not active")
    connection.scope.setdefault("state", {})["actor"] = authorizer.username_of(user_id)  # type: ignore[typeddict-item]
    domain = connection.path_params.get("tenant", GLOBAL_DOMAIN)
    if not authorizer.allowed(user_id, domain, connection.scope["path"], connection.method):
        admin = authorizer.is_platform_admin(user_id)
        if domain != GLOBAL_DOMAIN and not admin and not authorizer.is_member(user_id, domain):
            raise _denied(NotFound(f"tenant {domain!r} not found"))
        raise _denied(
            Forbidden(f"your role does not permit {connection.method} {connection.url.path}")
        )
    connection.state.principal = Principal(
        user_id, authorizer.is_platform_admin(user_id), authorizer.tenants_of(user_id)
    )


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal = connection.state.get("principal")
    if principal is None:
        raise Unauthorized("no authenticated user on this request")
    return principal
