"""What the audit log records, and the audit API: queries, CSV, proofs, heads, consistency."""

from __future__ import annotations

import csv
import io
from typing import Any

from audit import merkle
from audit.canonical import entry_leaf
from audit.signing import load_public_key_document, verify_tree_head
from hub.bootstrap import Hub
from hub.domain.audit import PLATFORM_LOG, AuditFilter
from hub.services.audit.log import AuditLogRef
from tests.conftest import PASSWORD, World

AUDIT = "/api/v1/tenants/acme/audit"


def _entries(world: World, **params: Any) -> list[dict[str, Any]]:
    response = world.client.get(
        AUDIT, params={"limit": 500, **params}, headers=world.as_("acme-auditor")
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _actions(world: World, **params: Any) -> list[tuple[str, str, str]]:
    return [(e["action"], e["outcome"], e["actor"]) for e in _entries(world, **params)]


def test_setup_is_recorded_with_gapless_seqs(world: World) -> None:
    entries = _entries(world)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0]["action"] == "tenant.create" and entries[0]["actor"] == "root"
    created = [e for e in entries if e["action"] == "user.create"]
    assert len(created) == 6  # one per role plus "extra"
    assert {e["details"]["username"] for e in created} >= {"acme-viewer", "acme-extra"}
    first = entries[0]
    assert set(first) == {
        "seq",
        "ts",
        "actor",
        "actor_type",
        "action",
        "resource_type",
        "resource_id",
        "outcome",
        "request_id",
        "ip",
        "details",
        "leaf_hash",
    }
    assert first["ts"].endswith("Z") and first["request_id"]


def test_logins_refresh_and_reuse_are_recorded(world: World) -> None:
    client = world.client
    client.post("/api/v1/auth/login", json={"username": "acme-operator", "password": "nope-nope"})
    tokens = client.post(
        "/api/v1/auth/login", json={"username": "acme-operator", "password": PASSWORD}
    ).json()
    client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    mine = _actions(world, actor="acme-operator")
    assert ("auth.login", "failure", "acme-operator") in mine
    assert ("auth.login", "success", "acme-operator") in mine
    assert ("auth.refresh", "success", "acme-operator") in mine
    assert ("auth.refresh_reuse", "denied", "acme-operator") in mine
    # Globex never sees acme's users' sign-ins.
    theirs = world.client.get(
        "/api/v1/tenants/globex/audit",
        params={"actor": "acme-operator"},
        headers=world.as_("globex-auditor"),
    ).json()["items"]
    assert theirs == []


def test_changes_failures_and_denials_are_recorded(world: World) -> None:
    client, admin = world.client, world.as_("acme-tenant_admin")
    extra = world.user_ids["acme-extra"]
    assert (
        client.patch(
            f"/api/v1/tenants/acme/users/{extra}", json={"role": "operator"}, headers=admin
        ).status_code
        == 200
    )
    duplicate = {"username": "acme-viewer", "password": PASSWORD, "role": "viewer"}
    assert (
        client.post("/api/v1/tenants/acme/users", json=duplicate, headers=admin).status_code == 409
    )
    assert (
        client.post(
            "/api/v1/tenants/acme/users", json=duplicate, headers=world.as_("acme-viewer")
        ).status_code
        == 403
    )
    # A probe of another tenant is recorded in the platform's log (test below), not here.
    assert (
        client.get("/api/v1/tenants/acme/users", headers=world.as_("globex-operator")).status_code
        == 404
    )

    update = _entries(world, action="member.update")[-1]
    assert update["details"]["role"] == {"from": "viewer", "to": "operator"}
    assert update["actor"] == "acme-tenant_admin" and update["resource_id"] == extra
    failed = _entries(world, outcome="failure")
    assert [(e["action"], e["details"]["status"]) for e in failed] == [("user.create", 409)]
    denied = _entries(world, outcome="denied")
    assert {(e["actor"], e["details"]["status"]) for e in denied} == {("acme-viewer", 403)}
    # Only the change that happened is recorded as a success: the 409 left none.
    assert len(_entries(world, action="user.create", outcome="success")) == 6


def test_filters_cursor_and_csv(world: World) -> None:
    everything = _entries(world)
    first_page = world.client.get(
        AUDIT, params={"limit": 3}, headers=world.as_("acme-auditor")
    ).json()
    second_page = world.client.get(
        AUDIT,
        params={"limit": 3, "cursor": first_page["next_cursor"]},
        headers=world.as_("acme-auditor"),
    ).json()
    assert [e["seq"] for e in first_page["items"] + second_page["items"]] == [1, 2, 3, 4, 5, 6]
    ts = everything[2]["ts"]
    since = _entries(world, **{"from": ts})
    assert since and all(e["ts"] >= ts for e in since)
    assert _entries(world, to=everything[0]["ts"]) == []
    assert _entries(world, resource_type="tenant", action="tenant.create")[0]["seq"] == 1

    response = world.client.get(AUDIT, headers={**world.as_("acme-auditor"), "Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in everything][: len(rows)]
    assert rows[0]["leaf_hash"] == everything[0]["leaf_hash"]


def test_entry_leaf_is_the_rfc8785_form_of_what_is_served(world: World) -> None:
    entry = world.client.get(f"{AUDIT}/3", headers=world.as_("acme-auditor")).json()
    assert entry_leaf(entry).hex() == entry["leaf_hash"]


def test_proof_verifies_against_the_signed_head(world: World) -> None:
    client, auditor = world.client, world.as_("acme-auditor")
    key = load_public_key_document(client.get("/api/v1/audit/public-key").json())
    head = client.get(f"{AUDIT}/head", headers=auditor).json()
    assert verify_tree_head(key, "acme", head)
    assert not verify_tree_head(key, "globex", head)
    for seq in range(1, head["tree_size"] + 1):
        entry = client.get(f"{AUDIT}/{seq}", headers=auditor).json()
        proof = client.get(f"{AUDIT}/{seq}/proof", headers=auditor).json()
        assert proof["root_hash"] == head["root_hash"]
        assert proof["leaf_hash"] == entry_leaf(entry).hex()
        assert merkle.verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(p) for p in proof["audit_path"]],
            bytes.fromhex(proof["root_hash"]),
        )
    older = client.get(f"{AUDIT}/2/proof", params={"tree_size": 4}, headers=auditor).json()
    assert older["tree_size"] == 4


def test_head_is_kept_and_consistency_proves_growth(world: World) -> None:
    client, auditor = world.client, world.as_("acme-auditor")
    first = client.get(f"{AUDIT}/head", headers=auditor).json()
    assert client.get(f"{AUDIT}/head", headers=auditor).json() == first  # unchanged log
    client.patch(
        f"/api/v1/tenants/acme/users/{world.user_ids['acme-extra']}",
        json={"role": "auditor"},
        headers=world.as_("acme-tenant_admin"),
    )
    second = client.get(f"{AUDIT}/head", headers=auditor).json()
    assert second["tree_size"] == first["tree_size"] + 1
    proof = client.get(
        f"{AUDIT}/consistency",
        headers=auditor,
        params={"first": first["tree_size"], "second": second["tree_size"]},
    ).json()
    assert proof["first_root"] == first["root_hash"]
    assert proof["second_root"] == second["root_hash"]
    assert merkle.verify_consistency(
        first["tree_size"],
        second["tree_size"],
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(first["root_hash"]),
        bytes.fromhex(second["root_hash"]),
    )


def test_bad_audit_requests(world: World) -> None:
    client, auditor = world.client, world.as_("acme-auditor")
    size = client.get(f"{AUDIT}/head", headers=auditor).json()["tree_size"]
    assert client.get(f"{AUDIT}/{size + 100}", headers=auditor).status_code == 404
    assert client.get(f"{AUDIT}/{size + 100}/proof", headers=auditor).status_code == 404
    beyond = client.get(f"{AUDIT}/1/proof", params={"tree_size": size + 1}, headers=auditor)
    assert beyond.status_code == 422
    too_small = client.get(f"{AUDIT}/5/proof", params={"tree_size": 4}, headers=auditor)
    assert too_small.status_code == 422
    for params in ({"first": 3, "second": 2}, {"first": 1, "second": size + 1}):
        assert client.get(f"{AUDIT}/consistency", params=params, headers=auditor).status_code == 422
    for params in (
        {"from": "yesterday"},
        {"from": "2026-01-01T00:00:00"},
        {"cursor": "abc"},
        {"limit": 0},
    ):
        response = client.get(AUDIT, params=params, headers=auditor)
        assert response.status_code in (400, 422), (params, response.text)
    assert client.get(f"{AUDIT}/0", headers=auditor).status_code in (400, 422)


def _platform_log(world: World, hub: Hub) -> list[dict[str, Any]]:
    ref = AuditLogRef(PLATFORM_LOG, PLATFORM_LOG)
    with world.client.portal() as portal:
        page = portal.call(hub.audit.search, ref, AuditFilter(action="authz.denied"), None, 500)
    return page.items


def test_probes_by_a_non_member_leave_the_tenant_log_unchanged(world: World, hub: Hub) -> None:
    client, prober = world.client, world.as_("globex-operator")
    before = _entries(world)
    probes = [
        ("GET", "/api/v1/tenants/acme/users"),
        ("GET", "/api/v1/tenants/acme/audit"),
        ("POST", "/api/v1/tenants/acme/users"),
        ("DELETE", f"/api/v1/tenants/acme/users/{world.user_ids['acme-extra']}"),
        ("GET", "/api/v1/tenants/no-such-tenant/users"),
    ]
    for method, path in probes:
        response = client.request(method, path, headers=prober, json={"username": "x"})
        assert response.status_code == 404, (method, path, response.text)

    assert _entries(world) == before  # not one entry, so no prober's name, in acme's log
    recorded = [e for e in _platform_log(world, hub) if e["actor"] == "globex-operator"]
    assert [(e["resource_id"], e["details"]["status"]) for e in recorded] == [
        (f"{method} {path}", 404) for method, path in probes
    ]
    assert [e["details"]["tenant"] for e in recorded] == ["acme"] * 4 + ["no-such-tenant"]

    # A member's denial (403) still belongs in the tenant's own log.
    refused = client.post("/api/v1/tenants/acme/users", headers=world.as_("acme-viewer"), json={})
    assert refused.status_code == 403
    mine = _entries(world, actor="acme-viewer", outcome="denied")
    assert [e["details"]["status"] for e in mine] == [403]
