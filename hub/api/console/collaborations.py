"""The partner portal (issue 18, item 6): /ui/t/{tenant}/collaborations — the
collaborations this tenant's organisation takes part in, and one collaboration's page:
its participants, its tasks across organisations as a diagram (collaboration_diagram.py),
the task this organisation may act on now (an approval, a data exchange from its JSON
Schema, a notification to acknowledge, an activity's result), the data partners sent it
(decrypted), start and terminate, and its receipt.

Every page and action names the API call it stands for, so the API's casbin policy
decides (permissions.py); reads and actions call the services behind
/api/v1/tenants/{tenant}/collaborations[...] with the signed-in user's audit context, and
the domain's rules (who submits, who terminates) are asked, never restated
(collaboration_views.py). An approval is a user task of workflow
`collaboration-approval` in this tenant: the page links to it, and its form completes
that task (as the Tasks page does) or, when there is none, submits the decision itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import MediaType, Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.audit_hooks import record_refusal
from hub.api.console import schema_form
from hub.api.console.collaboration_diagram import describe, lane_layout
from hub.api.console.collaboration_views import (
    Placed,
    action_key,
    actionable,
    approval_problems,
    data_problems,
    may_start,
    may_terminate,
    name_of,
    org_names,
    rows,
    short_org,
    status_class,
    task_views,
)
from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can, require
from hub.api.console.rendering import fragment, render
from hub.api.console.run_views import change_token, pretty_json
from hub.api.context import request_context
from hub.api.workflows import task_groups
from hub.bootstrap import Hub
from hub.domain.collaboration import ENDED, Collaboration, TaskDefinition, TaskType
from hub.domain.errors import Conflict, FieldProblem, Forbidden, HubError, ValidationFailed
from hub.domain.nesting import json_too_deep
from hub.domain.paging import MAX_LIMIT
from hub.domain.tenancy import Tenant
from hub.services.collaboration.work import APPROVAL_WORKFLOW

# Who may act on a user task once the route lets them in (as the Tasks page asks).
from hub.services.workflows.service import check_may_act

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
Ref = Annotated[str, PathParameter(max_length=64)]
Short = Annotated[str | None, QueryParameter(max_length=80)]

API = "/api/v1/tenants/{tenant}/collaborations"
LIST = ("GET", API)
ONE = ("GET", API + "/{collab_id}")
DATA = ("GET", API + "/{collab_id}/data")
RECEIPT = ("GET", API + "/{collab_id}/receipt")
START = ("POST", API + "/{collab_id}/start")
RESULT = ("POST", API + "/{collab_id}/tasks/{task_id}/result")
TERMINATE = ("POST", API + "/{collab_id}/terminate")
PARTNERS = ("GET", "/api/v1/tenants/{tenant}/partners")
TASKS = ("GET", "/api/v1/tenants/{tenant}/tasks")
COMPLETE = ("POST", "/api/v1/tenants/{tenant}/tasks/{task_id}/complete")

POLL_SECONDS = 2
APPROVAL_RUNS = 100  # newest runs of the approval workflow searched for a task's user task
MAX_REASON = 1000
MAX_JSON_BYTES = 256 * 1024
MAX_JSON_DEPTH = 16
DONE = {
    "started": "Started: the first task is under way.",
    "approval": "Your decision is recorded. The collaboration moves on once the initiator's "
    "hub has applied it.",
    "data_exchange": "The data was sent to its organisations, encrypted where the task asks.",
    "notification": "Acknowledged.",
    "activity": "The result was submitted.",
    "terminated": "Termination requested: the collaboration ends once the initiator's hub "
    "has applied it.",
}


@dataclass
class Typed:
    """A refused form, shown again: what was typed (never a secret) and the problems."""

    approval: dict[str, str] = field(default_factory=dict)
    data: dict[str, list[str]] | None = None
    data_errors: dict[str, list[str]] = field(default_factory=dict)
    result: str = ""
    reason: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # input name -> problem
    general: list[str] = field(default_factory=list)


def collaborations_url(tenant: str) -> str:
    return tenant_url(tenant, "collaborations/")


def collaboration_url(
    tenant: str, collab_id: str, done: str | None = None, sent: str | None = None
) -> str:
    url = tenant_url(tenant, f"collaborations/{quote(collab_id, safe='')}")
    query = {k: v for k, v in (("done", done), ("sent", sent)) if v}
    return f"{url}?{urlencode(query)}" if query else url


async def _context(request: AnyRequest, slug: str) -> tuple[Hub, Tenant, str]:
    hub: Hub = request.app.state.hub
    tenant = await hub.tenants.get(slug)
    me = await hub.collaboration.organisations.org_id(tenant.id)
    return hub, tenant, me


# --- the list ---


@get("/t/{tenant:str}/collaborations", opt={"api": LIST})
async def collaborations_page(request: AnyRequest, tenant: TenantSlug) -> Template:
    hub, the_tenant, me = await _context(request, tenant)
    found = await hub.collaboration.collaborations.all(the_tenant)
    return await render(
        request,
        "collaboration_list.html",
        title="Collaborations",
        active="collaboration",
        rows=rows(found, me),
        me=me,
        collab_url=lambda collab_id: collaboration_url(tenant, collab_id),
        partners_url=tenant_url(tenant, "partners"),
        may_read_partners=can(request, *PARTNERS),
    )


# --- one collaboration ---


async def _approval_task(
    hub: Hub, tenant: Tenant, collab_id: str, task_id: str
) -> dict[str, Any] | None:
    """The open (or claimed) user task of this approval in the tenant, if there is one:
    the newest `collaboration-approval` run for it, then that run's task."""
    runs, _ = await hub.workflows.runs(tenant, None, APPROVAL_WORKFLOW, None, APPROVAL_RUNS)
    run = next(
        (
            r
            for r in runs
            if isinstance(r.get("input"), dict)
            and r["input"].get("collaboration_id") == collab_id
            and r["input"].get("task_id") == task_id
        ),
        None,
    )
    if run is None:
        return None
    for status in ("open", "claimed"):
        tasks = await hub.workflows.user_tasks(tenant, None, [], status, MAX_LIMIT)
        found = next((t for t in tasks if t["run_id"] == run["id"]), None)
        if found is not None:
            return found
    return None


def _may_complete(request: AnyRequest, tenant: str, user_task: dict[str, Any]) -> bool:
    if not can(request, *COMPLETE, task_id=user_task["id"]):
        return False
    user, groups = task_groups(request, tenant)
    try:
        check_may_act(user_task, user, groups)
    except Forbidden:
        return False
    return True


def _data_tree(task: TaskDefinition) -> schema_form.FormField:
    return schema_form.build(task.data_schema or {"type": "object"})


async def _received(
    request: AnyRequest, hub: Hub, tenant: Tenant, collab: Collaboration
) -> list[dict[str, Any]] | None:
    """Data partners sent this organisation here, decrypted; None when the role may not
    read it."""
    if not can(request, *DATA, collab_id=collab.id):
        return None
    names = org_names(collab)
    found = await hub.collaboration.collaborations.received_data(tenant, collab.id)
    shown: list[dict[str, Any]] = []
    for row in found:
        text, cut = pretty_json(row.get("data"))
        task = next((t for t in collab.tasks if t.id == row["task_id"]), None)
        shown.append(
            {
                "task": (task.title or task.id) if task else row["task_id"],
                "source": name_of(names, str(row["source_org"])),
                "received_at": row["received_at"],
                "encrypted": bool(row["encrypted"]),
                "readable": row.get("data") is not None,
                "text": text,
                "cut": cut,
            }
        )
    return shown


async def _live_context(
    request: AnyRequest, tenant: str, collab: Collaboration, me: str, acts: str | None
) -> dict[str, Any]:
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    received = await _received(request, hub, the_tenant, collab)
    names = org_names(collab)
    layout = lane_layout(collab, me)
    token = change_token(collab.version, collab.status.value, len(received or []))
    key = action_key(collab, me)
    query = urlencode({"seen": token, "acts": key})
    return {
        "collab": collab,
        "me": me,
        "names": names,
        "badge": status_class(collab.status),
        "tasks": task_views(collab, me),
        "layout": layout,
        "diagram_label": describe(layout, names),
        "received": received,
        "live": collab.status not in ENDED,
        "token": token,
        "live_url": collaboration_url(tenant, collab.id) + f"/live?{query}",
        "poll_seconds": POLL_SECONDS,
        "actions_changed": acts is not None and acts != key,
        "page_url": collaboration_url(tenant, collab.id),
        "short_org": short_org,
        "name_of": name_of,
    }


async def _collab_page(
    request: AnyRequest,
    tenant: str,
    collab_id: str,
    *,
    status_code: int = 200,
    done: str | None = None,
    sent: str | None = None,
    message: str | None = None,
    typed: Typed | None = None,
) -> Template:
    hub, the_tenant, me = await _context(request, tenant)
    collab = await hub.collaboration.collaborations.get(the_tenant, collab_id)
    typed = typed or Typed()
    task = actionable(collab, me)
    waiting = task is not None and sent is not None and sent == action_key(collab, me)
    may_submit = task is not None and can(request, *RESULT, collab_id=collab.id, task_id=task.id)
    user_task = None
    tree = None
    if task is not None and task.type is TaskType.APPROVAL:
        user_task = await _approval_task(hub, the_tenant, collab.id, task.id)
        if user_task is not None:  # the decision completes the user task: its rules apply
            may_submit = may_submit and _may_complete(request, tenant, user_task)
    if task is not None and task.type is TaskType.DATA_EXCHANGE:
        tree = _data_tree(task)
    data_form = (
        typed.data
        if typed.data is not None
        else (schema_form.initial(tree, None) if tree is not None else {})
    )
    base = collaboration_url(tenant, collab.id)
    summary = [
        (schema_form.input_id(key), schema_form.describe(key), text)
        for key, texts in typed.data_errors.items()
        for text in texts
    ]
    return await render(
        request,
        "collaboration_page.html",
        title=collab.name,
        active="collaboration",
        status_code=status_code,
        **await _live_context(request, tenant, collab, me, None),
        done=DONE.get(done or ""),
        message=message,
        typed=typed,
        task=task,
        task_title=(task.title or task.id) if task else "",
        may_submit=may_submit and not waiting,
        waiting=waiting,
        user_task=user_task,
        user_task_url=(
            tenant_url(tenant, f"tasks/{quote(user_task['id'], safe='')}") if user_task else None
        ),
        may_open_tasks=can(request, *TASKS),
        tree=tree,
        form=data_form,
        errors=typed.data_errors,
        summary=summary,
        cell_name=schema_form.cell_name,
        input_id=schema_form.input_id,
        table_rows=schema_form.table_rows,
        may_start=may_start(collab, me) and can(request, *START, collab_id=collab.id),
        may_terminate=(may_terminate(collab, me) and can(request, *TERMINATE, collab_id=collab.id)),
        receipt_url=base + "/receipt" if can(request, *RECEIPT, collab_id=collab.id) else None,
        result_url=(base + f"/tasks/{quote(task.id, safe='')}/result") if task else "",
        start_url=base + "/start",
        terminate_url=base + "/terminate",
        list_url=collaborations_url(tenant),
        max_reason=MAX_REASON,
    )


@get("/t/{tenant:str}/collaborations/{collab_id:str}", opt={"api": ONE})
async def collaboration_page(
    request: AnyRequest,
    tenant: TenantSlug,
    collab_id: Ref,
    done: Short = None,
    sent: Short = None,
) -> Template:
    return await _collab_page(request, tenant, collab_id, done=done, sent=sent)


@get("/t/{tenant:str}/collaborations/{collab_id:str}/live", opt={"api": ONE})
async def collaboration_live(
    request: AnyRequest,
    tenant: TenantSlug,
    collab_id: Ref,
    seen: Short = None,
    acts: Short = None,
) -> Response[Any]:
    """The changing part of the page; 204 (htmx swaps nothing) while nothing changed."""
    hub, the_tenant, me = await _context(request, tenant)
    collab = await hub.collaboration.collaborations.get(the_tenant, collab_id)
    context = await _live_context(request, tenant, collab, me, acts or "")
    if seen == context["token"]:
        return Response(b"", status_code=204)
    return fragment(request, "collaboration_live.html", **context)


# --- actions ---


async def _refused(
    request: AnyRequest, tenant: str, collab_id: str, exc: HubError, typed: Typed | None = None
) -> Template:
    """The page again with the service's answer: a 422 on the fields, else a message."""
    await record_refusal(exc, request.scope)  # audited as the API's failed call is
    message = None if isinstance(exc, ValidationFailed) else exc.detail
    return await _collab_page(
        request, tenant, collab_id, status_code=exc.status, message=message, typed=typed
    )


@post(
    "/t/{tenant:str}/collaborations/{collab_id:str}/start",
    opt={"api": START, "action": "collaboration.start"},
    media_type=MediaType.HTML,
)
async def start_collaboration(
    request: AnyRequest, tenant: TenantSlug, collab_id: Ref
) -> Response[Any]:
    hub, the_tenant, _ = await _context(request, tenant)
    try:
        await hub.collaboration.collaborations.start(
            the_tenant, collab_id, request_context(request)
        )
    except (Conflict, Forbidden) as exc:
        return await _refused(request, tenant, collab_id, exc)
    return Redirect(collaboration_url(tenant, collab_id, "started"), status_code=HTTP_303_SEE_OTHER)


@post(
    "/t/{tenant:str}/collaborations/{collab_id:str}/terminate",
    opt={"api": TERMINATE, "action": "collaboration.terminate"},
    media_type=MediaType.HTML,
)
async def terminate_collaboration(
    request: AnyRequest, tenant: TenantSlug, collab_id: Ref
) -> Response[Any]:
    hub, the_tenant, _ = await _context(request, tenant)
    form = await request.form()
    reason = form.get("reason")
    reason = reason if isinstance(reason, str) else ""
    try:
        await hub.collaboration.collaborations.terminate(
            the_tenant, collab_id, reason.strip(), request_context(request)
        )
    except ValidationFailed as exc:
        typed = Typed(reason=reason)
        typed.fields = {p.field: p.message for p in exc.problems}
        return await _refused(request, tenant, collab_id, exc, typed)
    except (Conflict, Forbidden) as exc:
        return await _refused(request, tenant, collab_id, exc, Typed(reason=reason))
    return Redirect(
        collaboration_url(tenant, collab_id, "terminated"), status_code=HTTP_303_SEE_OTHER
    )


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _submit_approval(
    request: AnyRequest, hub: Hub, tenant: Tenant, collab: Collaboration, task: TaskDefinition
) -> None:
    """Complete the approval's user task (as the Tasks page does) or, when there is none
    (yet), submit the decision to the collaboration."""
    form = await request.form()
    typed = Typed(approval={k: _text(form, k) for k in ("approval_decision", "comments")})
    values = {k: v for k, v in typed.approval.items() if v != ""}
    ctx = request_context(request)
    user_task = await _approval_task(hub, tenant, collab.id, task.id)
    try:
        if user_task is not None:
            require(request, *COMPLETE, task_id=user_task["id"])
            user, groups = task_groups(request, tenant.slug)
            await hub.workflows.complete(tenant, user_task["id"], values, user, groups, ctx)
        else:
            await hub.collaboration.collaborations.submit(tenant, collab.id, task.id, values, ctx)
    except ValidationFailed as exc:
        placed: Placed = approval_problems(exc.problems)
        typed.fields, typed.general = placed.fields, placed.general
        raise _Shown(exc, typed) from None


async def _submit_data(
    request: AnyRequest, hub: Hub, tenant: Tenant, collab: Collaboration, task: TaskDefinition
) -> None:
    """A data exchange: the form read against the task's JSON Schema (schema_form), then
    the collaboration service validates, keeps the shared fields, encrypts and sends."""
    tree = _data_tree(task)
    form = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key.startswith(schema_form.ROOT):
            values.setdefault(key, []).append(value)
    reading = schema_form.read(tree, values)
    typed = Typed(data=reading.form)
    if not reading.ok:  # not a number, not JSON: nothing sent
        typed.data_errors = reading.problems
        problems = [
            FieldProblem(schema_form.describe(k), m)
            for k, ms in reading.problems.items()
            for m in ms
        ]
        raise _Shown(ValidationFailed(problems), typed)
    payload = reading.value if reading.value is not None else {}
    try:
        await hub.collaboration.collaborations.submit(
            tenant, collab.id, task.id, payload, request_context(request)
        )
    except ValidationFailed as exc:
        placed, general = schema_form.place(tree, data_problems(exc.problems))
        typed.data_errors, typed.general = placed, general
        raise _Shown(exc, typed) from None


async def _submit_activity(
    request: AnyRequest, hub: Hub, tenant: Tenant, collab: Collaboration, task: TaskDefinition
) -> None:
    """An activity done by hand: its result as a JSON object."""
    text = _text(await request.form(), "result")
    typed = Typed(result=text)
    try:
        value = _json_object(text) if text.strip() else {}
        await hub.collaboration.collaborations.submit(
            tenant, collab.id, task.id, value, request_context(request)
        )
    except ValidationFailed as exc:
        typed.fields = {"result": "; ".join(p.message for p in exc.problems)}
        raise _Shown(exc, typed) from None


def _json_object(text: str) -> dict[str, Any]:
    def bad(message: str) -> ValidationFailed:
        return ValidationFailed([FieldProblem("result", message)])

    if len(text.encode()) > MAX_JSON_BYTES:
        raise bad(f"at most {MAX_JSON_BYTES // 1024} KiB of JSON")
    if json_too_deep(text.encode(), MAX_JSON_DEPTH):
        raise bad(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise bad(f"not valid JSON: {exc}"[:200]) from None
    if not isinstance(value, dict):
        raise bad("must be a JSON object")
    return value


class _Shown(Exception):
    """A refusal with the form to show again."""

    def __init__(self, error: ValidationFailed, typed: Typed) -> None:
        super().__init__(error.detail)
        self.error = error
        self.typed = typed


@post(
    "/t/{tenant:str}/collaborations/{collab_id:str}/tasks/{task_id:str}/result",
    opt={"api": RESULT, "action": "collaboration.task.submit"},
    media_type=MediaType.HTML,
)
async def submit_result(
    request: AnyRequest, tenant: TenantSlug, collab_id: Ref, task_id: Ref
) -> Response[Any]:
    hub, the_tenant, _ = await _context(request, tenant)
    collab = await hub.collaboration.collaborations.get(the_tenant, collab_id)
    task = collab.task(task_id)  # 404 for a task the collaboration does not have
    try:
        if task.type is TaskType.APPROVAL:
            await _submit_approval(request, hub, the_tenant, collab, task)
        elif task.type is TaskType.DATA_EXCHANGE:
            await _submit_data(request, hub, the_tenant, collab, task)
        elif task.type is TaskType.NOTIFICATION:
            await hub.collaboration.collaborations.submit(
                the_tenant, collab.id, task.id, {}, request_context(request)
            )
        else:
            await _submit_activity(request, hub, the_tenant, collab, task)
    except _Shown as shown:
        return await _refused(request, tenant, collab_id, shown.error, shown.typed)
    except (Conflict, Forbidden) as exc:
        return await _refused(request, tenant, collab_id, exc)
    # A participant's copy shows the task open until the initiator's word comes back:
    # `sent` keeps the page from offering the same answer again meanwhile.
    sent = f"{task.id}.{collab.task_states[task.id].attempt}"
    return Redirect(
        collaboration_url(tenant, collab_id, task.type.value, sent), status_code=HTTP_303_SEE_OTHER
    )


# --- the receipt ---


@get("/t/{tenant:str}/collaborations/{collab_id:str}/receipt", opt={"api": RECEIPT})
async def collaboration_receipt(
    request: AnyRequest, tenant: TenantSlug, collab_id: Ref
) -> Response[Any]:
    """The collaboration's receipt (GET .../collaborations/{id}/receipt) as a download,
    for `hub audit verify-receipt`."""
    hub, the_tenant, _ = await _context(request, tenant)
    try:
        receipt = await hub.collaboration.receipts.bundle(the_tenant, collab_id)
    except HubError as exc:
        if not _wants_json(request):
            raise  # a person following the link: the console's error page
        problem = {"status": exc.status, "title": exc.title, "detail": exc.detail}
        return Response(problem, status_code=exc.status, media_type="application/problem+json")
    name = f"receipt-{tenant}-collaboration-{collab_id}.json"
    return Response(receipt, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _wants_json(request: AnyRequest) -> bool:
    """The page's script (it asks for JSON), not a person following the link."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


PAGE = Page(
    handlers=[
        collaborations_page,
        collaboration_page,
        collaboration_live,
        start_collaboration,
        terminate_collaboration,
        submit_result,
        collaboration_receipt,
    ],
    nav=NavEntry("collaboration", "Collaboration", "collaborations/", LIST),
)
