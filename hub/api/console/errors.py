"""Errors as the console shows them: HTML pages (or, for htmx, a fragment into the page's
message area), never problem+json. A missing session sends the browser to sign in."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from hub.api.console.paths import PREFIX, login_url
from hub.api.console.rendering import fragment, render_plain
from hub.api.console.session import SignInRequired
from hub.domain.errors import HubError, RateLimited

log = logging.getLogger(__name__)
TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    422: "Check the form",
    429: "Too many attempts",
    500: "Something went wrong",
}
FLASH = "#console-flash"  # where a fragment's error goes (base.html)


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return isinstance(request, HTMXRequest) and bool(request.htmx)


def _return_to(request: Request[Any, Any, Any]) -> str | None:
    """Where to come back to after signing in: the page the user was on (for htmx, the
    page that made the request, not the fragment; nothing for a form's POST)."""
    if _is_htmx(request):
        current = request.headers.get("hx-current-url")
        if not current:
            return None
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    if request.method != "GET":
        return None
    query = request.scope.get("query_string", b"").decode("latin-1")
    return PREFIX + request.scope["path"] + (f"?{query}" if query else "")


def sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    target = login_url(_return_to(request))
    if _is_htmx(request):
        return Response(b"", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _page(request: Request[Any, Any, Any], status: int, detail: str) -> Template:
    title = TITLES.get(status, "Error")
    if _is_htmx(request):
        return fragment(
            request,
            "_error.html",
            status_code=status,
            title=title,
            detail=detail,
            status=status,
        )
    return render_plain(
        request, "error.html", title=title, status_code=status, detail=detail, status=status
    )


def hub_error(request: Request[Any, Any, Any], exc: HubError) -> Response[Any]:
    response = _page(request, exc.status, exc.detail)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return _retargeted(request, response)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail = exc.detail if exc.status_code < 500 else "the hub could not answer"
    if isinstance(exc, ValidationException):
        detail = "the request was not understood"
    return _retargeted(request, _page(request, exc.status_code, detail))


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _retargeted(request, _page(request, 500, "internal error; see the hub's log"))


def _retargeted(request: Request[Any, Any, Any], response: Response[Any]) -> Response[Any]:
    if _is_htmx(request):
        response.headers["HX-Retarget"] = FLASH
        response.headers["HX-Reswap"] = "innerHTML"
    return response


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SignInRequired: sign_in,
    HubError: hub_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
