"""Through the API and workflows to the sample ERP (a real SAP CAP service), issue 15:
a connection's health, $metadata and queries (all server pages, V2 and V4 alike), names
checked before any request goes out, ERP failures as problems with the ERP's own status
and Retry-After, and erp.* steps in a workflow, which branches on a stale ETag."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import World
from tests.support.erp import READINGS, SampleErp
from tests.support.workflow_helpers import history, publish, start, wait_for

URL = "/api/v1/tenants/acme/connections"
ENGINEER = "acme-engineer"


def _connect(world: World, erp: SampleErp, name: str, version: str = "v4", **extra: Any) -> None:
    body = {
        "name": name,
        "kind": "odata",
        "url": erp.v4_url if version == "v4" else erp.v2_url,
        "version": version,
        "auth": {"type": "basic", "username": erp.user, "password": erp.password},
        **extra,
    }
    created = world.client.post(URL, json=body, headers=world.as_(ENGINEER))
    assert created.status_code == 201, created.text


def _query(world: World, name: str, body: dict[str, Any], who: str = ENGINEER) -> Any:
    return world.client.post(f"{URL}/{name}/query", json=body, headers=world.as_(who))


@pytest.fixture
def erp(sample_erp: SampleErp) -> SampleErp:
    sample_erp.reset()
    return sample_erp


def test_health_metadata_and_a_query_over_every_page(world: World, erp: SampleErp) -> None:
    _connect(world, erp, "cap")
    health = world.client.get(f"{URL}/cap/health", headers=world.as_("acme-viewer"))
    assert health.status_code == 200, health.text
    assert health.json()["ok"] is True and health.json()["circuit"] == "closed"
    assert health.json()["latency_ms"] >= 0

    meta = world.client.get(f"{URL}/cap/metadata", headers=world.as_("acme-auditor"))
    assert meta.status_code == 200, meta.text
    sets = {s["name"]: s for s in meta.json()["entity_sets"]}
    assert sets["MaterialStock"]["keys"] == ["Material", "Plant"]
    assert sets["ProductionOrders"]["etag"] is True
    assert {"name": "Quantity", "type": "Edm.Decimal"} in sets["MaterialStock"]["properties"]
    assert {"release", "postGoodsMovement", "checkAvailability"} <= {
        o["name"] for o in meta.json()["operations"]
    }

    everything = _query(world, "cap", {"entity_set": "Readings", "select": ["ID", "Value"]})
    assert everything.status_code == 200, everything.text
    items = everything.json()["items"]
    assert everything.json()["count"] == READINGS == len(items)  # 12 server pages
    assert len({item["ID"] for item in items}) == READINGS

    one_page = _query(world, "cap", {"entity_set": "Readings", "top": 5, "skip": 10})
    assert len(one_page.json()["items"]) == 5


def test_v2_and_v4_answer_the_same_items(world: World, erp: SampleErp) -> None:
    _connect(world, erp, "v4")
    _connect(world, erp, "v2", version="v2")
    body = {"entity_set": "ProductionOrders", "filter": "ID eq '1000001'"}
    v4, v2 = (_query(world, name, body).json()["items"] for name in ("v4", "v2"))
    assert len(v4) == len(v2) == 1
    assert "__metadata" not in v2[0] and v2[0]["@etag"] and v4[0]["@etag"]
    same = {k for k in v4[0] if not k.startswith("@")}
    assert {k: v2[0][k] for k in same} == {k: v4[0][k] for k in same}


def test_names_are_checked_before_a_request_goes_out(world: World, erp: SampleErp) -> None:
    _connect(world, erp, "cap")
    assert _query(world, "cap", {"entity_set": "Readings", "top": 1}).status_code == 200
    before = erp.stats()["requests"]
    unknown_set = _query(world, "cap", {"entity_set": "Nope"})
    assert unknown_set.status_code == 404 and "Nope" in unknown_set.json()["detail"]
    unknown_field = _query(world, "cap", {"entity_set": "Readings", "select": ["Colour"]})
    assert unknown_field.status_code == 422
    assert (
        "Colour" in unknown_field.text and unknown_field.json()["errors"][0]["field"] == "select[0]"
    )
    assert erp.stats()["requests"] == before  # the cached $metadata answered both

    missing = world.client.get(f"{URL}/ghost/health", headers=world.as_(ENGINEER))
    assert missing.status_code == 404
    other_tenant = world.client.post(
        f"{URL.replace('acme', 'globex')}/cap/query",
        json={"entity_set": "Readings"},
        headers=world.as_("globex-engineer"),
    )
    assert other_tenant.status_code == 404  # acme's connection is not globex's
    viewer = _query(world, "cap", {"entity_set": "Readings", "top": 1}, who="acme-viewer")
    assert viewer.status_code == 403

    # Bounded before anything reaches the ERP: a huge filter, too many names, a negative
    # or huge top, unknown fields, a body nested past the API's depth.
    for bad in (
        {"entity_set": "Readings", "filter": "ID eq 1 or " * 400},
        {"entity_set": "Readings", "select": ["ID"] * 101},
        {"entity_set": "Readings", "top": -1},
        {"entity_set": "Readings", "top": 10**9},
        {"entity_set": "Readings", "tenant": "globex"},
        {"entity_set": "x" * 200},
    ):
        refused = _query(world, "cap", bad)
        assert refused.status_code in (400, 422), (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    nested: dict[str, object] = {"entity_set": "Readings"}
    for _ in range(100):
        nested = {"filter": nested}
    deep = world.client.post(
        f"{URL}/cap/query", content=json.dumps(nested), headers=world.as_(ENGINEER)
    )
    assert deep.status_code == 400, deep.text
    assert erp.stats()["requests"] == before


def test_an_erp_failure_is_a_problem_with_its_status_and_retry_after(
    world: World, erp: SampleErp
) -> None:
    _connect(world, erp, "cap")
    assert _query(world, "cap", {"entity_set": "Customers"}).status_code == 200  # metadata
    erp.fail(status=503, count=1, retry_after=7)
    down = _query(world, "cap", {"entity_set": "Customers"})
    assert down.status_code == 503, down.text
    assert down.headers["content-type"].startswith("application/problem+json")
    assert down.headers["retry-after"] == "7"
    problem = down.json()
    assert (problem["error_type"], problem["retryable"], problem["erp_status"]) == (
        "Unavailable",
        True,
        503,
    )
    assert _query(world, "cap", {"entity_set": "Customers"}).status_code == 200  # back


STALE_ETAG = """
name: erp-stale
version: 1.0.0
start: read
steps:
  read:
    type: activity
    activity: erp.get
    input: {connection: cap, entity_set: ProductionOrders, key: "${input.order}"}
    next: bump
  bump:
    type: activity
    activity: erp.update
    input: {connection: cap, entity_set: ProductionOrders, key: "${input.order}",
            data: {Quantity: 20}, etag: "${steps.read.output.etag}"}
    next: stale
  stale:
    type: activity
    activity: erp.update
    input: {connection: cap, entity_set: ProductionOrders, key: "${input.order}",
            data: {Quantity: 30}, etag: "${steps.read.output.etag}"}
    retry: {max_attempts: 5, initial_interval: 10ms}
    on_error: {goto: reread}
    next: done
  reread:
    type: activity
    activity: erp.get
    input: {connection: cap, entity_set: ProductionOrders, key: "${input.order}"}
    next: again
  again:
    type: activity
    activity: erp.update
    input: {connection: cap, entity_set: ProductionOrders, key: "${input.order}",
            data: {Quantity: 30}, etag: "${steps.reread.output.etag}"}
    next: done
  done:
    type: end
    output: {error: "${steps.stale.error}"}
"""


def test_a_workflow_branches_on_a_stale_etag(world: World, erp: SampleErp) -> None:
    _connect(world, erp, "cap")
    order = f"W{uuid.uuid4().hex[:8]}"
    with erp.client() as direct:
        token = direct.get("", headers={"x-csrf-token": "Fetch"}).headers.get("x-csrf-token")
        made = direct.post(
            "ProductionOrders",
            json={"ID": order, "Material": "M1", "Plant": "1000", "Quantity": 10},
            headers={"x-csrf-token": token} if token else {},
        )
        assert made.status_code == 201, made.text

    eng = world.as_(ENGINEER)
    assert publish(world.client, eng, STALE_ETAG).status_code == 201
    run = wait_for(world.client, eng, start(world.client, eng, "erp-stale", {"order": order})["id"])
    assert run["status"] == "completed", run
    assert run["output"]["error"].startswith("PreconditionFailed")
    failed = [e for e in history(world.client, eng, run["id"]) if e["step"] == "stale"]
    # Not retried: a stale ETag stays stale, whatever the retry policy says.
    assert sum(e["type"] == "ActivityFailed" for e in failed) == 1
    with erp.client() as direct:
        assert direct.get(f"ProductionOrders('{order}')").json()["Quantity"] == 30

    # Every write the run made or tried is in the tenant's audit log, reads are not.
    entries = world.client.get(
        "/api/v1/tenants/acme/audit",
        params={"action": "erp.update", "limit": 100},
        headers=world.as_("acme-auditor"),
    ).json()["items"]
    mine = sorted(
        (e for e in entries if e["details"].get("run") == run["id"]), key=lambda e: e["seq"]
    )
    assert [(e["details"]["step"], e["outcome"]) for e in mine] == [
        ("bump", "success"),
        ("stale", "failure"),
        ("again", "success"),
    ]
    assert mine[1]["details"]["error_type"] == "PreconditionFailed"
    assert mine[0]["resource_id"] == "cap" and mine[0]["details"]["key"] == order
    reads = world.client.get(
        "/api/v1/tenants/acme/audit",
        params={"action": "erp.get"},
        headers=world.as_("acme-auditor"),
    ).json()["items"]
    assert reads == []


def test_profile_operations_and_literal_inputs_checked_at_publish(
    world: World, erp: SampleErp
) -> None:
    _connect(world, erp, "cap", profile="sample_erp")
    eng = world.as_(ENGINEER)
    bad = publish(
        world.client,
        eng,
        """
name: erp-bad
version: 1.0.0
start: q
steps:
  q: {type: activity, activity: erp.query, input: {entity_set: Readings, top: ten}, next: e}
  e: {type: end}
""",
    )
    assert bad.status_code == 422, bad.text
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"steps.q.input.connection", "steps.q.input.top"} <= fields

    stock = """
name: erp-stock
version: 1.0.0
start: q
steps:
  q:
    type: activity
    activity: erp.operation
    input: {connection: cap, operation: check_inventory,
            params: {material_id: "${input.material}", plant: "1000"}}
    next: e
  e: {type: end, output: "${steps.q.output}"}
"""
    assert publish(world.client, eng, stock).status_code == 201
    run = wait_for(
        world.client, eng, start(world.client, eng, "erp-stock", {"material": "M1"})["id"]
    )
    assert run["status"] == "completed", run
    assert run["output"]["available_quantity"] == 1200
    assert (run["output"]["material_id"], run["output"]["plant"]) == ("M1", "1000")
