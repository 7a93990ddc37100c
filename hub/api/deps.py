"""Dependencies handlers ask for by name."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency

from hub.bootstrap import Hub

HubDep = NamedDependency[Hub]


def provide_hub(state: State) -> Hub:
    return state.hub
