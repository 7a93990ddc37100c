"""What every request leaves behind: an X-Request-ID and Prometheus request metrics.

One plain ASGI middleware instead of Litestar's Prometheus plugin plus a request-id
middleware: the plugin builds a Request and four label dicts and resolves four labelled
children per request, about a quarter of a cached GET's cost. Here the labelled children
are resolved once per (method, route, status) and kept. The metric names and labels are
the plugin's (`hub_requests_total`, `hub_request_duration_seconds`,
`hub_requests_in_progress`, `hub_requests_error_total`), so dashboards need no change.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

REQUEST_ID_HEADER = b"x-request-id"
APP_NAME = "hub"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Health probes and scrapes would drown the API's own figures.
_UNMEASURED = ("/metrics", "/health")

_LABELS = ("method", "path", "status_code", "app_name")
REQUESTS = Counter("hub_requests_total", "Total requests", _LABELS)
ERRORS = Counter("hub_requests_error_total", "Requests answered with a 5xx", _LABELS)
DURATION = Histogram("hub_request_duration_seconds", "Request duration in seconds", _LABELS)
IN_PROGRESS = Gauge(
    "hub_requests_in_progress", "Requests being served", ("method", "path", "app_name")
)

_finished: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
_running: dict[tuple[str, str], Any] = {}


def _finished_children(method: str, path: str, status: int) -> tuple[Any, Any, Any]:
    key = (method, path, status)
    found = _finished.get(key)
    if found is None:
        values = (method, path, str(status), APP_NAME)
        found = (REQUESTS.labels(*values), DURATION.labels(*values), ERRORS.labels(*values))
        _finished[key] = found
    return found


def _running_child(method: str, path: str) -> Any:
    found = _running.get((method, path))
    if found is None:
        found = _running[(method, path)] = IN_PROGRESS.labels(method, path, APP_NAME)
    return found


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _REQUEST_ID.fullmatch(value):
                return value.decode("latin-1")
            break
    return secrets.token_hex(16)


def observe_middleware(app: ASGIApp) -> ASGIApp:
    """Set scope state `request_id` (the client's, when sane), echo it on the response,
    and count and time the request under its route template."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        path: str = scope.get("path_template") or scope["path"]
        if path.startswith(_UNMEASURED):
            await app(scope, receive, _with_header(send, id_header, None))
            return
        method = scope["method"]
        started = time.perf_counter()
        span = [500, 0.0]  # status, seconds; a handler that raises past everything is a 500
        running = _running_child(method, path)
        running.inc()
        try:
            await app(scope, receive, _with_header(send, id_header, span))
        finally:
            running.dec()
            status = int(span[0])
            count, duration, errors = _finished_children(method, path, status)
            count.inc()
            duration.observe(span[1] or time.perf_counter() - started)
            if status >= 500:
                errors.inc()

    return middleware


def _with_header(send: Send, header: tuple[bytes, bytes], span: list[Any] | None) -> Send:
    started = time.perf_counter()

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
            if span is not None:
                span[0] = message["status"]
        elif (
            message["type"] == "http.response.body"
            and span is not None
            and not message.get("more_body")
        ):
            span[1] = time.perf_counter() - started
        await send(message)

    return send_with_id
