"""Publish an event in a tenant: POST /api/v1/tenants/{tenant}/events (issue 16).

ERP release notifications, device events from line controllers and other systems reach
the tenant's triggers and waiting runs this way (hub/services/events/publishing.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from hub.api.context import request_context
from hub.api.contracts import contract
from hub.api.deps import HubDep
from hub.api.devices import TenantSlug, _tenant
from hub.services.events.publishing import MAX_TOPIC

AnyRequest = Request[Any, Any, Any]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    topic: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_TOPIC,
            description="a concrete topic (no wildcards), up to 16 levels",
            examples=["production/line-1/events/complete", "erp/production_orders/released"],
        ),
    ]
    payload: Annotated[
        Any, msgspec.Meta(description="any JSON; it may not name another tenant_id")
    ] = None


class EventPublished(msgspec.Struct):
    topic: str
    tenant: str
    published: bool = True


class EventController(Controller):
    path = "/api/v1/tenants/{tenant:str}/events"
    tags = ["events"]

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        summary="Publish an event on the tenant's bus (triggers start runs, waits wake)",
        responses=contract(EventPublished, 202),
    )
    async def publish(
        self, tenant: TenantSlug, hub: HubDep, data: JSONBody[EventIn], request: AnyRequest
    ) -> EventPublished:
        found = await _tenant(hub, tenant)
        done = await hub.events.publish(found, data.topic, data.payload, request_context(request))
        return EventPublished(done.topic, done.tenant)
