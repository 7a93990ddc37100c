"""What a console user may do: the API's casbin policy, asked about the API's paths.

A console page or action names the API call it stands for, as a method and an API path
template (`"POST", "/api/v1/tenants/{tenant}/alarms/{alarm_id}/ack"`); the same
authorizer the API's guard uses decides, so the console never holds a policy of its own.
Templates use `can(...)` to hide what a user may not do; every console handler declares
its API call in `opt={"api": (method, template)}` and the console's guard refuses the
request as the API would (403, or 404 for a tenant the user holds no role in); a handler
whose permission depends on more than its path calls `require(...)` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from string import Formatter
from typing import Any, Protocol
from urllib.parse import quote

from litestar import Request

from hub.api.console.session import session_of
from hub.domain.errors import Forbidden, HubError, NotFound
from hub.security.rbac import GLOBAL_DOMAIN


class PolicyReader(Protocol):
    """The authorizer's read side that decisions need (hub.security.rbac.CasbinAuthorizer)."""

    def allowed(self, user_id: str, domain: str, resource: str, action: str) -> bool: ...

    def is_member(self, user_id: str, domain: str) -> bool: ...

    def is_platform_admin(self, user_id: str) -> bool: ...


class Decision(Enum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"  # a role in the tenant, but not this permission: 403
    NOT_FOUND = "not_found"  # no role in the tenant: 404, as if it did not exist


def api_path(template: str, params: Mapping[str, Any]) -> str:
    """`template` with its `{name}` fields filled from `params`, each quoted as one path
    segment (a value cannot add a segment and so match a wider policy line)."""
    names = {field for _, field, _, _ in Formatter().parse(template) if field}
    missing = names - params.keys()
    if missing:
        raise KeyError(f"no value for {sorted(missing)} in {template!r}")
    return template.format_map({n: quote(str(params[n]), safe="") for n in names})


def domain_of(template: str, params: Mapping[str, Any]) -> str:
    """The casbin domain of an API path: its tenant, or `*` for the global routes."""
    return str(params["tenant"]) if "{tenant}" in template else GLOBAL_DOMAIN


def decide(
    policy: PolicyReader,
    user_id: str,
    method: str,
    template: str,
    params: Mapping[str, Any],
) -> Decision:
    """As hub/api/guards.py decides a request for `method api_path(template, params)`."""
    domain = domain_of(template, params)
    method = method.upper()
    if policy.allowed(user_id, domain, api_path(template, params), method):
        return Decision.ALLOWED
    if (
        domain != GLOBAL_DOMAIN
        and not policy.is_platform_admin(user_id)
        and not policy.is_member(user_id, domain)
    ):
        return Decision.NOT_FOUND
    return Decision.FORBIDDEN


def _params(request: Request[Any, Any, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The page's own path parameters (its tenant, ...), overridden by `params`."""
    return {**request.path_params, **params}


def can(request: Request[Any, Any, Any], method: str, template: str, **params: Any) -> bool:
    """May the signed-in user call `method template` (filled from the page's path
    parameters and `params`)? False when signed out."""
    session = session_of(request)
    if session is None:
        return False
    policy: PolicyReader = request.app.state.hub.authorizer
    merged = _params(request, params)
    return decide(policy, session.user_id, method, template, merged) is Decision.ALLOWED


def refusal(decision: Decision, what: str) -> HubError:
    """The error for a refused decision, marked as a denial for the audit hook (as the
    API's guard marks its own)."""
    error: HubError
    if decision is Decision.NOT_FOUND:
        error = NotFound("tenant not found")
        error.outsider = True
    else:
        error = Forbidden(f"your role does not permit {what}")
    error.denied = True
    return error


def require(request: Request[Any, Any, Any], method: str, template: str, **params: Any) -> None:
    """Refuse the request (403, or 404 outside the user's tenants) unless `can(...)`."""
    session = session_of(request)
    policy: PolicyReader = request.app.state.hub.authorizer
    merged = _params(request, params)
    user_id = session.user_id if session is not None else ""
    decision = decide(policy, user_id, method, template, merged)
    if decision is not Decision.ALLOWED:
        raise refusal(decision, f"{method.upper()} {api_path(template, merged)}")
