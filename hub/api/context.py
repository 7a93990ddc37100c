"""Per-request context: a request id on every response, and who is acting, for the audit log."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hub.domain.audit import ActorType, RequestContext

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Take a sane X-Request-ID from the client or make one, and echo it on the response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id  # type: ignore[typeddict-item]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers  # type: ignore[typeddict-unknown-key]
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


def scope_context(scope: Scope) -> RequestContext:
    state: dict[str, Any] = scope.get("state") or {}  # type: ignore[assignment]
    actor = state.get("actor")
    client = scope.get("client")
    return RequestContext(
        actor=actor or "anonymous",
        actor_type=ActorType.USER if actor else ActorType.ANONYMOUS,
        request_id=state.get("request_id", ""),
        ip=client[0] if client else "",
    )


def request_context(connection: ASGIConnection[Any, Any, Any, Any]) -> RequestContext:
    return scope_context(connection.scope)
