"""Tasks: /ui/t/{tenant}/tasks/ — the user tasks of workflow runs, and one task's form.

The list shows "My tasks" (assigned to me, claimed by me, or offered to one of my
groups, as GET .../tasks?scope=mine filters them) and "Open tasks" (every open task of
the tenant, as ?scope=open); its tables are a fragment the page polls (htmx). A task's
page shows the task and, to whoever may act on it, its form (task_forms.py), a Claim
button and a Complete button. Claiming and completing call the services behind POST
.../tasks/{id}/claim and .../complete with the same caller and groups the API uses, so
the service decides (422 naming fields, 409 when the task is done or taken, 403 when the
caller is neither its assignee nor in a candidate group); the page shows its answer in
place, keeping what was typed (never a secret).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can
from hub.api.console.rendering import fragment, render
from hub.api.console.task_forms import field_views, shown_values, submitted_values, typed_values
from hub.api.context import request_context

# The caller's username and candidate groups in a tenant, exactly as the API's task
# routes work them out (its role, singular and plural).
from hub.api.workflows import task_groups
from hub.bootstrap import Hub
from hub.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.domain.paging import MAX_LIMIT
from hub.domain.tenancy import Tenant

# Who may act on a task once the route lets them in: the rule claim and complete apply.
from hub.services.workflows.service import check_may_act

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
TaskId = Annotated[str, PathParameter(max_length=64)]
Completed = Annotated[str | None, QueryParameter(max_length=64)]

LIST = ("GET", "/api/v1/tenants/{tenant}/tasks")
CLAIM = ("POST", "/api/v1/tenants/{tenant}/tasks/{task_id}/claim")
COMPLETE = ("POST", "/api/v1/tenants/{tenant}/tasks/{task_id}/complete")
RUN = ("GET", "/api/v1/tenants/{tenant}/runs/{run_id}")
POLL_SECONDS = 3
ACTIVE = ("open", "claimed")
RUN_LABELS = 4096  # workflow names of runs, remembered (a run never changes workflow)


@dataclass(frozen=True)
class TaskRow:
    """A task as the console shows it."""

    id: str
    title: str
    status: str
    step: str
    run_id: str
    workflow: str | None  # "name version", None when the run is not found
    candidate_groups: tuple[str, ...]
    assignee: str | None
    claimed_by: str | None
    due_at: datetime | None
    created_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    overdue: bool

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass
class TaskLists:
    tenant: str
    mine: list[TaskRow] = field(default_factory=list)
    open: list[TaskRow] = field(default_factory=list)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_run_labels: OrderedDict[tuple[str, str], str | None] = OrderedDict()


async def _workflow_of(hub: Hub, tenant: Tenant, run_id: str) -> str | None:
    key = (tenant.id, run_id)
    if key in _run_labels:
        _run_labels.move_to_end(key)
        return _run_labels[key]
    try:
        run = await hub.workflows.run(tenant, run_id)
    except NotFound:
        return None  # not remembered: a run being written may appear
    label = f"{run['workflow']} {run['version']}"
    _run_labels[key] = label
    while len(_run_labels) > RUN_LABELS:
        _run_labels.popitem(last=False)
    return label


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def is_overdue(status: str, due_at: datetime | None, now: datetime) -> bool:
    """An open or claimed task past its due time."""
    return status in ACTIVE and due_at is not None and due_at < now


async def _row(hub: Hub, tenant: Tenant, task: dict[str, Any], now: datetime) -> TaskRow:
    due_at = _utc(task.get("due_at"))
    return TaskRow(
        id=task["id"],
        title=str(task.get("title") or task["step"]),
        status=task["status"],
        step=task["step"],
        run_id=task["run_id"],
        workflow=await _workflow_of(hub, tenant, task["run_id"]),
        candidate_groups=tuple(task.get("candidate_groups") or ()),
        assignee=task.get("assignee"),
        claimed_by=task.get("claimed_by"),
        due_at=due_at,
        created_at=_utc(task.get("created_at")),
        completed_at=_utc(task.get("completed_at")),
        completed_by=task.get("completed_by"),
        overdue=is_overdue(task["status"], due_at, now),
    )


async def task_lists(request: AnyRequest, slug: str) -> TaskLists:
    """My tasks and the open tasks, from the service behind GET .../tasks (scope=mine and
    scope=open, filtered as the API filters them)."""
    hub: Hub = request.app.state.hub
    tenant = await hub.tenants.get(slug)
    user, groups = task_groups(request, slug)
    view = TaskLists(slug)
    mine = await hub.workflows.user_tasks(tenant, user, groups, None, MAX_LIMIT)
    opened = await hub.workflows.user_tasks(tenant, None, groups, "open", MAX_LIMIT)
    view.mine = [await _row(hub, tenant, t, view.updated_at) for t in mine if t["status"] in ACTIVE]
    view.open = [await _row(hub, tenant, t, view.updated_at) for t in opened]
    return view


def _live_url(tenant: str) -> str:
    return tenant_url(tenant, "tasks/live")


def _list_url(tenant: str, completed: str | None = None) -> str:
    query = f"?{urlencode({'completed': completed})}" if completed else ""
    return tenant_url(tenant, "tasks/") + query


def task_url(tenant: str, task_id: str) -> str:
    return tenant_url(tenant, f"tasks/{quote(task_id, safe='')}")


def run_url(tenant: str, run_id: str) -> str:
    return tenant_url(tenant, f"runs/{quote(run_id, safe='')}")


async def _task(hub: Hub, tenant: Tenant, task_id: str) -> dict[str, Any]:
    """One task of the tenant (404 otherwise), read as the service's claim and complete
    read it (the API has no route for one task; its list holds the same fields)."""
    return await hub.workflows.user_task(tenant, task_id)


@get("/t/{tenant:str}/tasks", opt={"api": LIST})
async def tasks_page(
    request: AnyRequest, tenant: TenantSlug, completed: Completed = None
) -> Template:
    view = await task_lists(request, tenant)
    done: TaskRow | None = None
    if completed:
        hub: Hub = request.app.state.hub
        try:
            task = await _task(hub, await hub.tenants.get(tenant), completed)
        except NotFound:
            task = None
        if task is not None and task["status"] == "completed":
            done = await _row(hub, await hub.tenants.get(tenant), task, view.updated_at)
    return await render(
        request,
        "tasks/page.html",
        title="Tasks",
        active="tasks",
        view=view,
        done=done,
        live_url=_live_url(tenant),
        poll_seconds=POLL_SECONDS,
        task_url=task_url,
        run_url=run_url,
    )


@get("/t/{tenant:str}/tasks/live", opt={"api": LIST})
async def tasks_live(request: AnyRequest, tenant: TenantSlug) -> Template:
    view = await task_lists(request, tenant)
    return fragment(
        request,
        "tasks/_live.html",
        view=view,
        live_url=_live_url(tenant),
        poll_seconds=POLL_SECONDS,
        task_url=task_url,
        run_url=run_url,
    )


def _may_act_on(request: AnyRequest, tenant: str, task: dict[str, Any]) -> bool:
    user, groups = task_groups(request, tenant)
    try:
        check_may_act(task, user, groups)
    except Forbidden:
        return False
    return True


async def _task_page(
    request: AnyRequest,
    tenant: str,
    task: dict[str, Any],
    *,
    status_code: int = 200,
    message: str | None = None,
    typed: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    other_problems: list[str] | None = None,
) -> Template:
    hub: Hub = request.app.state.hub
    row = await _row(hub, await hub.tenants.get(tenant), task, datetime.now(UTC))
    form = task.get("form") or []
    may_act = row.active and _may_act_on(request, tenant, task)
    return await render(
        request,
        "tasks/task.html",
        title=row.title,
        active="tasks",
        status_code=status_code,
        task=row,
        fields=field_views(form, typed, problems),
        values=shown_values(form, task.get("values")) if row.status == "completed" else [],
        may_claim=may_act and row.status == "open" and can(request, *CLAIM, task_id=row.id),
        may_complete=may_act and can(request, *COMPLETE, task_id=row.id),
        may_act=may_act,
        message=message,
        problems=problems or {},
        other_problems=other_problems or [],
        list_url=_list_url(tenant),
        run_link=run_url(tenant, row.run_id),
        may_read_run=can(request, *RUN, run_id=row.run_id),
        claim_url=task_url(tenant, row.id) + "/claim",
        complete_url=task_url(tenant, row.id) + "/complete",
    )


@get("/t/{tenant:str}/tasks/{task_id:str}", opt={"api": LIST})
async def task_page(request: AnyRequest, tenant: TenantSlug, task_id: TaskId) -> Template:
    hub: Hub = request.app.state.hub
    task = await _task(hub, await hub.tenants.get(tenant), task_id)
    return await _task_page(request, tenant, task)


@post("/t/{tenant:str}/tasks/{task_id:str}/claim", opt={"api": CLAIM})
async def claim_task(request: AnyRequest, tenant: TenantSlug, task_id: TaskId) -> Response[Any]:
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    user, groups = task_groups(request, tenant)
    try:
        await hub.workflows.claim(the_tenant, task_id, user, groups)
    except (Conflict, Forbidden) as exc:
        task = await _task(hub, the_tenant, task_id)
        return await _task_page(request, tenant, task, status_code=exc.status, message=exc.detail)
    return Redirect(task_url(tenant, task_id), status_code=HTTP_303_SEE_OTHER)


@post("/t/{tenant:str}/tasks/{task_id:str}/complete", opt={"api": COMPLETE})
async def complete_task(request: AnyRequest, tenant: TenantSlug, task_id: TaskId) -> Response[Any]:
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    task = await _task(hub, the_tenant, task_id)
    form = task.get("form") or []
    typed = typed_values(form, await request.form())
    user, groups = task_groups(request, tenant)
    try:
        await hub.workflows.complete(
            the_tenant,
            task_id,
            submitted_values(form, typed),
            user,
            groups,
            request_context(request),
        )
    except ValidationFailed as exc:
        known = {str(f.get("id")) for f in form}
        problems: dict[str, str] = {}
        for problem in exc.problems:
            if problem.field in known:
                problems.setdefault(problem.field, problem.message)
        others = [f"{p.field}: {p.message}" for p in exc.problems if p.field not in known]
        return await _task_page(
            request,
            tenant,
            await _task(hub, the_tenant, task_id),
            status_code=exc.status,
            typed=typed,
            problems=problems,
            other_problems=others,
        )
    except (Conflict, Forbidden) as exc:
        return await _task_page(
            request,
            tenant,
            await _task(hub, the_tenant, task_id),
            status_code=exc.status,
            message=exc.detail,
            typed=typed,
        )
    return Redirect(_list_url(tenant, task_id), status_code=HTTP_303_SEE_OTHER)


PAGE = Page(
    handlers=[tasks_page, tasks_live, task_page, claim_task, complete_task],
    nav=NavEntry("tasks", "Tasks", "tasks/", LIST),
)
