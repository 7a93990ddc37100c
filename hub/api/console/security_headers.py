"""The headers every console response carries, and the ASGI wrapper that adds them.

The wrapper sits outside the console's Litestar app, so error pages, redirects, static
files and the router's own 404s get the same headers as the pages. It also emits the
Set-Cookie headers that the session code queued on the request's scope (a refreshed
session is noticed before the handler runs, but its cookie belongs on whatever response
the handler, or an error handler, produces).
"""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# No 'unsafe-inline' and no 'unsafe-eval' anywhere: pages carry no inline script or style
# attribute, and htmx runs with allowEval off (its config is in base.html).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Responses that set no caching of their own (pages, fragments, redirects) are not kept:
# they hold one user's view of a tenant.
NO_STORE = (b"cache-control", b"no-store")
# Where session code queues headers for the response (a list of (name, value) bytes).
QUEUED_HEADERS = "console.response_headers"


def queue_header(scope: Scope, name: bytes, value: bytes) -> None:
    """Add a header to this request's response, whichever handler produces it."""
    state: dict[str, Any] = scope.setdefault("state", {})
    state.setdefault(QUEUED_HEADERS, []).append((name, value))


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with the security headers in place of any of the same name, and
    Cache-Control: no-store unless the response chose its own caching."""
    names = {name for name, _ in SECURITY_HEADERS}
    kept = [(k, v) for k, v in headers if k.lower() not in names]
    if not any(k.lower() == b"cache-control" for k, _ in kept):
        kept.append(NO_STORE)
    return [*kept, *SECURITY_HEADERS]


def secured(app: ASGIApp) -> ASGIApp:
    """`app` with the security headers and queued headers on every HTTP response."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = with_security_headers(list(message.get("headers") or []))
                state: dict[str, Any] = scope.get("state") or {}
                headers.extend(state.get(QUEUED_HEADERS, ()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_secured)

    return wrapped
