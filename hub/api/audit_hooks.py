"""Record refused and failed calls in the audit log.

Successful changes are recorded by the services, in the transaction of the change. What
never reaches a service, or fails inside one and is rolled back, is recorded here in a
transaction of its own: authorization denials (any method) and mutating calls that
failed. A 401 is not recorded: without a valid token there is no actor, and recording
anonymous noise would let anyone grow every log. A caller refused a tenant they hold no
role in (404) is recorded in the platform's log, not the tenant's: the tenant's auditors
would otherwise read every prober's username, and any signed-in user could grow any
tenant's log.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import Scope

from hub.api.context import scope_context
from hub.bootstrap import Hub
from hub.domain.audit import PLATFORM_LOG, AuditEvent, Outcome
from hub.domain.errors import HubError, NotFound

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger(__name__)


def _status(exc: Exception) -> int:
    if isinstance(exc, HubError):
        return exc.status
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


async def _log_ids(hub: Hub, slug: str | None) -> list[str]:
    if slug is None:
        return [PLATFORM_LOG]
    try:
        return [(await hub.tenants.get(slug)).id]
    except NotFound:
        return [PLATFORM_LOG]


async def record_refusal(exc: Exception, scope: Scope) -> None:
    handler: Any = scope.get("route_handler")
    if handler is None or scope["type"] != ScopeType.HTTP:
        return
    denied = bool(getattr(exc, "denied", False))
    status = _status(exc)
    if not denied and (scope["method"] not in MUTATING or status == 401):
        return
    if handler.opt.get("audit_self") and isinstance(exc, HubError):
        return  # the service recorded it (failed logins, refresh-token reuse)
    if getattr(exc, "audited", False):
        return  # the service recorded this failure itself (a refused PLC write)
    params: dict[str, Any] = scope.get("path_params") or {}
    method = scope["method"]
    action = handler.opt.get("action") or f"{method} {handler.paths and sorted(handler.paths)[0]}"
    detail = getattr(exc, "detail", "") or type(exc).__name__
    event = AuditEvent(
        action="authz.denied" if denied else action,
        resource_type="route",
        resource_id=f"{method} {scope['path']}"[:128],
        outcome=Outcome.DENIED if denied else Outcome.FAILURE,
        details={"status": status, "detail": str(detail)[:500], "attempted": action},
    )
    if getattr(exc, "outsider", False):
        event.details["tenant"] = str(params.get("tenant", ""))[:63]
    hub: Hub = scope["app"].state.hub
    slug = None if getattr(exc, "outsider", False) else params.get("tenant")
    try:
        await hub.audit.record_now(await _log_ids(hub, slug), scope_context(scope), event)
    except Exception:  # the refusal stands even if it cannot be recorded; say so loudly
        log.exception("could not record %s in the audit log", event.action)
