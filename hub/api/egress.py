"""A tenant's egress rules: GET/PUT /api/v1/tenants/{tenant}/egress (issue 12, item 3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import JSONBody

from hub.api.context import request_context
from hub.api.deps import HubDep
from hub.api.devices import TenantSlug, _tenant
from hub.domain.egress import MAX_ENTRIES
from hub.services.egress.rules import EgressView

Entry = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=300,
        examples=["10.1.2.3:502", "10.20.0.0/16", "erp.acme.local:443", "[fd00::5]:8080"],
    ),
]
Entries = Annotated[list[Entry], msgspec.Meta(max_length=MAX_ENTRIES)]
AnyRequest = Request[Any, Any, Any]


class EgressIn(msgspec.Struct, forbid_unknown_fields=True):
    """`inherit`: the platform's list (HUB_EGRESS_ALLOW) and public addresses, less
    `deny`. `only_listed`: only destinations that `allow` lists (each within the
    platform's list), less `deny`."""

    mode: Literal["inherit", "only_listed"] = "inherit"
    allow: Entries = msgspec.field(default_factory=list)
    deny: Entries = msgspec.field(default_factory=list)


class EgressOut(msgspec.Struct):
    mode: str
    allow: list[str]
    deny: list[str]
    platform_allow: list[str]  # HUB_EGRESS_ALLOW: what the tenant's allow entries fit in
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, view: EgressView) -> EgressOut:
        return cls(
            view.mode,
            list(view.allow),
            list(view.deny),
            list(view.platform_allow),
            view.updated_at,
            view.updated_by,
        )


class EgressController(Controller):
    path = "/api/v1/tenants/{tenant:str}/egress"
    tags = ["egress"]

    @get("/", summary="The tenant's egress rules and the platform's allow list")
    async def get_rules(self, tenant: TenantSlug, hub: HubDep) -> EgressOut:
        return EgressOut.of(await hub.egress.get(await _tenant(hub, tenant)))

    @put(
        "/",
        opt={"action": "egress.update"},
        summary="Replace the tenant's egress rules (allow entries within the platform's list)",
    )
    async def put_rules(
        self, tenant: TenantSlug, data: JSONBody[EgressIn], hub: HubDep, request: AnyRequest
    ) -> EgressOut:
        the_tenant = await _tenant(hub, tenant)
        view = await hub.egress.update(
            the_tenant, data.mode, data.allow, data.deny, request_context(request)
        )
        return EgressOut.of(view)
