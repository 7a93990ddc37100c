"""The event bus: publish and subscribe with MQTT-style topic wildcards, scoped by tenant.

Every event belongs to a tenant, given by its publisher from the authenticated or owning
context (a run's tenant, a device's tenant), never read from the payload. A subscription
names the tenant whose events it takes; only the platform's own dispatchers subscribe to
every tenant (`tenant=ALL_TENANTS`). The in-process adapter is
connectors/messaging/in_process.py; a broker (MQTT, NATS) can carry events across
processes behind the same port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Protocol

# (tenant id, topic, payload)
Handler = Callable[[str, str, Any], Awaitable[None]]
# (tenant id, [(topic, raw)], render, the burst's distinct topics)
BatchHandler = Callable[
    [str, Iterable[tuple[str, Any]], Callable[[Any], Any], Collection[str]], Awaitable[None]
]
ALL_TENANTS = None  # a subscription to every tenant's events (platform dispatchers only)


class EventBus(Protocol):
    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        tenant: str | None,
        batch: BatchHandler | None = None,
    ) -> Callable[[], None]:
        """Take `tenant`'s events on topics matching `pattern`; returns the unsubscribe.
        `batch`, when given, takes a burst of events in one call (see publish_many)."""
        ...

    async def publish(self, topic: str, payload: Any, *, tenant: str) -> None:
        """Deliver one event of `tenant` to the subscriptions that take it."""
        ...

    async def publish_many(
        self,
        tenant: str,
        events: Iterable[tuple[str, Any]],
        render: Callable[[Any], Any] = ...,
        topics: Iterable[str] | None = None,
    ) -> None:
        """Publish a burst of one tenant's events; `render(raw)` makes a payload only for a
        handler that takes the event; `topics`, the burst's topics, lets a burst nobody
        but batch handlers needs be handed over unread."""
        ...
