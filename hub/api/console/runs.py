"""Runs: /ui/t/{tenant}/runs — the list (filters by workflow, status and time range, paged
as the API pages, live while any listed run can still change), and a run's page: its
diagram with the path it took and where it is now, its history as a timeline, its
input, output and vars, and cancel / suspend / resume / signal for those allowed.

Reads and actions call the services behind /api/v1/tenants/{tenant}/runs[...] with the
audit context of the signed-in user. Polled fragments answer 204 (htmx swaps nothing)
when nothing changed since the `seen` digest the page holds, so focus and reading
position stay put.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.console.flowchart import START, Layout, definition_layout
from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can, require
from hub.api.console.rendering import fragment, render
from hub.api.console.run_views import (
    Marks,
    change_token,
    duration_text,
    live,
    pretty_json,
    run_marks,
    status_class,
    timeline,
)
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.errors import Conflict, ValidationFailed
from hub.domain.ids import time_ordered_floor
from hub.domain.nesting import MAX_DEPTH, json_too_deep
from hub.domain.tenancy import Tenant
from hub.engine.definition import parse_definition
from hub.engine.history import RunStatus
from hub.engine.model import DefinitionInvalid

log = logging.getLogger(__name__)
AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
RunId = Annotated[str, PathParameter(max_length=64)]
Short = Annotated[str | None, QueryParameter(max_length=64)]

RUNS = ("GET", "/api/v1/tenants/{tenant}/runs")
RUN = ("GET", "/api/v1/tenants/{tenant}/runs/{run_id}")
HISTORY = ("GET", "/api/v1/tenants/{tenant}/runs/{run_id}/history")
WORKFLOWS = ("GET", "/api/v1/tenants/{tenant}/workflows")
DIAGRAM = ("GET", "/api/v1/tenants/{tenant}/workflows/{name}/{version}/diagram")
CANCEL = ("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/cancel")
SUSPEND = ("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/suspend")
RESUME = ("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/resume")
# The signal's name comes from the form, not the path: the route declares any signal of
# the run ("*", which the policy's runs/* covers) and the handler asks again, by name.
SIGNAL_ANY = ("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/signals/*")
SIGNAL = ("POST", "/api/v1/tenants/{tenant}/runs/{run_id}/signals/{name}")

PAGE_SIZE = 50
POLL_SECONDS = 2
MAX_SIGNAL_NAME = 64
MAX_PAYLOAD_BYTES = 64 * 1024
STATUSES = tuple(s.value for s in RunStatus)
TIME_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, read as UTC


def _at(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _at(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


@dataclass
class RunFilter:
    """The list's query, as the form sends it; `errors` name the fields that are wrong."""

    status: str = ""
    workflow: str = ""
    since: str = ""
    until: str = ""
    cursor: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        status: str | None,
        workflow: str | None,
        since: str | None,
        until: str | None,
        cursor: str | None,
    ) -> RunFilter:
        def clean(value: str | None) -> str:
            return value.strip() if value else ""

        found = cls(clean(status), clean(workflow), clean(since), clean(until), clean(cursor))
        if found.status and found.status not in STATUSES:
            found.errors["status"] = f"not a run status ({', '.join(STATUSES)})"
        for name in ("since", "until"):
            if getattr(found, name) and found.time(name) is None:
                found.errors[name] = "a date and time, YYYY-MM-DDTHH:MM (UTC)"
        since_at, until_at = found.time("since"), found.time("until")
        if since_at and until_at and since_at >= until_at:
            found.errors["until"] = "must be later than From"
        return found

    def time(self, name: str) -> datetime | None:
        text = getattr(self, name)
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def query(self, **changes: str) -> str:
        values = {
            "status": self.status,
            "workflow": self.workflow,
            "since": self.since,
            "until": self.until,
            "cursor": self.cursor,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def filtered(self) -> bool:
        return any((self.status, self.workflow, self.since, self.until))


@dataclass
class RunRow:
    run: dict[str, Any]
    url: str

    @property
    def badge(self) -> str:
        return status_class(self.run["status"])

    @property
    def live(self) -> bool:
        return live(self.run["status"])


@dataclass
class Listing:
    rows: list[RunRow]
    next_cursor: str | None
    token: str

    @property
    def live(self) -> bool:
        return any(r.live for r in self.rows)


async def _listing(request: AnyRequest, tenant: Tenant, query: RunFilter) -> Listing:
    """One page of runs, newest first, as the API pages them (its cursor is the last run
    id shown). Ids are time-ordered: `until` starts the page below its first id; `since`
    cuts the page (and the paging) where runs become older."""
    hub: Hub = request.app.state.hub
    cursor = query.cursor or None
    until = query.time("until")
    if until is not None:
        floor = time_ordered_floor(until)
        cursor = min(cursor, floor) if cursor else floor
    items, next_cursor = await hub.workflows.runs(
        tenant, query.status or None, query.workflow or None, cursor, PAGE_SIZE
    )
    since = query.time("since")
    if since is not None:
        kept = [r for r in items if (_at(r["created_at"]) or since) >= since]
        if len(kept) < len(items):
            next_cursor = None
        items = kept
    rows = [RunRow(r, tenant_url(tenant.slug, f"runs/{r['id']}")) for r in items]
    token = change_token([(r["id"], r["status"], r["updated_at"]) for r in items], next_cursor)
    return Listing(rows, next_cursor, token)


async def _workflow_names(request: AnyRequest, tenant: Tenant) -> list[str] | None:
    if not can(request, *WORKFLOWS):
        return None
    hub: Hub = request.app.state.hub
    return sorted(d["name"] for d in await hub.workflows.list_definitions(tenant))


def _list_context(slug: str, query: RunFilter, listing: Listing | None) -> dict[str, Any]:
    base = tenant_url(slug, "runs")
    live_query = query.query(seen=listing.token) if listing else ""
    return {
        "query": query,
        "listing": listing,
        "statuses": STATUSES,
        "runs_url": base,
        "live_url": f"{tenant_url(slug, 'runs/live')}?{live_query}",
        "next_url": (
            f"{base}?{query.query(cursor=listing.next_cursor)}"
            if listing and listing.next_cursor
            else None
        ),
        "first_url": f"{base}?{query.query(cursor='')}" if query.cursor else None,
        "poll_seconds": POLL_SECONDS,
    }


async def _read_listing(
    request: AnyRequest, tenant: Tenant, query: RunFilter
) -> tuple[Listing | None, int]:
    if query.errors:
        return None, 422
    try:
        return await _listing(request, tenant, query), 200
    except ValidationFailed as exc:  # the service's own word on a filter
        query.errors.update({p.field: p.message for p in exc.problems})
        return None, 422


@get("/t/{tenant:str}/runs", opt={"api": RUNS})
async def runs_page(
    request: AnyRequest,
    tenant: TenantSlug,
    status: Short = None,
    workflow: Short = None,
    since: Short = None,
    until: Short = None,
    cursor: Short = None,
) -> Template:
    hub: Hub = request.app.state.hub
    found = await hub.tenants.get(tenant)
    query = RunFilter.read(status, workflow, since, until, cursor)
    listing, code = await _read_listing(request, found, query)
    return await render(
        request,
        "runs/page.html",
        title="Runs",
        active="runs",
        status_code=code,
        workflows=await _workflow_names(request, found),
        **_list_context(tenant, query, listing),
    )


@get("/t/{tenant:str}/runs/live", opt={"api": RUNS})
async def runs_live(
    request: AnyRequest,
    tenant: TenantSlug,
    status: Short = None,
    workflow: Short = None,
    since: Short = None,
    until: Short = None,
    cursor: Short = None,
    seen: Short = None,
) -> Response[Any]:
    hub: Hub = request.app.state.hub
    query = RunFilter.read(status, workflow, since, until, cursor)
    listing, code = await _read_listing(request, await hub.tenants.get(tenant), query)
    if listing is not None and listing.token == seen:
        return Response(b"", status_code=204)
    return fragment(
        request, "runs/_list.html", status_code=code, **_list_context(tenant, query, listing)
    )


# --- one run ---


@dataclass
class RunView:
    run: dict[str, Any]
    events: list[dict[str, Any]] | None  # None: the user may not read the history
    layout: Layout | None
    marks: Marks
    vars: Any
    diagram_note: str | None = None

    @property
    def live(self) -> bool:
        return live(self.run["status"])

    @property
    def badge(self) -> str:
        return status_class(self.run["status"])

    @property
    def token(self) -> str:
        return change_token(
            self.run["status"],
            self.run["updated_at"],
            self.run["current_steps"],
            len(self.events or ()),
        )


async def _run_view(request: AnyRequest, tenant: Tenant, run_id: str) -> RunView:
    hub: Hub = request.app.state.hub
    run = await hub.workflows.run(tenant, run_id)
    events = await hub.workflows.history(tenant, run_id) if can(request, *HISTORY) else None
    layout: Layout | None = None
    variables: Any = None
    note: str | None = None
    marks = Marks(current=set(run["current_steps"] or ()))
    where = {"name": run["workflow"], "version": run["version"]}
    if can(request, *DIAGRAM, **where):
        body = await hub.workflows.definition(tenant, run["workflow"], run["version"])
        variables = body.get("vars")
        try:
            definition = parse_definition(body)
        except DefinitionInvalid:  # published by an older hub under other rules
            log.warning("run %s: definition %s@%s no longer parses", run_id, *where.values())
            note = "This version's definition cannot be drawn by this hub."
        else:
            layout = definition_layout(definition)
            edges = [(link.source, link.target) for link in layout.links]
            marks = run_marks(
                events or [], edges, run["current_steps"] or (), (START, definition.start)
            )
    return RunView(run, events, layout, marks, variables, note)


def _run_urls(slug: str, run_id: str, token: str) -> dict[str, str]:
    base = tenant_url(slug, f"runs/{run_id}")
    return {
        "run_url": base,
        "run_live_url": f"{base}/live?{urlencode({'seen': token})}",
        "cancel_url": f"{base}/cancel",
        "suspend_url": f"{base}/suspend",
        "resume_url": f"{base}/resume",
        "signal_url": f"{base}/signal",
        "workflow_url": "",
    }


def _run_context(request: AnyRequest, slug: str, view: RunView) -> dict[str, Any]:
    run = view.run
    urls = _run_urls(slug, run["id"], view.token)
    if can(request, *WORKFLOWS):
        urls["workflow_url"] = tenant_url(slug, f"workflows/{run['workflow']}/{run['version']}")
    return {
        "view": view,
        "rows": timeline(view.events or []),
        "duration_text": duration_text,
        "pretty_json": pretty_json,
        "poll_seconds": POLL_SECONDS,
        "runs_url": tenant_url(slug, "runs"),
        **urls,
    }


async def _run_page(
    request: AnyRequest,
    tenant: str,
    run_id: str,
    *,
    status_code: int = 200,
    notice: str | None = None,
    signal: dict[str, str] | None = None,
    signal_errors: dict[str, str] | None = None,
) -> Template:
    hub: Hub = request.app.state.hub
    view = await _run_view(request, await hub.tenants.get(tenant), run_id)
    return await render(
        request,
        "runs/run.html",
        title=f"Run {run_id[:12]}",
        active="runs",
        status_code=status_code,
        notice=notice,
        signal=signal or {"name": "", "payload": ""},
        signal_errors=signal_errors or {},
        max_payload=MAX_PAYLOAD_BYTES,
        **_run_context(request, tenant, view),
    )


@get("/t/{tenant:str}/runs/{run_id:str}", opt={"api": RUN})
async def run_page(request: AnyRequest, tenant: TenantSlug, run_id: RunId) -> Template:
    return await _run_page(request, tenant, run_id)


@get("/t/{tenant:str}/runs/{run_id:str}/live", opt={"api": RUN})
async def run_live(
    request: AnyRequest, tenant: TenantSlug, run_id: RunId, seen: Short = None
) -> Response[Any]:
    hub: Hub = request.app.state.hub
    view = await _run_view(request, await hub.tenants.get(tenant), run_id)
    if view.token == seen:
        return Response(b"", status_code=204)
    return fragment(request, "runs/_run_live.html", **_run_context(request, tenant, view))


async def _act(request: AnyRequest, tenant: str, run_id: str, action: str) -> Response[Any]:
    hub: Hub = request.app.state.hub
    found = await hub.tenants.get(tenant)
    act = {
        "cancel": hub.workflows.cancel,
        "suspend": hub.workflows.suspend,
        "resume": hub.workflows.resume,
    }[action]
    try:
        await act(found, run_id, request_context(request))
    except Conflict as exc:  # finished meanwhile, already suspended, ...: say so in the page
        return await _run_page(request, tenant, run_id, status_code=exc.status, notice=exc.detail)
    return Redirect(tenant_url(tenant, f"runs/{run_id}"), status_code=HTTP_303_SEE_OTHER)


@post(
    "/t/{tenant:str}/runs/{run_id:str}/cancel",
    opt={"api": CANCEL, "action": "workflow.run.cancel"},
)
async def cancel_run(request: AnyRequest, tenant: TenantSlug, run_id: RunId) -> Response[Any]:
    return await _act(request, tenant, run_id, "cancel")


@post(
    "/t/{tenant:str}/runs/{run_id:str}/suspend",
    opt={"api": SUSPEND, "action": "workflow.run.suspend"},
)
async def suspend_run(request: AnyRequest, tenant: TenantSlug, run_id: RunId) -> Response[Any]:
    return await _act(request, tenant, run_id, "suspend")


@post(
    "/t/{tenant:str}/runs/{run_id:str}/resume",
    opt={"api": RESUME, "action": "workflow.run.resume"},
)
async def resume_run(request: AnyRequest, tenant: TenantSlug, run_id: RunId) -> Response[Any]:
    return await _act(request, tenant, run_id, "resume")


def read_json_field(text: str, max_bytes: int) -> tuple[Any, str | None]:
    """A form field holding JSON: its value (None when empty), or why it is not one."""
    raw = text.strip().encode()
    if not raw:
        return None, None
    if len(raw) > max_bytes:
        return None, f"at most {max_bytes // 1024} KiB of JSON"
    if json_too_deep(raw):
        return None, f"nested deeper than {MAX_DEPTH} levels"
    try:
        return msgspec.json.decode(raw), None
    except msgspec.ValidationError as exc:  # well-formed, but e.g. 10**400
        return None, str(exc).split(" - at ")[0]
    except msgspec.DecodeError as exc:
        return None, f"not valid JSON: {exc}"


def _text(form: Any, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


@post(
    "/t/{tenant:str}/runs/{run_id:str}/signal",
    opt={"api": SIGNAL_ANY, "action": "workflow.run.signal"},
)
async def signal_run(request: AnyRequest, tenant: TenantSlug, run_id: RunId) -> Response[Any]:
    form = await request.form()
    name = _text(form, "name", MAX_SIGNAL_NAME + 1).strip()
    text = _text(form, "payload", MAX_PAYLOAD_BYTES * 2)
    kept = {"name": name, "payload": text[:MAX_PAYLOAD_BYTES]}
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "required"
    elif len(name) > MAX_SIGNAL_NAME:
        errors["name"] = f"at most {MAX_SIGNAL_NAME} characters"
    payload, problem = read_json_field(text, MAX_PAYLOAD_BYTES)
    if problem:
        errors["payload"] = problem
    if errors:
        return await _run_page(
            request, tenant, run_id, status_code=422, signal=kept, signal_errors=errors
        )
    require(request, *SIGNAL, name=name)
    hub: Hub = request.app.state.hub
    found = await hub.tenants.get(tenant)
    try:
        await hub.workflows.signal(found, run_id, name, payload, request_context(request))
    except ValidationFailed as exc:
        errors = {p.field if p.field in kept else "payload": p.message for p in exc.problems}
        return await _run_page(
            request, tenant, run_id, status_code=422, signal=kept, signal_errors=errors
        )
    except Conflict as exc:
        return await _run_page(
            request, tenant, run_id, status_code=exc.status, notice=exc.detail, signal=kept
        )
    return Redirect(tenant_url(tenant, f"runs/{run_id}"), status_code=HTTP_303_SEE_OTHER)


PAGE = Page(
    handlers=[
        runs_page,
        runs_live,
        run_page,
        run_live,
        cancel_run,
        suspend_run,
        resume_run,
        signal_run,
    ],
    nav=NavEntry("runs", "Runs", "runs", RUNS),
)
