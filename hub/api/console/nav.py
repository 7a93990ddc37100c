"""What a page module contributes: its route handlers and, optionally, its nav entry.

A page module defines `PAGE = Page(handlers=[...], nav=NavEntry(...))` and is listed in
hub/api/console/pages.py. The nav shows an entry to a user only when the API call the
entry names is allowed (the same check as `can`), in the order of NAV_ORDER whatever the
order pages are listed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from litestar.types import ControllerRouterHandler

# The console's sections, in the order the nav shows them (issue 17).
NAV_ORDER = (
    "overview",
    "alarms",
    "devices",
    "tasks",
    "runs",
    "workflows",
    "incidents",
    "audit",
    "packs",
    "collaboration",  # issue 18: the partner portal
    "admin",
)


@dataclass(frozen=True)
class NavEntry:
    key: str  # one of NAV_ORDER; also what a page passes as `active` to render()
    label: str
    suffix: str  # the page under /ui/t/{tenant}/, e.g. "alarms/" ("" for the overview)
    api: tuple[str, str]  # (method, API path template) whose permission shows the entry

    def __post_init__(self) -> None:
        if self.key not in NAV_ORDER:
            raise ValueError(f"nav key {self.key!r} is not one of {NAV_ORDER}")


@dataclass(frozen=True)
class Page:
    handlers: Sequence[ControllerRouterHandler]
    nav: NavEntry | None = None


def nav_entries(pages: Sequence[Page]) -> tuple[NavEntry, ...]:
    entries = [p.nav for p in pages if p.nav is not None]
    keys = [e.key for e in entries]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise ValueError(f"nav entries {sorted(duplicated)} are registered twice")
    return tuple(sorted(entries, key=lambda e: NAV_ORDER.index(e.key)))
