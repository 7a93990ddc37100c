"""The in-process event bus, with MQTT-style topic wildcards (`+` one level, `#` the rest).

It sits behind the EventBus port, so a broker (MQTT, NATS) can carry events across
processes later without touching publishers or subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Handler = Callable[[str, Any], Awaitable[None]]
BatchHandler = Callable[[Iterable[tuple[str, Any]], Callable[[Any], Any]], Awaitable[None]]
log = logging.getLogger(__name__)


def topic_matches(pattern: str, topic: str) -> bool:
    want, have = pattern.split("/"), topic.split("/")
    for i, part in enumerate(want):
        if part == "#":
            return True
        if i >= len(have) or (part != "+" and part != have[i]):
            return False
    return len(want) == len(have)


class InProcessBus:
    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, Handler]] = []
        # A handler that can take many events at once (see publish_many), by handler.
        self._batch: dict[Handler, BatchHandler] = {}
        self._routes: dict[str, list[Handler]] = {}  # topic -> handlers, for publish_many

    def subscribe(
        self, pattern: str, handler: Handler, *, batch: BatchHandler | None = None
    ) -> Callable[[], None]:
        entry = (pattern, handler)
        self._subscriptions.append(entry)
        if batch is not None:
            self._batch[handler] = batch
        self._routes.clear()

        def undo() -> None:
            self._subscriptions.remove(entry)
            self._batch.pop(handler, None)
            self._routes.clear()

        return undo

    def _route(self, topic: str) -> list[Handler]:
        handlers = self._routes.get(topic)
        if handlers is None:
            if len(self._routes) > 100_000:
                self._routes.clear()
            handlers = self._routes[topic] = [
                h for p, h in self._subscriptions if topic_matches(p, topic)
            ]
        return handlers

    async def publish_many(
        self,
        events: Iterable[tuple[str, Any]],
        render: Callable[[Any], Any] = lambda raw: raw,
        topics: Iterable[str] | None = None,
    ) -> None:
        """Publish a burst (telemetry samples): each handler sees each matching event, and
        a handler subscribed with `batch=` gets them in one call. Events carry a raw form;
        `render(raw)` makes the payload, only for a handler that takes the event (a batch
        handler renders what it uses). Given the burst's `topics`, when only batch
        handlers that match all of them listen, the burst is handed over unread, so a
        burst nobody needs costs nothing per event."""
        if topics is not None:
            routes = [self._route(t) for t in topics]
            everyone = {h for r in routes for h in r}
            if all(h in self._batch for h in everyone) and all(
                len(r) == len(everyone) for r in routes
            ):
                await self._settle([self._batch[h](events, render) for h in everyone])
                return
        per_handler: dict[Handler, list[tuple[str, Any]]] = {}
        for event in events:
            for handler in self._route(event[0]):
                per_handler.setdefault(handler, []).append(event)
        calls = []
        for handler, items in per_handler.items():
            batch = self._batch.get(handler)
            if batch is not None:
                calls.append(batch(items, render))
            else:
                calls.extend(handler(topic, render(raw)) for topic, raw in items)
        await self._settle(calls)

    @staticmethod
    async def _settle(calls: list[Awaitable[None]]) -> None:
        for result in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("event handler failed: %r", result)

    async def publish(self, topic: str, payload: Any) -> None:
        handlers = [h for p, h in self._subscriptions if topic_matches(p, topic)]
        results = await asyncio.gather(
            *(h(topic, payload) for h in handlers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.error("event handler for %s failed: %r", topic, result)
