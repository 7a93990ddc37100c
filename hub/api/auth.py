"""POST /api/v1/auth/login|refresh|logout and GET /api/v1/me."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from hub.api.context import request_context
from hub.api.contracts import problems
from hub.api.deps import HubDep
from hub.api.guards import principal_of
from hub.api.schemas import LoginIn, MeOut, RefreshIn, TokenOut
from hub.services.tenancy.auth import TokenPair


def _out(pair: TokenPair) -> TokenOut:
    return TokenOut(pair.access_token, pair.refresh_token, pair.token_type, pair.expires_in)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/login",
        status_code=HTTP_200_OK,
        opt={"public": True, "audit_self": True},
        summary="Exchange a username and password for tokens",
        responses=problems(401, 429),
    )
    async def login(
        self, data: JSONBody[LoginIn], hub: HubDep, request: Request[Any, Any, Any]
    ) -> TokenOut:
        ctx = request_context(request)
        return _out(await hub.auth.login(data.username, data.password, ctx))

    @post(
        "/refresh",
        status_code=HTTP_200_OK,
        opt={"public": True, "audit_self": True},
        summary="Rotate a refresh token; reuse of a rotated one revokes its family",
        responses=problems(401),
    )
    async def refresh(
        self, data: JSONBody[RefreshIn], hub: HubDep, request: Request[Any, Any, Any]
    ) -> TokenOut:
        return _out(await hub.auth.refresh(data.refresh_token, request_context(request)))

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        opt={"action": "auth.logout"},
        summary="Revoke a refresh token",
    )
    async def logout(
        self, data: JSONBody[RefreshIn], hub: HubDep, request: Request[Any, Any, Any]
    ) -> None:
        ctx = request_context(request)
        await hub.auth.logout(principal_of(request).user_id, data.refresh_token, ctx)


@get("/api/v1/me", tags=["auth"], summary="The calling user and its tenant roles")
async def me(hub: HubDep, request: Request[Any, Any, Any]) -> MeOut:
    user, memberships = await hub.auth.me(principal_of(request).user_id)
    return MeOut.of(user, memberships)
