"""What the console keeps for its lifetime, in its app's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from hub.api.console.nav import NavEntry
from hub.api.console.session import Refresher


@dataclass(frozen=True)
class ConsoleState:
    csrf_key: bytes
    refresher: Refresher
    nav: tuple[NavEntry, ...]


def console_state(request: Request[Any, Any, Any]) -> ConsoleState:
    found: ConsoleState = request.app.state.console
    return found
