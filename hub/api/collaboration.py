"""Collaboration (issue 18): a tenant's organisation, its partners and collaborations,
and the inbox other organisations' hubs send signed CloudEvents to.

    GET  /api/v1/tenants/{t}/organisation
    POST|GET /api/v1/tenants/{t}/partners, GET .../{id}, POST .../{id}/{accept|suspend|resume}
    POST|GET /api/v1/tenants/{t}/collaborations, GET .../{id}, POST .../{id}/start,
    POST .../{id}/tasks/{task}/result, POST .../{id}/terminate, GET .../{id}/data,
    GET .../{id}/receipt
    POST /federation/v1/organisations/{org_id}   (public: the signature is the credential)
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import PathParameter
from litestar.status_codes import HTTP_200_OK

from hub.api.bodies import json_object
from hub.api.context import request_context
from hub.api.contracts import contract, documented_body
from hub.api.deps import HubDep
from hub.api.schemas.collaboration import (
    CollaborationIn,
    CollaborationList,
    CollaborationOut,
    CollaborationReceipt,
    ExchangedData,
    ExchangedDataList,
    InboxAnswer,
    MessagesIn,
    MessagesOut,
    OrganisationOut,
    PartnerIn,
    PartnerList,
    PartnerOut,
    TaskResultIn,
    TerminateIn,
)
from hub.domain.errors import FieldProblem, ValidationFailed
from hub.domain.tenancy import Tenant

TenantSlug = Annotated[str, PathParameter(max_length=63)]
Ref = Annotated[str, PathParameter(max_length=64)]
AnyRequest = Request[Any, Any, Any]


async def _tenant(hub: Any, slug: str) -> Tenant:
    return await hub.tenants.get(slug)


class OrganisationController(Controller):
    path = "/api/v1/tenants/{tenant:str}/organisation"
    tags = ["collaboration"]

    @get(
        "/",
        summary="This tenant as an organisation: what a partner registers it from",
        responses=contract(OrganisationOut),
    )
    async def organisation(self, tenant: TenantSlug, hub: HubDep) -> OrganisationOut:
        doc = await hub.collaboration.organisations.document(await _tenant(hub, tenant))
        return OrganisationOut(**doc)


class PartnerController(Controller):
    path = "/api/v1/tenants/{tenant:str}/partners"
    tags = ["collaboration"]

    @post(
        "/",
        opt={"action": "partner.register"},
        summary="Register a partner organisation; a signed invitation goes to it",
        dependencies=documented_body(PartnerIn),
        responses=contract(PartnerOut, 201, errors=[409]),
    )
    async def register(self, tenant: TenantSlug, hub: HubDep, request: AnyRequest) -> PartnerOut:
        body = json_object(await request.body())
        partner = await hub.collaboration.partners.register(
            await _tenant(hub, tenant), body, request_context(request)
        )
        return PartnerOut.of(partner)

    @get("/", summary="The tenant's partner organisations", responses=contract(PartnerList))
    async def list_partners(self, tenant: TenantSlug, hub: HubDep) -> PartnerList:
        found = await hub.collaboration.partners.all(await _tenant(hub, tenant))
        return PartnerList([PartnerOut.of(p) for p in found])

    @get("/{partner_id:str}", summary="One partner", responses=contract(PartnerOut))
    async def get_partner(self, tenant: TenantSlug, partner_id: Ref, hub: HubDep) -> PartnerOut:
        found = await hub.collaboration.partners.get(await _tenant(hub, tenant), partner_id)
        return PartnerOut.of(found)

    async def _change(
        self, hub: Any, tenant: str, partner_id: str, request: AnyRequest, action: str
    ) -> PartnerOut:
        partners = hub.collaboration.partners
        change = {"accept": partners.accept, "suspend": partners.suspend,
                  "resume": partners.resume}[action]  # fmt: skip
        found = await change(await _tenant(hub, tenant), partner_id, request_context(request))
        return PartnerOut.of(found)

    @post(
        "/{partner_id:str}/accept",
        status_code=HTTP_200_OK,
        opt={"action": "partner.accept"},
        summary="Confirm an invitation (check its org_id with the partner first)",
        responses=contract(PartnerOut, errors=[409]),
    )
    async def accept(
        self, tenant: TenantSlug, partner_id: Ref, hub: HubDep, request: AnyRequest
    ) -> PartnerOut:
        return await self._change(hub, tenant, partner_id, request, "accept")

    @post(
        "/{partner_id:str}/suspend",
        status_code=HTTP_200_OK,
        opt={"action": "partner.suspend"},
        summary="Suspend a partner: its messages are refused until resumed",
        responses=contract(PartnerOut, errors=[409]),
    )
    async def suspend(
        self, tenant: TenantSlug, partner_id: Ref, hub: HubDep, request: AnyRequest
    ) -> PartnerOut:
        return await self._change(hub, tenant, partner_id, request, "suspend")

    @post(
        "/{partner_id:str}/resume",
        status_code=HTTP_200_OK,
        opt={"action": "partner.resume"},
        summary="Resume a partner your organisation suspended",
        responses=contract(PartnerOut, errors=[409]),
    )
    async def resume(
        self, tenant: TenantSlug, partner_id: Ref, hub: HubDep, request: AnyRequest
    ) -> PartnerOut:
        return await self._change(hub, tenant, partner_id, request, "resume")

    @post(
        "/{partner_id:str}/messages",
        opt={"action": "partner.message"},
        summary="Send direct messages (1-1000 JSON objects) to an active partner",
        dependencies=documented_body(MessagesIn),
        responses=contract(MessagesOut, 202, errors=[409]),
        status_code=202,
    )
    async def messages(
        self, tenant: TenantSlug, partner_id: Ref, hub: HubDep, request: AnyRequest
    ) -> MessagesOut:
        body = json_object(await request.body())
        ids = await hub.collaboration.partners.send_messages(
            await _tenant(hub, tenant), partner_id, body.get("messages"), request_context(request)
        )
        return MessagesOut(ids)


class CollaborationController(Controller):
    path = "/api/v1/tenants/{tenant:str}/collaborations"
    tags = ["collaboration"]

    @post(
        "/",
        opt={"action": "collaboration.create"},
        summary="Create a collaboration (your organisation is its initiator)",
        dependencies=documented_body(CollaborationIn),
        responses=contract(CollaborationOut, 201),
    )
    async def create(
        self, tenant: TenantSlug, hub: HubDep, request: AnyRequest
    ) -> CollaborationOut:
        body = json_object(await request.body())
        collab = await hub.collaboration.collaborations.create(
            await _tenant(hub, tenant), body, request_context(request)
        )
        return CollaborationOut.of(collab)

    @get(
        "/",
        summary="Collaborations your organisation takes part in",
        responses=contract(CollaborationList),
    )
    async def list_collaborations(self, tenant: TenantSlug, hub: HubDep) -> CollaborationList:
        found = await hub.collaboration.collaborations.all(await _tenant(hub, tenant))
        return CollaborationList([CollaborationOut.of(c) for c in found])

    @get(
        "/{collab_id:str}",
        summary="One collaboration (participants only; others are answered 404)",
        responses=contract(CollaborationOut),
    )
    async def get_collaboration(
        self, tenant: TenantSlug, collab_id: Ref, hub: HubDep
    ) -> CollaborationOut:
        found = await hub.collaboration.collaborations.get(await _tenant(hub, tenant), collab_id)
        return CollaborationOut.of(found)

    @post(
        "/{collab_id:str}/start",
        status_code=HTTP_200_OK,
        opt={"action": "collaboration.start"},
        summary="Start a ready collaboration (the initiator only)",
        responses=contract(CollaborationOut, errors=[409]),
    )
    async def start(
        self, tenant: TenantSlug, collab_id: Ref, hub: HubDep, request: AnyRequest
    ) -> CollaborationOut:
        collab = await hub.collaboration.collaborations.start(
            await _tenant(hub, tenant), collab_id, request_context(request)
        )
        return CollaborationOut.of(collab)

    @post(
        "/{collab_id:str}/tasks/{task_id:str}/result",
        status_code=HTTP_200_OK,
        opt={"action": "collaboration.task.submit"},
        summary="Submit a task's result (its assigned organisation only)",
        dependencies=documented_body(TaskResultIn),
        responses=contract(CollaborationOut),
    )
    async def submit(
        self, tenant: TenantSlug, collab_id: Ref, task_id: Ref, hub: HubDep, request: AnyRequest
    ) -> CollaborationOut:
        body = json_object(await request.body())
        unknown = set(body) - {"result"}
        if unknown:
            raise ValidationFailed([FieldProblem(k, "unknown field") for k in sorted(unknown)])
        collab = await hub.collaboration.collaborations.submit(
            await _tenant(hub, tenant),
            collab_id,
            task_id,
            body.get("result", {}),
            request_context(request),
        )
        return CollaborationOut.of(collab)

    @post(
        "/{collab_id:str}/terminate",
        status_code=HTTP_200_OK,
        opt={"action": "collaboration.terminate"},
        summary="Terminate (a participant that may, with a reason)",
        dependencies=documented_body(TerminateIn),
        responses=contract(CollaborationOut),
    )
    async def terminate(
        self, tenant: TenantSlug, collab_id: Ref, hub: HubDep, request: AnyRequest
    ) -> CollaborationOut:
        body = json_object(await request.body())
        collab = await hub.collaboration.collaborations.terminate(
            await _tenant(hub, tenant), collab_id, body.get("reason"), request_context(request)
        )
        return CollaborationOut.of(collab)

    @get(
        "/{collab_id:str}/data",
        summary="Data partners exchanged with your organisation here, decrypted",
        responses=contract(ExchangedDataList),
    )
    async def data(self, tenant: TenantSlug, collab_id: Ref, hub: HubDep) -> ExchangedDataList:
        rows = await hub.collaboration.collaborations.received_data(
            await _tenant(hub, tenant), collab_id
        )
        return ExchangedDataList(
            [
                ExchangedData(
                    r["task_id"],
                    r["source_org"],
                    r["event_id"],
                    r["received_at"].isoformat(),
                    r["encrypted"],
                    r["data"],
                )
                for r in rows
            ]
        )

    @get(
        "/{collab_id:str}/receipt",
        summary="Every participant's audit entries of the collaboration with their proofs, "
        "signed heads and anchors: verify offline with `hub audit verify-receipt`",
        responses=contract(CollaborationReceipt, errors=[409]),
    )
    async def receipt(
        self, tenant: TenantSlug, collab_id: Ref, hub: HubDep
    ) -> CollaborationReceipt:
        bundle = await hub.collaboration.receipts.bundle(await _tenant(hub, tenant), collab_id)
        return msgspec.convert(bundle, CollaborationReceipt)


@post(
    "/federation/v1/organisations/{org_id:str}",
    opt={"public": True},
    status_code=202,
    tags=["federation"],
    summary="An organisation's inbox: a CloudEvent signed by a partner (RFC 9421)",
    responses={
        **contract(InboxAnswer, 200),
        **contract(InboxAnswer, 202, errors=[401, 403, 404, 409, 415]),
    },
)
async def inbox(org_id: Ref, hub: HubDep, request: AnyRequest) -> Response[Any]:
    body = await request.body()
    messenger = hub.collaboration.messenger
    url = hub.collaboration.organisations.endpoint_url(org_id)  # as the sender signed it
    headers = {k: v for k, v in request.headers.items()}
    answer = await messenger.receive(org_id, "POST", url, headers, body)
    media = "application/json" if answer.status < 300 else "application/problem+json"
    return Response(answer.body, status_code=answer.status, media_type=media)
