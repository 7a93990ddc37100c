"""The messaging port: a broker that edge devices publish to and take commands from (MQTT
in connectors/messaging/, the MQTT-and-edge issue). Not the hub's internal event bus
(hub/ports/events.py), which carries already-authenticated, tenant-scoped events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

# (topic, payload bytes, retained)
MessageHandler = Callable[[str, bytes, bool], Awaitable[None]]


class MessagingPort(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None: ...

    async def subscribe(self, pattern: str, handler: MessageHandler, *, qos: int = 1) -> None: ...
