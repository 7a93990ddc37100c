"""The `http_request` workflow activity (httpx), under the egress policy.

Input: {"method": "POST", "url": "...", "headers": {...}, "json": any, "timeout": 10,
"follow_redirects": false}. Output: {"status": int, "body": JSON or text}. Every request
carries the step's Idempotency-Key header, so a receiver that honours it applies a
retried call once. A 5xx, a timeout or a connection failure is retryable; a 4xx is not,
and neither is a destination the egress policy refuses (issue 12, item 3): every
connection, each redirect hop included (at most 3 when `follow_redirects` is on), is
checked and pinned to the address checked. Error messages name the URL without
credentials or query and never carry the answer's body.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.outbound.pinned import Destination, pinned_client, safe_url, tenant_pin
from hub.domain.egress import EgressRefused
from hub.engine.activities import ActivityContext, ActivityError, NonRetryableError

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
MAX_REDIRECTS = 3


class HttpStatusError(ActivityError):
    """The server answered 5xx: worth retrying."""


class EgressRefusedError(NonRetryableError):
    @property
    def error_type(self) -> str:
        return "EgressRefused"


def _request_spec(spec: Any) -> tuple[str, httpx.URL]:
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise NonRetryableError("http_request needs {'url': str, 'method'?, 'json'?, ...}")
    method = str(spec.get("method", "GET")).upper()
    if method not in METHODS:
        raise NonRetryableError(f"http_request: method {method!r} is not supported")
    try:
        url = httpx.URL(spec["url"])
    except httpx.InvalidURL:
        raise NonRetryableError("http_request: the url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise NonRetryableError("http_request: the url must be http(s)://host/...")
    return method, url


class HttpRequest:
    """The activity, bound to the hub's egress check (built in hub/bootstrap.py)."""

    def __init__(self, destination: Destination) -> None:
        self._destination = destination

    async def __call__(self, ctx: ActivityContext, spec: Any) -> dict[str, Any]:
        method, url = _request_spec(spec)
        shown = f"{method} {safe_url(url)}"
        headers = {
            "Idempotency-Key": ctx.idempotency_key,
            **{str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
        }
        client = pinned_client(
            tenant_pin(self._destination, ctx.tenant),
            timeout=float(spec.get("timeout", 10)),
            follow_redirects=bool(spec.get("follow_redirects", False)),
            max_redirects=MAX_REDIRECTS,
        )
        try:
            async with client:
                response = await client.request(method, url, headers=headers, json=spec.get("json"))
        except EgressRefused as exc:
            raise EgressRefusedError(f"{shown}: {exc}") from None
        except httpx.TooManyRedirects:
            raise NonRetryableError(f"{shown}: more than {MAX_REDIRECTS} redirects") from None
        except httpx.TimeoutException:
            raise ActivityError(f"{shown} timed out") from None
        except httpx.HTTPError as exc:
            raise ActivityError(f"{shown} failed: {type(exc).__name__}: {exc}") from None
        status = f"{shown} answered {response.status_code} {response.reason_phrase}".rstrip()
        if response.status_code >= 500:
            raise HttpStatusError(status)
        if response.status_code >= 400:
            raise NonRetryableError(status)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return {"status": response.status_code, "body": body}
