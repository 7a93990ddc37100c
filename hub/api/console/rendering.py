"""Templates: the Jinja environment, and the one way pages and fragments are rendered.

Autoescaping is on for every template (values are text, never markup) and undefined
names are errors. `render` fills what base.html needs (user, CSRF token, tenant switcher,
nav); `fragment` renders a partial for htmx (polling, swaps) with just the CSRF token.
Templates get `can(method, api_template, **params)` (permissions.can for this request)
and the filters `clock` (a time as UTC `YYYY-MM-DD HH:MM:SS`) and `ago`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig

from hub.api.console import csrf
from hub.api.console.nav import NavEntry
from hub.api.console.paths import PREFIX, TENANT_PICKER, tenant_url
from hub.api.console.permissions import can
from hub.api.console.session import ConsoleSession, session_of
from hub.api.console.state import console_state
from hub.domain.paging import MAX_LIMIT

TEMPLATES = Path(__file__).parent / "templates"
# htmx without eval (CSP has no 'unsafe-eval'), without injected <style> (no
# 'unsafe-inline'), without history snapshots in localStorage (pages hold tenant data),
# only to this origin; error answers (4xx/5xx) are swapped too, so a fragment that
# names its target (HX-Retarget) can show what went wrong.
HTMX_CONFIG = json.dumps(
    {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "selfRequestsOnly": True,
        "historyCacheSize": 0,
        "refreshOnHistoryMiss": True,
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "[45]..", "swap": True, "error": True},
        ],
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class TenantLink:
    slug: str
    name: str
    url: str
    current: bool


def _template_can(context: Mapping[str, Any], /, method: str, template: str, **params: Any) -> bool:
    return can(context["request"], method, template, **params)


def clock(value: Any) -> str:
    """A time as `YYYY-MM-DD HH:MM:SS` UTC (datetimes, RFC 3339 strings, epoch seconds)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    env = environment()
    env.filters["clock"] = clock
    env.globals.update(PREFIX=PREFIX, HTMX_CONFIG=HTMX_CONFIG, tenant_url=tenant_url)
    engine = JinjaTemplateEngine.from_environment(env)
    engine.register_template_callable("can", _template_can)
    return TemplateConfig(instance=engine)


def csrf_for(request: Request[Any, Any, Any], session: ConsoleSession | None) -> str:
    if session is None:
        return ""
    return csrf.session_token(console_state(request).csrf_key, session.user_id, session.session_id)


def _nav(request: Request[Any, Any, Any], tenant: str, active: str | None) -> list[NavLink]:
    entries: tuple[NavEntry, ...] = console_state(request).nav
    return [
        NavLink(e.label, tenant_url(tenant, e.suffix), e.key == active)
        for e in entries
        if can(request, *e.api, tenant=tenant)
    ]


async def _tenants(
    request: Request[Any, Any, Any], session: ConsoleSession, tenant: str | None, suffix: str
) -> list[TenantLink]:
    hub = request.app.state.hub
    page = await hub.tenants.page(session.principal, None, MAX_LIMIT)
    return [
        TenantLink(t.slug, t.name, tenant_url(t.slug, suffix), t.slug == tenant) for t in page.items
    ]


def _base(
    request: Request[Any, Any, Any], title: str, active: str | None, tenants: list[TenantLink]
) -> dict[str, Any]:
    session = session_of(request)
    tenant: str | None = request.path_params.get("tenant")
    nav = _nav(request, tenant, active) if session is not None and tenant is not None else []
    current = next((t for t in tenants if t.current), None)
    return {
        "title": title,
        "session": session,
        "csrf": csrf_for(request, session),
        "tenant": tenant,
        "tenant_name": current.name if current else tenant,
        "tenants": tenants,
        "nav": nav,
        "picker_url": TENANT_PICKER,
    }


async def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    title: str,
    active: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A full page: `template` (which extends base.html) with the header's context. On a
    tenant's page (`/ui/t/{tenant}/...`) `active` is the nav key of the page; the tenant
    switcher links to the same page in the user's other tenants."""
    session = session_of(request)
    tenants: list[TenantLink] = []
    if session is not None:
        entry = next((e for e in console_state(request).nav if e.key == active), None)
        tenant = request.path_params.get("tenant")
        tenants = await _tenants(request, session, tenant, entry.suffix if entry else "")
    base = _base(request, title, active, tenants)
    return Template(template_name=template, context={**base, **context}, status_code=status_code)


def render_plain(
    request: Request[Any, Any, Any],
    template: str,
    *,
    title: str,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A full page without the tenant switcher, for where nothing may be awaited (the
    error handlers are synchronous)."""
    base = _base(request, title, None, [])
    return Template(template_name=template, context={**base, **context}, status_code=status_code)


def fragment(
    request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any
) -> Template:
    """A partial for htmx: `template` with the CSRF token and the page's tenant."""
    session = session_of(request)
    base = {
        "csrf": csrf_for(request, session),
        "session": session,
        "tenant": request.path_params.get("tenant"),
    }
    return Template(template_name=template, context={**base, **context}, status_code=status_code)
