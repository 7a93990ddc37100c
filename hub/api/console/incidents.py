"""Incidents: /ui/t/{tenant}/incidents — what the safety pack recorded: the list (open or
reviewed), an incident with its timeline (run history and alarm journal in time order,
the tag's telemetry around the event) and its review, from the service behind
/api/v1/tenants/{tenant}/incidents (IncidentService: the same rules, the same audit)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import require
from hub.api.console.rendering import render
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.errors import Conflict, HubError, ValidationFailed
from hub.domain.paging import DEFAULT_LIMIT

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
IncidentId = Annotated[str, PathParameter(max_length=64)]

LIST = ("GET", "/api/v1/tenants/{tenant}/incidents")
DETAIL = ("GET", "/api/v1/tenants/{tenant}/incidents/{incident_id}")
REVIEW = ("POST", "/api/v1/tenants/{tenant}/incidents/{incident_id}/review")
RUN_RECEIPT = ("GET", "/api/v1/tenants/{tenant}/runs/{run_id}/receipt")
STATUSES = ("open", "reviewed")
OUTCOMES = (
    ("confirmed", "Confirmed"),
    ("false_alarm", "False alarm"),
    ("needs_action", "Needs action"),
)
COMMENT_MAX = 4000
PRIORITY_LIKE = ("critical", "high", "medium", "low")  # severities shown as alarm priorities


@dataclass(frozen=True)
class TimelineItem:
    ts: datetime | None
    source: str  # "run" | "alarm"
    what: str
    detail: str


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def timeline_items(timeline: Mapping[str, Any]) -> list[TimelineItem]:
    """The run's history and the alarm's journal as one list in time order (events
    without a time last, in the order they came)."""
    items: list[TimelineItem] = []
    for event in timeline.get("run") or []:
        step = event.get("step")
        items.append(
            TimelineItem(_moment(event.get("ts")), "run", str(event.get("type", "")), _text(step))
        )
    for entry in timeline.get("alarm_journal") or []:
        parts = [f"{entry.get('from', '')} → {entry.get('to', '')}"]
        if entry.get("value") is not None:
            limit = entry.get("limit")
            parts.append(
                f"value {_text(entry.get('value'))}"
                + (f" (limit {_text(limit)})" if limit is not None else "")
            )
        if entry.get("actor"):
            parts.append(f"by {entry['actor']}")
        if entry.get("comment"):
            parts.append(f"“{entry['comment']}”")
        items.append(
            TimelineItem(
                _moment(entry.get("ts")), "alarm", str(entry.get("action", "")), ", ".join(parts)
            )
        )
    timed = sorted((i for i in items if i.ts is not None), key=lambda i: i.ts or datetime.min)
    return timed + [i for i in items if i.ts is None]


def details_text(details: Any) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True, indent=2, default=str)


def _list_url(tenant: str, status: str | None = None, cursor: str | None = None) -> str:
    params = {k: v for k, v in (("status", status), ("cursor", cursor)) if v}
    return tenant_url(tenant, "incidents/") + (f"?{urlencode(params)}" if params else "")


def _detail_url(tenant: str, incident_id: str) -> str:
    return tenant_url(tenant, f"incidents/{incident_id}")


@get("/t/{tenant:str}/incidents", opt={"api": LIST})
async def incidents_page(request: AnyRequest, tenant: TenantSlug) -> Template:
    hub: Hub = request.app.state.hub
    status = request.query_params.get("status") or None
    cursor = request.query_params.get("cursor") or None
    problems: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    next_url: str | None = None
    try:
        page = await hub.incidents.page(
            await hub.tenants.get(tenant), status, cursor, DEFAULT_LIMIT
        )
        items = page.items
        if page.next_cursor:
            next_url = _list_url(tenant, status, page.next_cursor)
    except ValidationFailed as exc:
        problems = {p.field: p.message for p in exc.problems}
    return await render(
        request,
        "incidents/list.html",
        title="Incidents",
        active="incidents",
        status_code=422 if problems else 200,
        items=items,
        status=status or "",
        statuses=STATUSES,
        problems=problems,
        next_url=next_url,
        first_url=_list_url(tenant, status) if cursor else None,
        list_url=_list_url(tenant),
        priority_like=PRIORITY_LIKE,
    )


async def _detail_page(
    request: AnyRequest,
    tenant: str,
    incident_id: str,
    *,
    status_code: int = 200,
    problems: Mapping[str, str] | None = None,
    message: str | None = None,
    form: Mapping[str, str] | None = None,
) -> Template:
    hub: Hub = request.app.state.hub
    item = await hub.incidents.detail(await hub.tenants.get(tenant), incident_id)
    timeline = item["timeline"]
    telemetry = timeline.get("telemetry")
    unit = await _unit(hub, tenant, telemetry) if telemetry else ""
    return await render(
        request,
        "incidents/detail.html",
        title=f"Incident {item['summary'] or item['id']}"[:120],
        active="incidents",
        status_code=status_code,
        item=item,
        details=details_text(item.get("details", {})),
        events=timeline_items(timeline),
        telemetry=telemetry,
        unit=unit,
        outcomes=OUTCOMES,
        problems=dict(problems or {}),
        message=message,
        form=dict(form or {}),
        comment_max=COMMENT_MAX,
        list_url=_list_url(tenant),
        review_url=_detail_url(tenant, incident_id) + "/review",
        receipt_url=_detail_url(tenant, incident_id) + "/receipt",
        priority_like=PRIORITY_LIKE,
    )


async def _unit(hub: Hub, tenant: str, telemetry: Mapping[str, Any]) -> str:
    """The unit of the incident's tag, when its device still has it."""
    try:
        device = await hub.plc.devices.get(await hub.tenants.get(tenant), str(telemetry["device"]))
    except (HubError, KeyError):
        return ""
    tag = device.tag(str(telemetry.get("tag", "")))
    return str(tag.unit) if tag is not None else ""


@get("/t/{tenant:str}/incidents/{incident_id:str}", opt={"api": DETAIL})
async def incident_page(
    request: AnyRequest, tenant: TenantSlug, incident_id: IncidentId
) -> Template:
    return await _detail_page(request, tenant, incident_id)


@post(
    "/t/{tenant:str}/incidents/{incident_id:str}/review",
    opt={"api": REVIEW, "action": "incident.review"},
)
async def review_incident(
    request: AnyRequest, tenant: TenantSlug, incident_id: IncidentId
) -> Response[Any]:
    hub: Hub = request.app.state.hub
    form = await request.form()
    values = {
        "outcome": str(form.get("outcome") or ""),
        "comment": str(form.get("comment") or ""),
    }
    body: dict[str, Any] = {"comment": values["comment"]}
    if values["outcome"]:
        body["outcome"] = values["outcome"]
    the_tenant = await hub.tenants.get(tenant)
    try:
        await hub.incidents.review(the_tenant, incident_id, body, request_context(request))
    except ValidationFailed as exc:
        problems = {p.field: p.message for p in exc.problems}
        return await _detail_page(
            request, tenant, incident_id, status_code=422, problems=problems, form=values
        )
    except Conflict as exc:  # reviewed meanwhile: the page shows by whom
        return await _detail_page(
            request, tenant, incident_id, status_code=409, message=exc.detail, form=values
        )
    return Redirect(_detail_url(tenant, incident_id), status_code=303)


@get("/t/{tenant:str}/incidents/{incident_id:str}/receipt", opt={"api": DETAIL})
async def incident_receipt(
    request: AnyRequest, tenant: TenantSlug, incident_id: IncidentId
) -> Response[Any]:
    """The receipt of the incident's run (GET .../runs/{run_id}/receipt), as a download."""
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    item = await hub.incidents.get(the_tenant, incident_id)
    require(request, *RUN_RECEIPT, run_id=item.run_id)
    receipt = await hub.receipts.for_run(the_tenant, item.run_id)
    name = f"receipt-{tenant}-run-{item.run_id}.json"
    return Response(receipt, headers={"Content-Disposition": f'attachment; filename="{name}"'})


PAGE = Page(
    handlers=[incidents_page, incident_page, review_incident, incident_receipt],
    nav=NavEntry("incidents", "Incidents", "incidents/", LIST),
)
