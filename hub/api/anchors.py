"""Anchors and receipts: .../audit/anchors, .../audit/{seq}/receipt, .../runs/{id}/receipt,
and the embedded chain's read-only JSON-RPC (/api/v1/chain/rpc) for checking receipts."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from hub.api.audit import Seq, TenantSlug
from hub.api.context import request_context
from hub.api.contracts import contract
from hub.api.deps import HubDep
from hub.api.schemas.audit import AnchorList, AnchorOut, ReceiptOut, RpcRequest, RpcResponse
from hub.domain.anchors import Anchor, AnchorStatus, ChainRef, LedgerUnavailable
from hub.domain.errors import FieldProblem, NotFound, ValidationFailed
from hub.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Text = Annotated[str | None, QueryParameter(max_length=128)]
RunId = Annotated[str, PathParameter(max_length=64)]
RPC_METHODS = ("eth_chainId", "eth_blockNumber", "eth_getTransactionReceipt")


def _out(anchor: Anchor, chain: ChainRef | None) -> dict[str, Any]:
    # False marks history: an anchor on a chain or contract the hub no longer anchors on.
    known = chain.holds(anchor) if chain is not None and anchor.chain_id is not None else None
    return {**anchor.as_dict(), "on_configured_chain": known}


def _before(cursor: str | None) -> int | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise ValidationFailed([FieldProblem("cursor", "not a cursor this API handed out")])
    return int(raw)


class AnchorController(Controller):
    path = "/api/v1/tenants/{tenant:str}/audit/anchors"
    tags = ["audit"]

    @get(
        "/",
        summary="Anchors of the tenant's signed tree heads on the chain, newest first",
        responses=contract(AnchorList),
    )
    async def list_anchors(
        self,
        tenant: TenantSlug,
        hub: HubDep,
        status: Text = None,
        cursor: Text = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        if status is not None and status not in AnchorStatus.__members__.values():
            allowed = ", ".join(s.value for s in AnchorStatus)
            raise ValidationFailed([FieldProblem("status", f"one of {allowed}")])
        the_tenant = await hub.tenants.get(tenant)
        items, last = await hub.anchors.page(the_tenant, status, _before(cursor), limit)
        next_cursor = encode_cursor(str(last)) if last is not None else None
        # Only sent anchors need the chain (asking it may load the embedded one).
        sent = any(a.chain_id is not None for a in items)
        chain = await hub.anchors.configured_chain() if sent else None
        return {"items": [_out(a, chain) for a in items], "next_cursor": next_cursor}

    @post(
        "/",
        opt={"action": "audit.anchor.create"},
        summary="Anchor the current signed head now (201), or return the latest anchor "
        "when the log did not grow since (200)",
        responses={**contract(AnchorOut, 201, errors=[409]), **contract(AnchorOut, 200)},
    )
    async def anchor_now(
        self, tenant: TenantSlug, hub: HubDep, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        the_tenant = await hub.tenants.get(tenant)
        anchor, created = await hub.anchors.anchor_now(the_tenant, request_context(request))
        chain = await hub.anchors.configured_chain()
        return Response(
            _out(anchor, chain), status_code=HTTP_201_CREATED if created else HTTP_200_OK
        )


@get(
    "/api/v1/tenants/{tenant:str}/audit/{seq:int}/receipt",
    tags=["audit"],
    summary="Entry, proof, signed head and chain anchor of the first anchored tree holding it",
    responses=contract(ReceiptOut, errors=[409]),
)
async def entry_receipt(tenant: TenantSlug, seq: Seq, hub: HubDep) -> dict[str, Any]:
    return await hub.receipts.for_entry(await hub.tenants.get(tenant), seq)


@get(
    "/api/v1/tenants/{tenant:str}/runs/{run_id:str}/receipt",
    tags=["runs"],
    summary="The receipt of the audit entry that recorded how the run ended",
    responses=contract(ReceiptOut, errors=[409]),
)
async def run_receipt(tenant: TenantSlug, run_id: RunId, hub: HubDep) -> dict[str, Any]:
    return await hub.receipts.for_run(await hub.tenants.get(tenant), run_id)


@post(
    "/api/v1/chain/rpc",
    opt={"public": True},
    status_code=HTTP_200_OK,
    tags=["audit"],
    summary="Read-only JSON-RPC of the embedded chain (eth_chainId, eth_blockNumber, "
    "eth_getTransactionReceipt), so receipts can be checked while it runs",
    responses=contract(RpcResponse, errors=[404]),
)
async def chain_rpc(hub: HubDep, data: JSONBody[RpcRequest]) -> dict[str, Any]:
    if hub.anchors.ledger.kind != "embedded":
        raise NotFound("the hub anchors on an external chain: ask its JSON-RPC node")
    method, params, rpc_id = data.method, data.params or [], data.id
    if method not in RPC_METHODS or not isinstance(params, list):
        error = {"code": -32601, "message": f"only {', '.join(RPC_METHODS)} are served"}
        return {"jsonrpc": "2.0", "id": rpc_id, "error": error}
    try:
        result = await hub.anchors.ledger.rpc(method, params)
    except LedgerUnavailable as exc:
        return {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": -32000, "message": str(exc)}}
    return {"jsonrpc": "2.0", "id": rpc_id, "result": result}
