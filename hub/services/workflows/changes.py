"""Word that the set of published workflow versions changed, for whoever keeps something
derived from it (the trigger service re-subscribes the newest versions' triggers).

Publishers (the workflow and pack services) and listeners (triggers) both depend on this
small object, built first by the composition root, instead of on each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Listener = Callable[[], Awaitable[None]]


class DefinitionChanges:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after every change; returns the way to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def changed(self) -> None:
        """Published versions changed and are committed: tell every listener, in turn."""
        for listener in list(self._listeners):
            await listener()
