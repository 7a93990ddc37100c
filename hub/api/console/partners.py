"""The partner portal's partners page (issue 18, item 6): /ui/t/{tenant}/partners — this
organisation's own document (what a partner registers it from: org_id, public key,
endpoint), the partner organisations with their status, and for those the API lets
manage partners: register one from its pasted organisation document, accept an
invitation, suspend and resume.

Each handler names its API call (POST /api/v1/tenants/{tenant}/partners[...]) and calls
the PartnerService behind it with the signed-in user's audit context; a 422 is shown by
the document field, a 409 (already a partner, nothing to accept) as a message.
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
from hub.api.console.nav import Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can
from hub.api.console.rendering import render
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.collaboration import Partner, PartnerStatus
from hub.domain.errors import Conflict, FieldProblem, ValidationFailed
from hub.domain.nesting import json_too_deep

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
Ref = Annotated[str, PathParameter(max_length=64)]
Done = Annotated[str | None, QueryParameter(max_length=16)]

API = "/api/v1/tenants/{tenant}/partners"
LIST = ("GET", API)
REGISTER = ("POST", API)
ACCEPT = ("POST", API + "/{partner_id}/accept")
SUSPEND = ("POST", API + "/{partner_id}/suspend")
RESUME = ("POST", API + "/{partner_id}/resume")
ORGANISATION = ("GET", "/api/v1/tenants/{tenant}/organisation")
COLLABORATIONS = ("GET", "/api/v1/tenants/{tenant}/collaborations")

MAX_DOCUMENT = 64 * 1024  # characters of a pasted organisation document
MAX_DEPTH = 8
DONE = {
    "register": "Registered: an invitation went to the organisation; it is active once they "
    "confirm.",
    "accept": "Accepted: the partnership is active on both sides once they hear of it.",
    "suspend": "Suspended: its messages are refused until you resume.",
    "resume": "Resumed.",
}
CHANGES = ("accept", "suspend", "resume")


@dataclass(frozen=True)
class PartnerRow:
    id: str
    org_id: str
    name: str
    domain: str
    endpoint_url: str
    status: str
    note: str  # what the status means for the reader
    updated_at: Any
    may: tuple[str, ...]  # of CHANGES, those the domain allows now

    @property
    def abnormal(self) -> bool:
        return self.status == PartnerStatus.SUSPENDED.value


def _note(partner: Partner) -> str:
    if partner.status is PartnerStatus.INVITED:
        return "invited you: check its organisation id with them before accepting"
    if partner.status is PartnerStatus.PENDING:
        return "waiting for them to confirm"
    if partner.status is PartnerStatus.SUSPENDED:
        return f"suspended by {'your organisation' if partner.suspended_by == 'us' else 'them'}"
    return ""


def _possible(partner: Partner) -> tuple[str, ...]:
    """What PartnerService would do now (it decides again; a 409 if it moved on)."""
    if partner.status is PartnerStatus.INVITED:
        return ("accept",)
    if partner.status is PartnerStatus.ACTIVE:
        return ("suspend",)
    if partner.status is PartnerStatus.SUSPENDED and partner.suspended_by == "us":
        return ("resume",)
    return ()


def partner_row(partner: Partner) -> PartnerRow:
    return PartnerRow(
        partner.id,
        partner.org_id,
        partner.name,
        partner.domain,
        partner.endpoint_url,
        partner.status.value,
        _note(partner),
        partner.updated_at,
        _possible(partner),
    )


@dataclass
class Registering:
    """The register form as typed, with its problems."""

    document: str = ""
    problems: list[str] = field(default_factory=list)


def partners_url(tenant: str, done: str | None = None) -> str:
    url = tenant_url(tenant, "partners")
    return f"{url}?{urlencode({'done': done})}" if done else url


def parse_document(text: str) -> dict[str, Any]:
    """A pasted organisation document (GET .../organisation of the partner) as an object;
    a 422 on the field otherwise. Its fields are the service's to check."""

    def bad(message: str) -> ValidationFailed:
        return ValidationFailed([FieldProblem("document", message)])

    if not text.strip():
        raise bad("paste the partner's organisation document (JSON)")
    if len(text) > MAX_DOCUMENT:
        raise bad(f"at most {MAX_DOCUMENT // 1024} KiB")
    if json_too_deep(text.encode("utf-8", "replace"), MAX_DEPTH):
        raise bad(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise bad(f"not valid JSON: {exc}"[:200]) from None
    if not isinstance(value, dict):
        raise bad("must be a JSON object, as GET …/organisation answers")
    return value


async def _page(
    request: AnyRequest,
    tenant: str,
    *,
    status_code: int = 200,
    done: str | None = None,
    message: str | None = None,
    registering: Registering | None = None,
) -> Template:
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    found = await hub.collaboration.partners.all(the_tenant)
    document = None
    if can(request, *ORGANISATION):
        document = await hub.collaboration.organisations.document(the_tenant)
    return await render(
        request,
        "partners_page.html",
        title="Partners",
        active="collaboration",
        status_code=status_code,
        document=document,
        document_text=json.dumps(document, indent=2) if document else "",
        document_url=tenant_url(tenant, "organisation.json"),
        partners=[partner_row(p) for p in sorted(found, key=lambda p: p.name.lower())],
        may_register=can(request, *REGISTER),
        may=lambda action, partner_id: can(
            request, "POST", f"{API}/{{partner_id}}/{action}", partner_id=partner_id
        ),
        change_url=lambda partner_id, action: (
            f"{partners_url(tenant)}/{quote(partner_id, safe='')}/{action}"
        ),
        register_url=partners_url(tenant),
        collaborations_url=tenant_url(tenant, "collaborations/"),
        may_read_collaborations=can(request, *COLLABORATIONS),
        done=DONE.get(done or ""),
        message=message,
        registering=registering or Registering(),
    )


@get("/t/{tenant:str}/partners", opt={"api": LIST})
async def partners_page(request: AnyRequest, tenant: TenantSlug, done: Done = None) -> Template:
    return await _page(request, tenant, done=done)


@get("/t/{tenant:str}/organisation.json", opt={"api": ORGANISATION})
async def organisation_document(request: AnyRequest, tenant: TenantSlug) -> Response[Any]:
    """This organisation's document, to hand to a partner (GET .../organisation)."""
    hub: Hub = request.app.state.hub
    document = await hub.collaboration.organisations.document(await hub.tenants.get(tenant))
    name = f"organisation-{tenant}.json"
    return Response(document, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@post(
    "/t/{tenant:str}/partners",
    opt={"api": REGISTER, "action": "partner.register"},
    media_type=MediaType.HTML,
)
async def register_partner(request: AnyRequest, tenant: TenantSlug) -> Response[Any]:
    hub: Hub = request.app.state.hub
    text = (await request.form()).get("document")
    typed = Registering(text if isinstance(text, str) else "")
    try:
        body = parse_document(typed.document)
        await hub.collaboration.partners.register(
            await hub.tenants.get(tenant), body, request_context(request)
        )
    except ValidationFailed as exc:
        await record_refusal(exc, request.scope)  # audited as the API's failed call is
        typed.problems = [
            p.message if p.field == "document" else f"{p.field}: {p.message}" for p in exc.problems
        ]
        return await _page(request, tenant, status_code=exc.status, registering=typed)
    except Conflict as exc:
        await record_refusal(exc, request.scope)
        return await _page(
            request, tenant, status_code=exc.status, message=exc.detail, registering=typed
        )
    return Redirect(partners_url(tenant, "register"), status_code=HTTP_303_SEE_OTHER)


async def _change(request: AnyRequest, tenant: str, partner_id: str, action: str) -> Response[Any]:
    hub: Hub = request.app.state.hub
    the_tenant = await hub.tenants.get(tenant)
    partners = hub.collaboration.partners
    change = {"accept": partners.accept, "suspend": partners.suspend, "resume": partners.resume}
    try:
        await change[action](the_tenant, partner_id, request_context(request))
    except Conflict as exc:  # it moved on meanwhile: say so on the page
        await record_refusal(exc, request.scope)
        return await _page(request, tenant, status_code=exc.status, message=exc.detail)
    return Redirect(partners_url(tenant, action), status_code=HTTP_303_SEE_OTHER)


@post(
    "/t/{tenant:str}/partners/{partner_id:str}/accept",
    opt={"api": ACCEPT, "action": "partner.accept"},
    media_type=MediaType.HTML,
)
async def accept_partner(request: AnyRequest, tenant: TenantSlug, partner_id: Ref) -> Response[Any]:
    return await _change(request, tenant, partner_id, "accept")


@post(
    "/t/{tenant:str}/partners/{partner_id:str}/suspend",
    opt={"api": SUSPEND, "action": "partner.suspend"},
    media_type=MediaType.HTML,
)
async def suspend_partner(
    request: AnyRequest, tenant: TenantSlug, partner_id: Ref
) -> Response[Any]:
    return await _change(request, tenant, partner_id, "suspend")


@post(
    "/t/{tenant:str}/partners/{partner_id:str}/resume",
    opt={"api": RESUME, "action": "partner.resume"},
    media_type=MediaType.HTML,
)
async def resume_partner(request: AnyRequest, tenant: TenantSlug, partner_id: Ref) -> Response[Any]:
    return await _change(request, tenant, partner_id, "resume")


PAGE = Page(
    handlers=[
        partners_page,
        organisation_document,
        register_partner,
        accept_partner,
        suspend_partner,
        resume_partner,
    ]
)
