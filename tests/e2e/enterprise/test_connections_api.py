"""ERP connections through the API (issue 15, item 1): CRUD per tenant, secrets
write-only (never answered, audited or stored in clear), every bad field named, the
egress policy checked when a target is set, and the roles and tenants kept apart."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from hub.bootstrap import Hub
from hub.domain.errors import Conflict
from tests.conftest import World

URL = "/api/v1/tenants/acme/connections"
PASSWORD = "pw-never-shown-7731"
CLIENT_SECRET = "cs-never-shown-4410"
BASIC = {"type": "basic", "username": "alice", "password": PASSWORD}
OAUTH = {
    "type": "oauth2_client_credentials",
    "token_url": "http://127.0.0.1:9/oauth/token",
    "client_id": "hub",
    "client_secret": CLIENT_SECRET,
}
ERP = "http://127.0.0.1:4004/odata/v4/production"  # loopback: the tests' HUB_EGRESS_ALLOW


def _body(**over: Any) -> dict[str, Any]:
    return {"name": "s4", "kind": "odata", "url": ERP, "auth": BASIC, **over}


def _post(world: World, body: dict[str, Any], who: str = "acme-engineer") -> Any:
    return world.client.post(URL, json=body, headers=world.as_(who))


def _patch(world: World, name: str, body: dict[str, Any], who: str = "acme-engineer") -> Any:
    return world.client.patch(f"{URL}/{name}", json=body, headers=world.as_(who))


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["errors"]]


def _audit(world: World, action: str) -> list[dict[str, Any]]:
    response = world.client.get(
        f"/api/v1/tenants/acme/audit?action={action}", headers=world.as_("acme-auditor")
    )
    assert response.status_code == 200, response.text
    return sorted(response.json()["items"], key=lambda e: e["seq"])


def _successes(world: World, action: str) -> list[dict[str, Any]]:
    return [e for e in _audit(world, action) if e["outcome"] == "success"]


def _rows(world: World, hub: Hub) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        assert hub.engine is not None
        async with hub.engine.connect() as conn:
            found = await conn.execute(text("SELECT * FROM enterprise_connections"))
            return [dict(row._mapping) for row in found]

    with world.client.portal() as portal:
        return portal.call(read)


def test_crud_with_write_only_secrets(world: World, hub: Hub) -> None:
    created = _post(world, _body(headers={"sap-client": "100"}, profile="s4hana"))
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["url"] == ERP + "/"  # the service root ends in "/"
    assert view["auth"] == {"type": "basic", "username": "alice", "password_set": True}
    assert (view["version"], view["timeout_s"], view["kind"]) == ("v4", 30.0, "odata")
    assert view["headers"] == {"sap-client": "100"} and view["profile"] == "s4hana"
    assert PASSWORD not in created.text

    one = world.client.get(f"{URL}/s4", headers=world.as_("acme-viewer"))
    assert one.status_code == 200 and one.json()["auth"]["password_set"] is True
    assert PASSWORD not in one.text
    listed = world.client.get(URL, headers=world.as_("acme-operator"))
    assert [c["name"] for c in listed.json()["items"]] == ["s4"]
    assert PASSWORD not in listed.text

    # A PATCH without the secret keeps it; the revision moves.
    changed = _patch(world, "s4", {"timeout_s": 12.5, "version": "v2"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["timeout_s"], changed.json()["version"]) == (12.5, "v2")
    assert changed.json()["revision"] == 2 and changed.json()["auth"]["password_set"] is True
    with world.client.portal() as portal:
        loaded = portal.call(hub.connections.load, _tenant_id(world, hub), "s4")
    assert loaded.secrets.password == PASSWORD and loaded.auth.username == "alice"
    assert loaded.version == "v2" and loaded.timeout_s == 12.5

    removed = world.client.delete(f"{URL}/s4", headers=world.as_("acme-tenant_admin"))
    assert removed.status_code == 200 and removed.json() == {"name": "s4", "deleted": True}
    assert world.client.get(f"{URL}/s4", headers=world.as_("acme-viewer")).status_code == 404
    assert world.client.delete(f"{URL}/s4", headers=world.as_("acme-engineer")).status_code == 404


def _tenant_id(world: World, hub: Hub) -> str:
    with world.client.portal() as portal:
        return str(portal.call(hub.tenants.get, "acme").id)


def test_secrets_are_sealed_at_rest_and_bound_to_their_row(world: World, hub: Hub) -> None:
    assert _post(world, _body()).status_code == 201
    assert _post(world, _body(name="oauth", auth=OAUTH)).status_code == 201
    rows = _rows(world, hub)
    assert len(rows) == 2
    dump = json.dumps(rows, default=str)
    assert PASSWORD not in dump and CLIENT_SECRET not in dump
    secrets = {row["name"]: json.loads(row["secrets"]) for row in rows}
    assert set(secrets["s4"]) == {"password"} and set(secrets["oauth"]) == {"client_secret"}
    assert secrets["s4"]["password"]["$sealed"].startswith("v1.")

    # The sealed password copied into another connection's row does not open there.
    copied = json.dumps({"client_secret": secrets["s4"]["password"]})

    async def copy() -> None:
        assert hub.engine is not None
        async with hub.engine.begin() as conn:
            await conn.execute(
                text("UPDATE enterprise_connections SET secrets = :s WHERE name = 'oauth'"),
                {"s": copied},
            )

    tenant_id = _tenant_id(world, hub)
    with world.client.portal() as portal:
        portal.call(copy)
        with pytest.raises(Conflict):
            portal.call(hub.connections.load, tenant_id, "oauth")
        assert portal.call(hub.connections.load, tenant_id, "s4").secrets.password == PASSWORD


def test_every_change_is_audited_without_secrets(world: World) -> None:
    assert _post(world, _body()).status_code == 201
    assert _patch(world, "s4", {"auth": {**BASIC, "password": "pw-second-9921"}}).status_code == 200
    assert _patch(world, "s4", {"auth": OAUTH}).status_code == 200
    refused = _post(world, _body(name="bad", url="https://u:pw-in-url-5512@erp.example.com/"))
    assert _fields(refused) == ["url"]
    assert world.client.delete(f"{URL}/s4", headers=world.as_("acme-engineer")).status_code == 200

    [create] = _successes(world, "connection.create")
    assert create["actor"] == "acme-engineer"
    assert create["details"] == {
        "name": "s4",
        "kind": "odata",
        "url": ERP + "/",
        "version": "v4",
        "auth_type": "basic",
    }
    updates = _successes(world, "connection.update")
    assert [u["details"]["auth_type"] for u in updates] == ["basic", "oauth2_client_credentials"]
    assert updates[0]["details"]["changed"] == ["auth"]
    [delete] = _successes(world, "connection.delete")
    assert delete["details"]["name"] == "s4"
    everything = world.client.get("/api/v1/tenants/acme/audit", headers=world.as_("acme-auditor"))
    for secret in (PASSWORD, "pw-second-9921", CLIENT_SECRET, "pw-in-url-5512"):
        assert secret not in everything.text
    failed = [e for e in everything.json()["items"] if e["outcome"] == "failure"]
    assert [e["details"]["attempted"] for e in failed] == ["connection.create"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"url": "http://alice:secret@127.0.0.1:4004/odata/"}, "url"),
        ({"url": "ftp://127.0.0.1/odata/"}, "url"),
        ({"url": "http://127.0.0.1:4004/odata/?$format=json"}, "url"),
        ({"version": "v3"}, "version"),
        ({"kind": "soap"}, "kind"),
        ({"name": "no spaces"}, "name"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"headers": {"Authorization": "Basic eA=="}}, "headers.Authorization"),
        ({"headers": {"x-csrf-token": "fetch"}}, "headers.x-csrf-token"),
        ({"auth": {"type": "basic", "username": "alice"}}, "auth.password"),
        ({"auth": {**OAUTH, "token_url": "https://u:p@127.0.0.1/token"}}, "auth.token_url"),
        ({"profile": "Not A Profile"}, "profile"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_fields_are_422_naming_them(world: World, over: dict[str, Any], field: str) -> None:
    response = _post(world, _body(**over))
    assert _fields(response) == [field]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert world.client.get(URL, headers=world.as_("acme-engineer")).json()["items"] == []


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"url": "http://169.254.169.254/latest/"}, "url"),  # cloud metadata: always refused
        ({"url": "http://10.1.2.3:8000/odata/"}, "url"),  # private, not in HUB_EGRESS_ALLOW
        ({"url": "http://no-such-erp.invalid/odata/"}, "url"),  # does not resolve
        ({"auth": {**OAUTH, "token_url": "http://169.254.169.254/token"}}, "auth.token_url"),
    ],
)
def test_targets_the_egress_policy_refuses_are_422(
    world: World, over: dict[str, Any], field: str
) -> None:
    response = _post(world, _body(**over))
    assert _fields(response) == [field]
    message = response.json()["errors"][0]["message"]
    assert "egress" in message or "does not resolve" in message


def test_a_patch_is_checked_against_egress_and_keeps_the_connection(world: World) -> None:
    assert _post(world, _body()).status_code == 201
    refused = _patch(world, "s4", {"url": "http://169.254.169.254/"})
    assert _fields(refused) == ["url"] and "egress" in refused.json()["errors"][0]["message"]
    kept = world.client.get(f"{URL}/s4", headers=world.as_("acme-engineer")).json()
    assert kept["url"] == ERP + "/" and kept["revision"] == 1


def test_a_patch_changing_the_auth_type_must_bring_its_secret(world: World, hub: Hub) -> None:
    assert _post(world, _body()).status_code == 201
    no_secret = {k: v for k, v in OAUTH.items() if k != "client_secret"}
    assert _fields(_patch(world, "s4", {"auth": no_secret})) == ["auth.client_secret"]
    assert _fields(_patch(world, "s4", {"name": "renamed"})) == ["name"]
    switched = _patch(world, "s4", {"auth": OAUTH})
    assert switched.status_code == 200, switched.text
    assert switched.json()["auth"] == {
        "type": "oauth2_client_credentials",
        "token_url": OAUTH["token_url"],
        "client_id": "hub",
        "client_secret_set": True,
    }
    with world.client.portal() as portal:
        loaded = portal.call(hub.connections.load, _tenant_id(world, hub), "s4")
    assert loaded.secrets.client_secret == CLIENT_SECRET and loaded.secrets.password is None
    none = _patch(world, "s4", {"auth": {"type": "none"}})
    assert none.json()["auth"] == {"type": "none"}


def test_changes_and_removals_are_announced(world: World, hub: Hub) -> None:
    heard: list[tuple[str, str]] = []
    hub.connection_changes.listen(lambda tenant, name: heard.append((tenant, name)))
    assert _post(world, _body()).status_code == 201
    assert heard == []  # nothing was cached of a new connection
    assert _patch(world, "s4", {"timeout_s": 5}).status_code == 200
    assert world.client.delete(f"{URL}/s4", headers=world.as_("acme-engineer")).status_code == 200
    tenant_id = _tenant_id(world, hub)
    assert heard == [(tenant_id, "s4"), (tenant_id, "s4")]


def test_duplicate_names_are_409(world: World) -> None:
    assert _post(world, _body()).status_code == 201
    again = _post(world, _body(auth={"type": "none"}))
    assert again.status_code == 409, again.text
    # Names are per tenant: globex may use the same one.
    globex = world.client.post(
        "/api/v1/tenants/globex/connections",
        json=_body(),
        headers=world.as_("globex-engineer"),
    )
    assert globex.status_code == 201, globex.text


def test_lists_page_by_name(world: World) -> None:
    for name in ("c", "a", "b"):
        assert _post(world, _body(name=name, auth={"type": "none"})).status_code == 201
    first = world.client.get(f"{URL}?limit=2", headers=world.as_("acme-auditor")).json()
    assert [c["name"] for c in first["items"]] == ["a", "b"] and first["next_cursor"]
    rest = world.client.get(
        f"{URL}?limit=2&cursor={first['next_cursor']}", headers=world.as_("acme-auditor")
    ).json()
    assert [c["name"] for c in rest["items"]] == ["c"] and rest["next_cursor"] is None


def test_roles_and_tenants(world: World) -> None:
    assert _post(world, _body()).status_code == 201
    for who in ("acme-viewer", "acme-operator", "acme-auditor"):
        assert _post(world, _body(name="x"), who=who).status_code == 403, who
        assert _patch(world, "s4", {"timeout_s": 5}, who=who).status_code == 403, who
        deleted = world.client.delete(f"{URL}/s4", headers=world.as_(who))
        assert deleted.status_code == 403, who
        assert world.client.get(f"{URL}/s4", headers=world.as_(who)).status_code == 200, who
    assert _post(world, _body(name="by-admin"), who="acme-tenant_admin").status_code == 201
    # Another tenant's users get 404 for acme's connections, whatever their role.
    for who in ("globex-tenant_admin", "globex-engineer"):
        assert world.client.get(f"{URL}/s4", headers=world.as_(who)).status_code == 404
        assert world.client.get(URL, headers=world.as_(who)).status_code == 404
        assert _patch(world, "s4", {"timeout_s": 5}, who=who).status_code == 404
        assert _post(world, _body(name="theirs"), who=who).status_code == 404
    globex = world.client.get(
        "/api/v1/tenants/globex/connections/s4", headers=world.as_("globex-engineer")
    )
    assert globex.status_code == 404  # not acme's connection under another tenant's name
    names = [
        c["name"] for c in world.client.get(URL, headers=world.as_("acme-viewer")).json()["items"]
    ]
    assert names == ["by-admin", "s4"]
