"""Workflows, runs and user tasks: /api/v1/tenants/{tenant}/workflows|runs|tasks."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from hub.api.bodies import definition_problem, json_value
from hub.api.context import request_context
from hub.api.contracts import (
    OptionalBodyOperation,
    YamlOrJsonBodyOperation,
    contract,
    documented_body,
)
from hub.api.deps import HubDep
from hub.api.guards import principal_of
from hub.api.schemas.workflows import (
    CompleteTaskIn,
    PublishedOut,
    RunHistory,
    RunList,
    RunOut,
    SignalPayload,
    StartRunIn,
    TaskList,
    TaskOut,
    WorkflowDefinitionIn,
    WorkflowDefinitionOut,
    WorkflowList,
    WorkflowVersions,
)
from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.nesting import NestingTooDeep
from hub.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from hub.engine.definition import DefinitionSyntaxError, load_definition_text, parse_definition
from hub.engine.diagram import to_dot, to_mermaid
from hub.engine.loading import DefinitionTooDeep
from hub.services.workflows.service import StartRun

TenantSlug = Annotated[str, PathParameter(max_length=63)]
Name = Annotated[str, PathParameter(max_length=64)]
Version = Annotated[str, PathParameter(max_length=64)]
RunId = Annotated[str, PathParameter(max_length=64)]
SignalName = Annotated[str, PathParameter(max_length=64)]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Filter = Annotated[str | None, QueryParameter(max_length=64)]
AnyRequest = Request[Any, Any, Any]


async def _tenant(hub: Any, slug: str) -> Any:
    return await hub.tenants.get(slug)


def task_groups(request: AnyRequest, slug: str) -> tuple[str, list[str]]:
    """The caller's username and candidate groups in this tenant: its role, singular and
    plural (`operator`, `operators`)."""
    principal = principal_of(request)
    hub = request.app.state.hub
    role = hub.authorizer.role_in(principal.user_id, slug)
    groups = [role, f"{role}s"] if role else []
    return hub.authorizer.username_of(principal.user_id), groups


class WorkflowController(Controller):
    path = "/api/v1/tenants/{tenant:str}/workflows"
    tags = ["workflows"]

    @post(
        "/",
        opt={"action": "workflow.publish"},
        status_code=HTTP_201_CREATED,
        summary="Publish a definition version (YAML or JSON body)",
        dependencies=documented_body(WorkflowDefinitionIn),
        operation_class=YamlOrJsonBodyOperation,
        responses=contract(PublishedOut, 201, errors=[409, 415]),
    )
    async def publish(self, tenant: TenantSlug, hub: HubDep, request: AnyRequest) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "application/json")
        text = (await request.body()).decode("utf-8", "replace")
        try:
            # Off the event loop: a large YAML document takes seconds of pure-Python parsing.
            body = await asyncio.to_thread(
                load_definition_text, text, content_type, max_bytes=hub.settings.max_body_bytes
            )
        except DefinitionTooDeep as exc:
            raise NestingTooDeep(str(exc)) from None
        except DefinitionSyntaxError as exc:
            raise definition_problem(exc) from None
        return await hub.workflows.publish(
            await _tenant(hub, tenant), body, request_context(request)
        )

    @get("/", summary="Workflows and their newest versions", responses=contract(WorkflowList))
    async def list_workflows(self, tenant: TenantSlug, hub: HubDep) -> dict[str, Any]:
        return {"items": await hub.workflows.list_definitions(await _tenant(hub, tenant))}

    @get(
        "/{name:str}",
        summary="A workflow's published versions",
        responses=contract(WorkflowVersions),
    )
    async def versions(self, tenant: TenantSlug, name: Name, hub: HubDep) -> dict[str, Any]:
        versions = await hub.workflows.versions(await _tenant(hub, tenant), name)
        return {"name": name, "versions": versions}

    @get(
        "/{name:str}/{version:str}",
        summary="One published definition",
        responses=contract(WorkflowDefinitionOut),
    )
    async def definition(
        self, tenant: TenantSlug, name: Name, version: Version, hub: HubDep
    ) -> dict[str, Any]:
        return await hub.workflows.definition(await _tenant(hub, tenant), name, version)

    @get(
        "/{name:str}/{version:str}/diagram",
        summary="Mermaid or Graphviz diagram",
        media_type=MediaType.TEXT,
    )
    async def diagram(
        self,
        tenant: TenantSlug,
        name: Name,
        version: Version,
        hub: HubDep,
        format: Annotated[str, QueryParameter(pattern="^(mermaid|dot)$")] = "mermaid",
    ) -> Response[str]:
        body = await hub.workflows.definition(await _tenant(hub, tenant), name, version)
        definition = parse_definition(body)
        text = to_mermaid(definition) if format == "mermaid" else to_dot(definition)
        return Response(text, media_type="text/plain")


class RunController(Controller):
    path = "/api/v1/tenants/{tenant:str}/runs"
    tags = ["runs"]

    @post(
        "/",
        opt={"action": "workflow.run.start"},
        summary="Start a run (Idempotency-Key): 201, or 200 with the run the key started",
        responses={**contract(RunOut, 201), **contract(RunOut, 200)},
    )
    async def start(
        self, tenant: TenantSlug, data: JSONBody[StartRunIn], hub: HubDep, request: AnyRequest
    ) -> Response[dict[str, Any]]:
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 128:
            raise ValidationFailed([FieldProblem("Idempotency-Key", "1-128 characters")])
        start = StartRun(data.workflow, data.input, data.version, data.priority, key)
        run, created = await hub.workflows.start(
            await _tenant(hub, tenant), start, request_context(request)
        )
        return Response(run, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/", summary="Runs, newest first", responses=contract(RunList))
    async def list_runs(
        self,
        tenant: TenantSlug,
        hub: HubDep,
        status: Filter = None,
        workflow: Filter = None,
        cursor: Filter = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        items, next_cursor = await hub.workflows.runs(
            await _tenant(hub, tenant), status, workflow, cursor, limit
        )
        return {"items": items, "next_cursor": next_cursor}

    @get("/{run_id:str}", summary="One run", responses=contract(RunOut))
    async def get_run(self, tenant: TenantSlug, run_id: RunId, hub: HubDep) -> dict[str, Any]:
        return await hub.workflows.run(await _tenant(hub, tenant), run_id)

    @get("/{run_id:str}/history", summary="The run's event history", responses=contract(RunHistory))
    async def history(self, tenant: TenantSlug, run_id: RunId, hub: HubDep) -> dict[str, Any]:
        return {"items": await hub.workflows.history(await _tenant(hub, tenant), run_id)}

    @post(
        "/{run_id:str}/signals/{name:str}",
        status_code=HTTP_200_OK,
        opt={"action": "workflow.run.signal"},
        summary="Send a signal (JSON body: payload)",
        dependencies=documented_body(SignalPayload),
        operation_class=OptionalBodyOperation,
        responses=contract(RunOut, errors=[409]),
    )
    async def signal(
        self, tenant: TenantSlug, run_id: RunId, name: SignalName, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        payload = json_value(await request.body())  # not JSON: 400
        return await hub.workflows.signal(
            await _tenant(hub, tenant), run_id, name, payload, request_context(request)
        )

    @post(
        "/{run_id:str}/cancel",
        status_code=HTTP_200_OK,
        opt={"action": "workflow.run.cancel"},
        responses=contract(RunOut, errors=[409]),
    )
    async def cancel(
        self, tenant: TenantSlug, run_id: RunId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        return await hub.workflows.cancel(
            await _tenant(hub, tenant), run_id, request_context(request)
        )

    @post(
        "/{run_id:str}/suspend",
        status_code=HTTP_200_OK,
        opt={"action": "workflow.run.suspend"},
        responses=contract(RunOut, errors=[409]),
    )
    async def suspend(
        self, tenant: TenantSlug, run_id: RunId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        return await hub.workflows.suspend(
            await _tenant(hub, tenant), run_id, request_context(request)
        )

    @post(
        "/{run_id:str}/resume",
        status_code=HTTP_200_OK,
        opt={"action": "workflow.run.resume"},
        responses=contract(RunOut, errors=[409]),
    )
    async def resume(
        self, tenant: TenantSlug, run_id: RunId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        return await hub.workflows.resume(
            await _tenant(hub, tenant), run_id, request_context(request)
        )


class TaskController(Controller):
    path = "/api/v1/tenants/{tenant:str}/tasks"
    tags = ["tasks"]

    @get("/", summary="User tasks: scope=mine (default), open or all", responses=contract(TaskList))
    async def list_tasks(
        self,
        tenant: TenantSlug,
        hub: HubDep,
        request: AnyRequest,
        view: Annotated[str, QueryParameter(name="scope", pattern="^(mine|open|all)$")] = "mine",
        limit: Limit = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        user, groups = task_groups(request, tenant)
        status = {"mine": None, "open": "open", "all": None}[view]
        who = user if view == "mine" else None
        items = await hub.workflows.user_tasks(
            await _tenant(hub, tenant), who, groups, status, limit
        )
        if view == "mine":
            items = [t for t in items if t["status"] in ("open", "claimed")]
        return {"items": items}

    @post(
        "/{task_id:str}/claim",
        status_code=HTTP_200_OK,
        opt={"action": "workflow.task.claim"},
        responses=contract(TaskOut, errors=[409]),
    )
    async def claim(
        self, tenant: TenantSlug, task_id: RunId, hub: HubDep, request: AnyRequest
    ) -> dict[str, Any]:
        user, groups = task_groups(request, tenant)
        return await hub.workflows.claim(await _tenant(hub, tenant), task_id, user, groups)

    @post(
        "/{task_id:str}/complete",
        status_code=HTTP_200_OK,
        opt={"action": "workflow.task.complete"},
        responses=contract(TaskOut, errors=[409]),
    )
    async def complete(
        self,
        tenant: TenantSlug,
        task_id: RunId,
        data: JSONBody[CompleteTaskIn],
        hub: HubDep,
        request: AnyRequest,
    ) -> dict[str, Any]:
        user, groups = task_groups(request, tenant)
        return await hub.workflows.complete(
            await _tenant(hub, tenant), task_id, data.values, user, groups, request_context(request)
        )
