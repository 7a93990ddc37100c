"""The in-process event bus, with MQTT-style topic wildcards (`+` one level, `#` the rest).

It sits behind the EventBus port, so a broker (MQTT, NATS) can carry events across
processes later without touching publishers or subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[str, Any], Awaitable[None]]
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

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        entry = (pattern, handler)
        self._subscriptions.append(entry)
        return lambda: self._subscriptions.remove(entry)

    async def publish(self, topic: str, payload: Any) -> None:
        handlers = [h for p, h in self._subscriptions if topic_matches(p, topic)]
        results = await asyncio.gather(
            *(h(topic, payload) for h in handlers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.error("event handler for %s failed: %r", topic, result)
