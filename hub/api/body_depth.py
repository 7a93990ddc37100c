"""Refuse request bodies nested deeper than 64 levels before anything decodes them.

An ASGI middleware rather than a check in a handler: Litestar decodes a handler's `data`
(msgspec) before the handler runs, and it decodes JSON whatever the content type says, so
every body is checked, on every route, as the app reads it. The check wraps `receive`:
when the last chunk of a body arrives it is scanned (hub/domain/nesting.py), and a body
that nests too deeply raises `NestingTooDeep` inside the read, which the app answers as a
400 problem+json like any other error. A body with fewer than 65 brackets costs two
`bytes.count` calls; a large one is scanned in a worker thread so the event loop keeps
serving. YAML bodies get the same scan (flow brackets) and the YAML loader bounds block
nesting itself (hub/engine/loading.py).
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from hub.domain.nesting import MAX_DEPTH, NestingTooDeep, json_too_deep, too_deep_detail

# Larger bodies are scanned off the event loop (a 64 KiB scan is at most a few ms).
INLINE_SCAN_BYTES = 64 * 1024


def body_depth_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        await app(scope, _checked(receive), send)

    return middleware


def _checked(receive: Receive) -> Receive:
    chunks: list[bytes] = []

    async def checked_receive() -> ReceiveMessage:
        message = await receive()
        if message["type"] != "http.request":
            return message
        body: bytes = message.get("body", b"")
        if message.get("more_body") or chunks:
            chunks.append(body)
            if message.get("more_body"):
                return message
            body = b"".join(chunks)
            chunks.clear()
        if await _too_deep(body):
            raise NestingTooDeep(too_deep_detail())
        return message

    return checked_receive


async def _too_deep(body: bytes) -> bool:
    if len(body) <= INLINE_SCAN_BYTES:
        return json_too_deep(body, MAX_DEPTH)
    return await asyncio.to_thread(json_too_deep, body, MAX_DEPTH)
