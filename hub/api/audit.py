"""Audit queries, proofs and signed tree heads: /api/v1/tenants/{tenant}/audit/..."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import PathParameter, QueryParameter

from hub.api.contracts import contract
from hub.api.deps import HubDep
from hub.api.schemas.audit import (
    AuditEntryList,
    AuditEntryOut,
    ConsistencyProof,
    InclusionProof,
    PublicKeyOut,
    SignedHead,
)
from hub.domain.audit import ENTRY_FIELDS, AuditFilter
from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from hub.services.audit.log import AuditLogRef

MAX_SEQ = 2**53 - 1  # RFC 8785 numbers are exact up to here
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Text = Annotated[str | None, QueryParameter(max_length=128)]
Seq = Annotated[int, PathParameter(ge=1, le=MAX_SEQ)]
Size = Annotated[int | None, QueryParameter(ge=1, le=MAX_SEQ)]
TreeSize = Annotated[int, QueryParameter(ge=1, le=MAX_SEQ)]
Moment = Annotated[datetime | None, QueryParameter(description="RFC 3339, with a timezone")]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
CSV_FIELDS = (*ENTRY_FIELDS, "leaf_hash")


async def _ref(hub: Any, slug: str) -> AuditLogRef:
    tenant = await hub.tenants.get(slug)
    return AuditLogRef(tenant.id, tenant.slug)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise ValidationFailed([FieldProblem("cursor", "not a cursor this API handed out")])
    return int(cursor)


def _csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for item in items:
        writer.writerow({**item, "details": json.dumps(item["details"], sort_keys=True)})
    return out.getvalue()


class AuditController(Controller):
    path = "/api/v1/tenants/{tenant:str}/audit"
    tags = ["audit"]

    @get(
        "/",
        summary="Audit entries, oldest first; CSV with Accept: text/csv",
        responses=contract(AuditEntryList, errors=[409]),
    )
    async def list_entries(
        self,
        tenant: TenantSlug,
        hub: HubDep,
        request: Request[Any, Any, Any],
        actor: Text = None,
        action: Text = None,
        resource_type: Text = None,
        resource_id: Text = None,
        outcome: Text = None,
        from_: Annotated[datetime | None, QueryParameter(name="from")] = None,
        to: Moment = None,
        cursor: Text = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[Any]:
        where = AuditFilter(actor, action, resource_type, resource_id, outcome, from_, to)
        for name, moment in (("from", from_), ("to", to)):
            if moment is not None and moment.tzinfo is None:
                raise ValidationFailed([FieldProblem(name, "needs a timezone, e.g. Z")])
        page = await hub.audit.search(await _ref(hub, tenant), where, _cursor(cursor), limit)
        if "text/csv" in request.headers.get("accept", ""):
            headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
            return Response(_csv(page.items), media_type="text/csv", headers=headers)
        return Response({"items": page.items, "next_cursor": page.next_cursor})

    @get(
        "/head",
        summary="The current signed tree head (signed now if the log grew)",
        responses=contract(SignedHead),
    )
    async def head(self, tenant: TenantSlug, hub: HubDep) -> dict[str, Any]:
        return (await hub.audit.head(await _ref(hub, tenant))).as_dict()

    @get(
        "/consistency",
        summary="Consistency proof between two tree sizes",
        responses=contract(ConsistencyProof),
    )
    async def consistency(
        self, tenant: TenantSlug, hub: HubDep, first: TreeSize, second: TreeSize
    ) -> dict[str, Any]:
        return await hub.audit.consistency(await _ref(hub, tenant), first, second)

    @get(
        "/{seq:int}",
        summary="One entry, with its leaf hash",
        responses=contract(AuditEntryOut, errors=[409]),
    )
    async def entry(self, tenant: TenantSlug, seq: Seq, hub: HubDep) -> dict[str, Any]:
        return await hub.audit.entry(await _ref(hub, tenant), seq)

    @get(
        "/{seq:int}/proof",
        summary="Inclusion proof of an entry in a tree (default: head)",
        responses=contract(InclusionProof, errors=[409]),
    )
    async def proof(
        self, tenant: TenantSlug, seq: Seq, hub: HubDep, tree_size: Size = None
    ) -> dict[str, Any]:
        return await hub.audit.proof(await _ref(hub, tenant), seq, tree_size)


@get(
    "/api/v1/audit/public-key",
    opt={"public": True},
    tags=["audit"],
    summary="The Ed25519 key that signs tree heads",
    responses=contract(PublicKeyOut),
)
async def public_key(hub: HubDep) -> dict[str, Any]:
    return hub.audit.public_key()
