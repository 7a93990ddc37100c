"""Per-request context for the audit log: who is acting, from where, under which request id."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.types import Scope

from hub.domain.audit import ActorType, RequestContext


def scope_context(scope: Scope) -> RequestContext:
    state: dict[str, Any] = scope.get("state") or {}
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
