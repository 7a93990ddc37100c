"""Audit: /ui/t/{tenant}/audit — the tenant's audit log queried by actor, action,
resource, outcome and time range, each entry checked in the browser.

The page lists entries from the service behind GET /api/v1/tenants/{tenant}/audit. Its
script (static/audit.js) checks an entry itself: it fetches the entry, the signed tree
head, the inclusion proof in that head's tree and the log's public key through the JSON
routes below (the same JSON as the API's routes, from the same services, with the
session cookie instead of a bearer token), recomputes the leaf hash and the root with
WebCrypto's SHA-256 and verifies the head's Ed25519 signature. The receipt route answers
the API's receipt (entry, proof, head, chain anchor, key), which `hub audit
verify-receipt` checks.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import PathParameter
from litestar.response import Template

from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import PREFIX, tenant_url
from hub.api.console.rendering import render
from hub.bootstrap import Hub
from hub.domain.audit import AuditFilter
from hub.domain.errors import HubError
from hub.services.audit.log import AuditLogRef

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
MAX_SEQ = 2**53 - 1  # as the API (RFC 8785 numbers are exact up to here)
Seq = Annotated[int, PathParameter(ge=1, le=MAX_SEQ)]

LIST = ("GET", "/api/v1/tenants/{tenant}/audit")
ENTRY = ("GET", "/api/v1/tenants/{tenant}/audit/{seq}")
PROOF = ("GET", "/api/v1/tenants/{tenant}/audit/{seq}/proof")
HEAD = ("GET", "/api/v1/tenants/{tenant}/audit/head")
RECEIPT = ("GET", "/api/v1/tenants/{tenant}/audit/{seq}/receipt")

PAGE_SIZE = 50
MAX_TEXT = 128  # as the API's query parameters
OUTCOMES = ("success", "failure", "denied", "unknown")
TEXT_FIELDS = ("actor", "action", "resource_type", "resource_id")
TIME_FIELDS = ("from", "to")
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


@dataclass(frozen=True)
class AuditQuery:
    """The query form as typed (kept as text so nothing is lost when it is refused)."""

    actor: str = ""
    action: str = ""
    resource_type: str = ""
    resource_id: str = ""
    outcome: str = ""
    from_: str = ""
    to: str = ""
    cursor: str = ""

    def value(self, name: str) -> str:
        return str(getattr(self, "from_" if name == "from" else name))

    def params(self, cursor: str | None = None) -> dict[str, str]:
        """The non-empty fields as query parameters (`cursor` replaces the query's own)."""
        out = {
            ("from" if f.name == "from_" else f.name): str(getattr(self, f.name))
            for f in fields(self)
            if f.name != "cursor" and getattr(self, f.name)
        }
        if cursor:
            out["cursor"] = cursor
        return out

    @property
    def filtered(self) -> bool:
        return bool(self.params())


@dataclass
class ParsedQuery:
    query: AuditQuery
    where: AuditFilter | None = None  # None when there are problems
    after: int | None = None
    problems: dict[str, str] = field(default_factory=dict)


def parse_time(text: str) -> datetime:
    """A moment from the form: `YYYY-MM-DDTHH:MM[:SS]` (a datetime-local field, read as
    UTC) or RFC 3339 with its timezone; ValueError otherwise."""
    text = text.strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_query(params: Mapping[str, str]) -> ParsedQuery:
    """The filter the form asks for, or the problems of each field (as the API's 422s)."""
    raw = {k: str(params.get(k, "") or "") for k in (*TEXT_FIELDS, "outcome", *TIME_FIELDS)}
    query = AuditQuery(
        actor=raw["actor"].strip(),
        action=raw["action"].strip(),
        resource_type=raw["resource_type"].strip(),
        resource_id=raw["resource_id"].strip(),
        outcome=raw["outcome"].strip(),
        from_=raw["from"].strip(),
        to=raw["to"].strip(),
        cursor=str(params.get("cursor", "") or "").strip(),
    )
    problems: dict[str, str] = {}
    for name in (*TEXT_FIELDS, "outcome", *TIME_FIELDS):
        if len(query.value(name)) > MAX_TEXT:
            problems[name] = f"at most {MAX_TEXT} characters"
    if "outcome" not in problems and query.outcome and query.outcome not in OUTCOMES:
        problems["outcome"] = f"one of {', '.join(OUTCOMES)}"
    moments: dict[str, datetime | None] = {}
    for name in TIME_FIELDS:
        text = query.value(name)
        moments[name] = None
        if text and name not in problems:
            try:
                moments[name] = parse_time(text)
            except ValueError:
                problems[name] = "a date and time, e.g. 2026-01-31T14:05 (UTC)"
    since, until = moments["from"], moments["to"]
    if since is not None and until is not None and until < since:
        problems["to"] = "must not be before From"
    after: int | None = None
    if query.cursor:
        if not query.cursor.isdigit() or len(query.cursor) > 19:
            problems["cursor"] = "not a page this console handed out"
        else:
            after = int(query.cursor)
    if problems:
        return ParsedQuery(query, problems=problems)
    where = AuditFilter(
        query.actor or None,
        query.action or None,
        query.resource_type or None,
        query.resource_id or None,
        query.outcome or None,
        since,
        until,
    )
    return ParsedQuery(query, where, after)


def details_text(details: Any) -> str:
    """An entry's details as JSON text (the template escapes it; never markup)."""
    return json.dumps(details, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class EntryRow:
    seq: int
    ts: str
    actor: str
    actor_type: str
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    details: str
    leaf_hash: str

    @property
    def abnormal(self) -> bool:
        return self.outcome != "success"


def entry_row(entry: Mapping[str, Any]) -> EntryRow:
    return EntryRow(
        seq=int(entry["seq"]),
        ts=str(entry.get("ts", "")),
        actor=str(entry.get("actor", "")),
        actor_type=str(entry.get("actor_type", "")),
        action=str(entry.get("action", "")),
        resource_type=str(entry.get("resource_type") or ""),
        resource_id=str(entry.get("resource_id") or ""),
        outcome=str(entry.get("outcome", "")),
        details=details_text(entry.get("details", {})),
        leaf_hash=str(entry.get("leaf_hash", "")),
    )


async def _ref(hub: Hub, slug: str) -> AuditLogRef:
    tenant = await hub.tenants.get(slug)
    return AuditLogRef(tenant.id, tenant.slug)


def _audit_url(tenant: str, query: AuditQuery | None = None, cursor: str | None = None) -> str:
    params = query.params(cursor) if query is not None else {}
    return tenant_url(tenant, "audit/") + (f"?{urlencode(params)}" if params else "")


@get("/t/{tenant:str}/audit", opt={"api": LIST})
async def audit_page(request: AnyRequest, tenant: TenantSlug) -> Template:
    hub: Hub = request.app.state.hub
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    parsed = parse_query(params)
    rows: list[EntryRow] = []
    next_url: str | None = None
    if parsed.where is not None:
        page = await hub.audit.search(
            await _ref(hub, tenant), parsed.where, parsed.after, PAGE_SIZE
        )
        rows = [entry_row(e) for e in page.items]
        if page.next_cursor:
            next_url = _audit_url(tenant, parsed.query, page.next_cursor)
    first_url = _audit_url(tenant, parsed.query) if parsed.query.cursor else None
    return await render(
        request,
        "audit/page.html",
        title="Audit",
        active="audit",
        status_code=422 if parsed.problems else 200,
        query=parsed.query,
        problems=parsed.problems,
        outcomes=OUTCOMES,
        rows=rows,
        next_url=next_url,
        first_url=first_url,
        clear_url=_audit_url(tenant),
        head_url=tenant_url(tenant, "audit/head"),
        key_url=f"{PREFIX}/audit/public-key",
        entry_base=tenant_url(tenant, "audit/"),
    )


async def _json(
    make: Callable[[], Awaitable[Any]], headers: Mapping[str, str] | None = None
) -> Response[Any]:
    """The service's answer as JSON (with `headers`), or its error as problem JSON (for the
    page's script, which shows the detail; the console's HTML error pages are for people)."""
    try:
        return Response(await make(), headers=dict(headers or {}))
    except HubError as exc:
        problem = {"status": exc.status, "title": exc.title, "detail": exc.detail}
        return Response(problem, status_code=exc.status, media_type="application/problem+json")


@get("/t/{tenant:str}/audit/head", opt={"api": HEAD})
async def audit_head(request: AnyRequest, tenant: TenantSlug) -> Response[Any]:
    hub: Hub = request.app.state.hub

    async def head() -> dict[str, Any]:
        return (await hub.audit.head(await _ref(hub, tenant))).as_dict()

    return await _json(head)


@get("/t/{tenant:str}/audit/{seq:int}/entry", opt={"api": ENTRY})
async def audit_entry(request: AnyRequest, tenant: TenantSlug, seq: Seq) -> Response[Any]:
    hub: Hub = request.app.state.hub

    async def entry() -> dict[str, Any]:
        return await hub.audit.entry(await _ref(hub, tenant), seq)

    return await _json(entry)


@get("/t/{tenant:str}/audit/{seq:int}/proof", opt={"api": PROOF})
async def audit_proof(request: AnyRequest, tenant: TenantSlug, seq: Seq) -> Response[Any]:
    hub: Hub = request.app.state.hub
    raw = request.query_params.get("tree_size")
    size: int | None = None
    if isinstance(raw, str) and raw:
        if not raw.isdigit() or len(raw) > 16 or not 1 <= int(raw) <= MAX_SEQ:
            problem = {
                "status": 422,
                "title": "Validation failed",
                "detail": "tree_size: a whole number from 1",
            }
            return Response(problem, status_code=422, media_type="application/problem+json")
        size = int(raw)

    async def proof() -> dict[str, Any]:
        return await hub.audit.proof(await _ref(hub, tenant), seq, size)

    return await _json(proof)


@get("/t/{tenant:str}/audit/{seq:int}/receipt", opt={"api": RECEIPT})
async def audit_receipt(request: AnyRequest, tenant: TenantSlug, seq: Seq) -> Response[Any]:
    hub: Hub = request.app.state.hub

    async def receipt() -> dict[str, Any]:
        return await hub.receipts.for_entry(await hub.tenants.get(tenant), seq)

    name = f"receipt-{tenant}-{seq}.json"
    return await _json(receipt, {"Content-Disposition": f'attachment; filename="{name}"'})


@get(
    "/audit/public-key",
    opt={"public": True},  # as GET /api/v1/audit/public-key: the key is public
)
async def audit_public_key(request: AnyRequest) -> dict[str, Any]:
    hub: Hub = request.app.state.hub
    key: dict[str, Any] = hub.audit.public_key()
    return key


PAGE = Page(
    handlers=[audit_page, audit_head, audit_entry, audit_proof, audit_receipt, audit_public_key],
    nav=NavEntry("audit", "Audit", "audit/", LIST),
)
