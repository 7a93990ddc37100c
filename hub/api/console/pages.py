"""The console's pages. A new page is a module with `PAGE = Page(...)` (nav.py), listed here;
its nav entry takes its place in nav.NAV_ORDER whatever its place in this list."""

from __future__ import annotations

from hub.api.console import (
    admin,
    alarms,
    audit,
    collaborations,
    devices,
    home,
    incidents,
    overview,
    packs,
    partners,
    runs,
    signin,
    tasks,
    workflows,
)
from hub.api.console.nav import Page

PAGES: tuple[Page, ...] = (
    signin.PAGE,
    home.PAGE,
    overview.PAGE,
    runs.PAGE,
    workflows.PAGE,
    alarms.PAGE,
    tasks.PAGE,
    incidents.PAGE,
    audit.PAGE,
    devices.PAGE,
    packs.PAGE,
    admin.PAGE,
    collaborations.PAGE,  # issue 18: the partner portal
    partners.PAGE,
)
