"""The console's guard on an action, through a probe page that stands for any console
POST: it declares the API call it mirrors (acknowledging an alarm) and records that it
ran. Session, CSRF and the API's casbin policy must all pass before it runs; otherwise the
answer is what the API would say (403, or 404 outside one's tenants) and nothing happens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from litestar import Litestar, post
from litestar.params import PathParameter
from litestar.testing import TestClient

from hub.api.console.app import console_app, console_handlers
from hub.api.console.nav import Page
from hub.api.console.pages import PAGES
from hub.bootstrap import Hub, ensure_platform_admin
from hub.domain.audit import AuditFilter, RequestContext
from hub.domain.tenancy import Principal
from hub.services.audit.log import AuditLogRef
from hub.services.tenancy.tenants import NewMember
from tests.conftest import PASSWORD
from tests.e2e.console.harness import form_token, page_csrf

ACK = ("POST", "/api/v1/tenants/{tenant}/alarms/{alarm_id}/ack")
calls: list[tuple[str, str]] = []


Segment = Annotated[str, PathParameter(max_length=64)]


@post("/t/{tenant:str}/probe/{alarm_id:str}/ack", opt={"api": ACK, "action": "alarm.ack"})
async def probe(tenant: Segment, alarm_id: Segment) -> str:
    calls.append((tenant, alarm_id))
    return "acknowledged"


async def _people(hub: Hub) -> None:
    ctx = RequestContext("test")
    admin = Principal("test", True, frozenset())
    await ensure_platform_admin(hub, "root", PASSWORD)
    for slug in ("acme", "globex"):
        await hub.tenants.create(slug, slug.title(), ctx)
    for username, slug, role in (
        ("acme-operator", "acme", "operator"),
        ("acme-viewer", "acme", "viewer"),
        ("globex-operator", "globex", "operator"),
    ):
        await hub.tenants.add_member(slug, NewMember(username, role, PASSWORD), admin, ctx)


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient[Any]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await hub.start(migrate_schema=True, run_workers=False)
        await _people(hub)
        try:
            yield
        finally:
            await hub.close()

    app = Litestar(
        route_handlers=console_handlers(hub, pages=(*PAGES, Page(handlers=[probe]))),
        lifespan=[lifespan],
    )
    calls.clear()
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _sign_in(client: TestClient[Any], username: str) -> str:
    """Sign `client` in as `username`; the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/ui/login")
    signed = client.post(
        "/ui/login",
        data={"username": username, "password": PASSWORD, "csrf_token": form_token(form.text)},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return page_csrf(client.get("/ui/tenants").text)


def _ack(client: TestClient[Any], token: str | None, *, tenant: str = "acme", **kw: Any) -> Any:
    data = {"csrf_token": token} if token is not None else {}
    return client.post(f"/ui/t/{tenant}/probe/a1/ack", data=data, follow_redirects=False, **kw)


def test_an_operator_with_the_token_acts(client: TestClient[Any]) -> None:
    token = _sign_in(client, "acme-operator")
    response = _ack(client, token)
    assert response.status_code == 201 and response.text == "acknowledged"
    assert calls == [("acme", "a1")]
    # htmx sends the token in a header instead of a form field
    header = client.post("/ui/t/acme/probe/a2/ack", headers={"X-CSRF-Token": token})
    assert header.status_code == 201 and calls[-1] == ("acme", "a2")


@pytest.mark.parametrize("token", [None, "", "forged-token", "x" * 43])
def test_without_the_right_csrf_token_it_is_403_and_nothing_happens(
    client: TestClient[Any], token: str | None
) -> None:
    _sign_in(client, "acme-operator")
    response = _ack(client, token)
    assert response.status_code == 403
    assert "security token" in response.text
    assert calls == []


def test_a_token_of_another_session_does_not_pass(client: TestClient[Any]) -> None:
    first = _sign_in(client, "acme-operator")
    second = _sign_in(client, "acme-operator")  # the same user, a new session
    assert first != second
    assert _ack(client, first).status_code == 403
    assert _ack(client, second).status_code == 201


def test_a_viewers_forged_post_is_403_nothing_happens_and_it_is_audited(
    client: TestClient[Any], hub: Hub
) -> None:
    token = _sign_in(client, "acme-viewer")
    response = _ack(client, token)
    assert response.status_code == 403
    assert "does not permit POST /api/v1/tenants/acme/alarms/a1/ack" in response.text
    assert calls == []

    async def denials() -> list[dict[str, Any]]:
        acme = await hub.tenants.get("acme")
        ref = AuditLogRef(acme.id, acme.slug)
        page = await hub.audit.search(ref, AuditFilter(action="authz.denied"), None, 10)
        return page.items

    with client.portal() as portal:
        (entry,) = portal.call(denials)
    assert entry["actor"] == "acme-viewer"
    assert entry["details"]["attempted"] == "alarm.ack"


def test_a_tenant_the_user_has_no_role_in_is_404(client: TestClient[Any]) -> None:
    token = _sign_in(client, "acme-operator")
    assert _ack(client, token, tenant="globex").status_code == 404
    assert client.get("/ui/t/globex/").status_code == 404
    assert client.get("/ui/t/no-such-tenant/").status_code == 404
    assert calls == []


def test_signed_out_posts_go_to_sign_in(client: TestClient[Any]) -> None:
    plain = _ack(client, "whatever")
    assert plain.status_code == 303 and plain.headers["location"] == "/ui/login"
    htmx = _ack(client, "whatever", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/ui/login"
    assert calls == []


def test_a_handler_that_declares_no_permission_is_refused_at_start(hub: Hub) -> None:
    @post("/t/{tenant:str}/undeclared")
    async def undeclared(tenant: Segment) -> None:
        return None

    with pytest.raises(RuntimeError, match="declares neither"):
        console_app(hub, pages=(*PAGES, Page(handlers=[undeclared])))
