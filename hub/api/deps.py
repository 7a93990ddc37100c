"""Dependencies handlers ask for by name."""

from __future__ import annotations

from litestar.di import NamedDependency, Provide

from hub.bootstrap import Hub

HubDep = NamedDependency[Hub]


def hub_dependency(the_hub: Hub) -> Provide:
    """`hub` for every handler. A provider without parameters, cached: resolving one that
    reads the app state costs a signature-model parse per request."""

    def provide() -> Hub:
        return the_hub

    return Provide(provide, sync_to_thread=False, use_cache=True)
