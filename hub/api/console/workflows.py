"""Workflows: /ui/t/{tenant}/workflows — the published definitions with their versions;
a definition's page with its versions, its diagram and its source; and, for those who
may start runs, a form that starts one (JSON input; 422s shown on the fields).

Reads call the services behind /api/v1/tenants/{tenant}/workflows[...]; the start form
calls the one behind POST /api/v1/tenants/{tenant}/runs with the user's audit context.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import yaml
from litestar import Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.console.flowchart import definition_layout
from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can
from hub.api.console.rendering import render
from hub.api.console.run_views import pretty_json
from hub.api.console.runs import MAX_PAYLOAD_BYTES, read_json_field
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.errors import ValidationFailed
from hub.engine.definition import parse_definition
from hub.engine.model import DefinitionInvalid
from hub.services.workflows.service import StartRun

log = logging.getLogger(__name__)
AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
Name = Annotated[str, PathParameter(max_length=64)]
Version = Annotated[str, PathParameter(max_length=64)]
SourceFormat = Annotated[str, QueryParameter(name="source", pattern="^(yaml|json)$")]

WORKFLOWS = ("GET", "/api/v1/tenants/{tenant}/workflows")
VERSIONS = ("GET", "/api/v1/tenants/{tenant}/workflows/{name}")
DEFINITION = ("GET", "/api/v1/tenants/{tenant}/workflows/{name}/{version}")
START = ("POST", "/api/v1/tenants/{tenant}/runs")
RUNS = ("GET", "/api/v1/tenants/{tenant}/runs")
VERSIONS_LISTED = 8  # on the list, per workflow (the definition page has them all)
MAX_SOURCE_CHARS = 200_000
PRIORITY_RANGE = (-100, 100)


def source_text(body: dict[str, Any], source: str) -> tuple[str, bool]:
    """A stored definition as YAML (keys in their stored order) or JSON, cut when huge."""
    if source == "json":
        return pretty_json(body, MAX_SOURCE_CHARS)
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
    if len(text) > MAX_SOURCE_CHARS:
        return text[:MAX_SOURCE_CHARS], True
    return text, False


@get("/t/{tenant:str}/workflows", opt={"api": WORKFLOWS})
async def workflows_page(request: AnyRequest, tenant: TenantSlug) -> Template:
    hub: Hub = request.app.state.hub
    found = await hub.tenants.get(tenant)
    items = await hub.workflows.list_definitions(found)
    rows = []
    for item in sorted(items, key=lambda d: d["name"]):
        versions = await hub.workflows.versions(found, item["name"])
        rows.append(
            {
                **item,
                "url": tenant_url(tenant, f"workflows/{item['name']}"),
                "versions": list(reversed(versions))[:VERSIONS_LISTED],
                "more_versions": max(len(versions) - VERSIONS_LISTED, 0),
            }
        )
    return await render(
        request,
        "workflows/page.html",
        title="Workflows",
        active="workflows",
        rows=rows,
    )


async def _definition_page(
    request: AnyRequest,
    tenant: str,
    name: str,
    version: str | None,
    source: str = "yaml",
    *,
    status_code: int = 200,
    start: dict[str, str] | None = None,
    start_errors: dict[str, str] | None = None,
) -> Template:
    hub: Hub = request.app.state.hub
    found = await hub.tenants.get(tenant)
    versions = await hub.workflows.versions(found, name)
    version = version or versions[-1]
    body = await hub.workflows.definition(found, name, version)
    layout = None
    try:
        layout = definition_layout(parse_definition(body))
    except DefinitionInvalid:  # published under an older hub's rules
        log.warning("workflow %s@%s no longer parses; shown without a diagram", name, version)
    text, cut = source_text(body, source)
    base = tenant_url(tenant, f"workflows/{name}")
    return await render(
        request,
        "workflows/definition.html",
        title=f"Workflow {name}",
        active="workflows",
        status_code=status_code,
        name=name,
        version=version,
        latest=versions[-1],
        versions=[(v, f"{base}/{v}") for v in reversed(versions)],
        body=body,
        layout=layout,
        source=source,
        source_text=text,
        source_cut=cut,
        source_urls={f: f"{base}/{version}?source={f}" for f in ("yaml", "json")},
        start_url=f"{base}/{version}/start",
        runs_url=f"{tenant_url(tenant, 'runs')}?workflow={name}" if can(request, *RUNS) else "",
        can_start=can(request, *START),
        start=start or {"input": "{}", "priority": "0"},
        start_errors=start_errors or {},
        max_input=MAX_PAYLOAD_BYTES,
        priority_range=PRIORITY_RANGE,
    )


@get("/t/{tenant:str}/workflows/{name:str}", opt={"api": VERSIONS})
async def workflow_page(
    request: AnyRequest, tenant: TenantSlug, name: Name, source: SourceFormat = "yaml"
) -> Template:
    return await _definition_page(request, tenant, name, None, source)


@get("/t/{tenant:str}/workflows/{name:str}/{version:str}", opt={"api": DEFINITION})
async def version_page(
    request: AnyRequest,
    tenant: TenantSlug,
    name: Name,
    version: Version,
    source: SourceFormat = "yaml",
) -> Template:
    return await _definition_page(request, tenant, name, version, source)


def _text(form: Any, key: str, limit: int) -> str:
    value = form.get(key, "")
    return value[:limit] if isinstance(value, str) else ""


@post(
    "/t/{tenant:str}/workflows/{name:str}/{version:str}/start",
    opt={"api": START, "action": "workflow.run.start"},
)
async def start_run(
    request: AnyRequest, tenant: TenantSlug, name: Name, version: Version
) -> Response[Any]:
    form = await request.form()
    text = _text(form, "input", MAX_PAYLOAD_BYTES * 2)
    priority_text = _text(form, "priority", 16).strip() or "0"
    kept = {"input": text[:MAX_PAYLOAD_BYTES], "priority": priority_text}
    errors: dict[str, str] = {}
    value, problem = read_json_field(text, MAX_PAYLOAD_BYTES)
    if problem:
        errors["input"] = problem
    elif value is None:
        value = {}
    if not problem and not isinstance(value, dict):
        errors["input"] = "must be a JSON object, e.g. {}"
    low, high = PRIORITY_RANGE
    try:
        priority = int(priority_text)
    except ValueError:
        priority = 0
        errors["priority"] = "a whole number"
    else:
        if not low <= priority <= high:
            errors["priority"] = f"from {low} to {high}"
    hub: Hub = request.app.state.hub
    if not errors:
        found = await hub.tenants.get(tenant)
        try:
            run, _ = await hub.workflows.start(
                found, StartRun(name, value, version, priority), request_context(request)
            )
        except ValidationFailed as exc:
            for p in exc.problems:
                key = p.field if p.field in ("input", "priority") else "general"
                errors[key] = f"{errors[key]}; {p.message}" if key in errors else p.message
        else:
            return Redirect(tenant_url(tenant, f"runs/{run['id']}"), status_code=HTTP_303_SEE_OTHER)
    return await _definition_page(
        request, tenant, name, version, status_code=422, start=kept, start_errors=errors
    )


PAGE = Page(
    handlers=[workflows_page, workflow_page, version_page, start_run],
    nav=NavEntry("workflows", "Workflows", "workflows", WORKFLOWS),
)
