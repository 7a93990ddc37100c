"""A read cache whose entries are valid for one version of the tenancy data.

Tenants, memberships and roles change rarely and every change bumps the authorization
version (in the same transaction). Reads of that data keyed by the version are therefore
exactly as fresh as authorization decisions: current at once in the process that made the
change, and within HUB_AUTHZ_REFRESH_INTERVAL seconds in other processes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class VersionedCache:
    def __init__(self, version: Callable[[], int | None], size: int = 4096) -> None:
        self._version = version
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        version = self._version()
        if version is None:  # no snapshot yet (e.g. a CLI process): no caching
            return await load()
        found = self._entries.get(key)
        if found is not None and found[0] == version:
            self._entries.move_to_end(key)
            return found[1]
        value = await load()
        self._entries[key] = (version, value)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value
