"""The console's own Litestar app, mounted by the API app at /ui (paths.PREFIX).

A mounted app rather than a Router of the API app: the console has its own template
engine, error pages (HTML, not problem+json), request hook (cookie session, CSRF) and
response headers (CSP, ...), none of which the JSON API should carry or pay for, and the
API's route table (its RBAC matrix, its OpenAPI document) stays the API's. Both apps
share the one Hub: the same services, the same authorizer, the same audit log.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Litestar, asgi
from litestar.datastructures import State
from litestar.handlers import ASGIRouteHandler
from litestar.plugins.htmx import HTMXRequest
from litestar.routes import HTTPRoute
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from hub.api.audit_hooks import record_refusal
from hub.api.console.assets import asset_routers
from hub.api.console.csrf import derive_key
from hub.api.console.errors import EXCEPTION_HANDLERS
from hub.api.console.guard import console_guard
from hub.api.console.nav import Page, nav_entries
from hub.api.console.pages import PAGES
from hub.api.console.paths import PREFIX
from hub.api.console.rendering import template_config
from hub.api.console.security_headers import secured
from hub.api.console.session import Refresher
from hub.api.console.state import ConsoleState
from hub.api.deps import hub_dependency
from hub.bootstrap import Hub


def _check_declared(app: Litestar) -> None:
    """Deny by default: every console handler is public or names its API permission."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's own, answering with the Allow header only
            opt = handler.opt
            if not opt.get("public") and not isinstance(opt.get("api"), tuple):
                raise RuntimeError(
                    f"console route {route.path} declares neither opt['public'] nor opt['api']"
                )


def console_app(the_hub: Hub, pages: Sequence[Page] = PAGES) -> Litestar:
    """The console app over `the_hub` with `pages` (pages.PAGES; tests add their own)."""
    state = ConsoleState(
        csrf_key=derive_key(the_hub.settings.secret_key),
        refresher=Refresher(the_hub.auth),
        nav=nav_entries(pages),
    )
    app = Litestar(
        route_handlers=[*(h for page in pages for h in page.handlers), *asset_routers()],
        dependencies={"hub": hub_dependency(the_hub)},
        template_config=template_config(),
        request_class=HTMXRequest,
        before_request=console_guard,
        exception_handlers=EXCEPTION_HANDLERS,
        after_exception=[record_refusal],  # denials audited as the API's are
        state=State({"hub": the_hub, "console": state}),
        request_max_body_size=the_hub.settings.max_body_bytes,
        openapi_config=None,
    )
    _check_declared(app)
    return app


def console_handlers(the_hub: Hub, pages: Sequence[Page] = PAGES) -> list[ASGIRouteHandler]:
    """What the API app serves for the console: /ui (the console app) and / (to /ui/)."""
    built: list[ASGIApp] = []

    def console() -> ASGIApp:
        # Made on the first console request, not with the API app: registering its routes
        # costs about 0.1 s of CPU, which a process serving only the API never needs (nor
        # each test's hub). No await between the check and the append: made once.
        if not built:
            built.append(secured(console_app(the_hub, pages)))
        return built[0]

    # Both are ASGI handlers: the API's bearer-token hook does not run for them (the
    # console checks its own cookie), and they are not in the API's route table.
    @asgi(PREFIX, is_mount=True, copy_scope=True, opt={"public": True})
    async def ui(scope: Scope, receive: Receive, send: Send) -> None:
        await console()(scope, receive, send)

    @asgi("/", opt={"public": True}, copy_scope=False)
    async def root(scope: Scope, receive: Receive, send: Send) -> None:
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 302,
            "headers": [(b"location", f"{PREFIX}/".encode()), (b"content-length", b"0")],
        }
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"",
            "more_body": False,
        }
        await send(start)
        await send(body)

    return [ui, root]
