"""The in-process adapter of the event-bus port (hub/ports/events.py), with MQTT-style
topic wildcards (`+` one level, `#` the rest). Events reach subscribers in this process
only; a broker adapter (MQTT, NATS) beside it can carry them across processes without
touching publishers or subscribers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hub.ports.events import BatchHandler, Handler

log = logging.getLogger(__name__)


def topic_matches(pattern: str, topic: str) -> bool:
    want, have = pattern.split("/"), topic.split("/")
    for i, part in enumerate(want):
        if part == "#":
            return True
        if i >= len(have) or (part != "+" and part != have[i]):
            return False
    return len(want) == len(have)


@dataclass(frozen=True, eq=False)
class _Subscription:
    tenant: str | None  # None: every tenant's events
    pattern: str
    handler: Handler
    batch: BatchHandler | None

    def takes(self, tenant: str, topic: str) -> bool:
        return (self.tenant is None or self.tenant == tenant) and topic_matches(self.pattern, topic)


class InProcessBus:
    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []
        # (tenant, topic) -> subscriptions that take it
        self._routes: dict[tuple[str, str], list[_Subscription]] = {}

    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        tenant: str | None,
        batch: BatchHandler | None = None,
    ) -> Callable[[], None]:
        """Take `tenant`'s events on topics matching `pattern` (tenant=ALL_TENANTS: every
        tenant's, for a dispatcher that scopes by the tenant it is handed). `batch`, when
        given, takes a burst of events in one call, with its distinct topics (see
        publish_many)."""
        entry = _Subscription(tenant, pattern, handler, batch)
        self._subscriptions.append(entry)
        self._routes.clear()

        def undo() -> None:
            if entry in self._subscriptions:
                self._subscriptions.remove(entry)
            self._routes.clear()

        return undo

    def _route(self, tenant: str, topic: str) -> list[_Subscription]:
        key = (tenant, topic)
        found = self._routes.get(key)
        if found is None:
            if len(self._routes) > 100_000:
                self._routes.clear()
            found = self._routes[key] = [s for s in self._subscriptions if s.takes(tenant, topic)]
        return found

    async def publish(self, topic: str, payload: Any, *, tenant: str) -> None:
        """Deliver one event of `tenant` to the subscriptions that take it."""
        if not tenant:
            raise ValueError("an event needs its publisher's tenant")
        await self._settle([s.handler(tenant, topic, payload) for s in self._route(tenant, topic)])

    async def publish_many(
        self,
        tenant: str,
        events: Iterable[tuple[str, Any]],
        render: Callable[[Any], Any] = lambda raw: raw,
        topics: Iterable[str] | None = None,
    ) -> None:
        """Publish a burst of one tenant's events (telemetry samples): each subscription
        sees each event it takes, and one subscribed with `batch=` gets them in one call.
        Events carry a raw form; `render(raw)` makes the payload, only for a handler that
        takes the event (a batch handler renders what it uses). Given the burst's
        `topics` (every topic of its events), when only batch handlers that take all of
        them listen, the burst is handed over unread with those topics, so a burst nobody
        needs costs nothing per event."""
        if not tenant:
            raise ValueError("an event needs its publisher's tenant")
        if topics is not None:
            distinct = set(topics)
            routes = [self._route(tenant, t) for t in distinct]
            everyone = {s for r in routes for s in r}
            if all(s.batch is not None for s in everyone) and all(
                len(r) == len(everyone) for r in routes
            ):
                batches = [s.batch for s in everyone if s.batch is not None]  # all of them
                await self._settle([batch(tenant, events, render, distinct) for batch in batches])
                return
        per_subscription: dict[_Subscription, list[tuple[str, Any]]] = {}
        for event in events:
            for sub in self._route(tenant, event[0]):
                per_subscription.setdefault(sub, []).append(event)
        calls: list[Awaitable[None]] = []
        for sub, items in per_subscription.items():
            if sub.batch is not None:
                calls.append(sub.batch(tenant, items, render, {topic for topic, _ in items}))
            else:
                calls.extend(sub.handler(tenant, topic, render(raw)) for topic, raw in items)
        await self._settle(calls)

    @staticmethod
    async def _settle(calls: list[Awaitable[None]]) -> None:
        if not calls:
            return
        for result in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("event handler failed: %r", result)
