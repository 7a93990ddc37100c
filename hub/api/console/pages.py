"""The console's pages. A new page is a module with `PAGE = Page(...)` (nav.py), listed here;
its nav entry takes its place in nav.NAV_ORDER whatever its place in this list."""

from __future__ import annotations

from hub.api.console import home, overview, signin
from hub.api.console.nav import Page

PAGES: tuple[Page, ...] = (
    signin.PAGE,
    home.PAGE,
    overview.PAGE,
)
