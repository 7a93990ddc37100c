"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from hub.domain.enterprise import EnterpriseError
from hub.domain.errors import HubError, RateLimited, Unauthorized, ValidationFailed

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://industrial-hub.dev/problems/"
log = logging.getLogger("hub.api")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    title = _TITLES.get(status, "Error")
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def hub_error(request: Request[Any, Any, Any], exc: HubError) -> Response[dict[str, Any]]:
    headers: dict[str, str] = {}
    errors = None
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="hub"'
    if isinstance(exc, ValidationFailed):
        errors = [{"field": p.field, "message": p.message} for p in exc.problems]
    extra = _erp_fields(exc, headers) if isinstance(exc, EnterpriseError) else None
    return problem(request, exc.status, exc.detail, errors=errors, headers=headers, extra=extra)


def _erp_fields(exc: EnterpriseError, headers: dict[str, str]) -> dict[str, Any]:
    """What the ERP said (its error code and message, RFC 9457 extension members) and,
    when it asked for a pause, Retry-After for the caller too."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    fields: dict[str, Any] = {"error_type": exc.error_type, "retryable": exc.retryable}
    if exc.code is not None:
        fields["erp_code"] = exc.code
    if exc.message is not None:
        fields["erp_message"] = exc.message
    if exc.http_status is not None:
        fields["erp_status"] = exc.http_status
    return fields


def _field_errors(exc: ValidationException) -> list[dict[str, str]]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for item in extra:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "body")
            errors.append({"field": field, "message": str(item.get("message", "invalid"))})
    return errors


def validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors = _field_errors(exc)
    malformed = any(
        "malformed" in e["message"].lower()
        or ("json" in e["message"].lower() and "decode" in e["message"].lower())
        for e in errors
    )
    if not errors or malformed:
        # Nothing to point at: the body itself could not be read.
        return problem(request, 400, exc.detail or "malformed request")
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(request, 422, detail, errors=errors)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="hub"')
    return problem(request, exc.status_code, exc.detail, headers=headers)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal error; see the hub's log")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HubError: hub_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
