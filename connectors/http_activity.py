"""The `http_request` workflow activity (httpx).

Input: {"method": "POST", "url": "...", "headers": {...}, "json": any, "timeout": 10}.
Output: {"status": int, "body": JSON or text}. Every request carries the step's
Idempotency-Key header, so a receiver that honours it applies a retried call once.
A 5xx, a timeout or a connection failure is retryable; a 4xx is not.
"""

from __future__ import annotations

from typing import Any

import httpx

from hub.engine.activities import ActivityContext, ActivityError, NonRetryableError

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})


class HttpStatusError(ActivityError):
    """The server answered 5xx: worth retrying."""


async def http_request(ctx: ActivityContext, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise NonRetryableError("http_request needs {'url': str, 'method'?, 'json'?, ...}")
    method = str(spec.get("method", "GET")).upper()
    if method not in METHODS:
        raise NonRetryableError(f"http_request: method {method!r} is not supported")
    headers = {
        "Idempotency-Key": ctx.idempotency_key,
        **{str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
    }
    timeout = float(spec.get("timeout", 10))
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.request(
                method, spec["url"], headers=headers, json=spec.get("json")
            )
    except httpx.TimeoutException as exc:
        raise ActivityError(f"{method} {spec['url']} timed out: {exc}") from None
    except httpx.HTTPError as exc:
        raise ActivityError(f"{method} {spec['url']} failed: {exc}") from None
    if response.status_code >= 500:
        raise HttpStatusError(f"{method} {spec['url']} answered {response.status_code}")
    if response.status_code >= 400:
        raise NonRetryableError(
            f"{method} {spec['url']} answered {response.status_code}: {response.text[:200]}"
        )
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return {"status": response.status_code, "body": body}
