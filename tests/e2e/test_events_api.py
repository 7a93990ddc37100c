"""Events from outside systems (issue 16): POST .../events puts an event on the caller's
tenant's bus, where triggers start runs; topics are concrete; a payload naming another
tenant is refused and audited; every publish is audited."""

from __future__ import annotations

from tests.conftest import World
from tests.support.waiting import eventually
from tests.support.workflow_helpers import publish

LISTENER = """
name: release-listener
version: 1.0.0
triggers:
  - event: "erp/production_orders/{status}"
start: done
steps:
  done: {type: end, output: {order: "${input.order}"}}
"""
URL = "/api/v1/tenants/acme/events"


def test_a_published_event_starts_the_tenants_runs(world: World) -> None:
    eng = world.as_("acme-engineer")
    assert publish(world.client, eng, LISTENER).status_code == 201
    globex = world.as_("globex-engineer")
    assert publish(world.client, globex, LISTENER, tenant="globex").status_code == 201
    sent = world.client.post(
        URL,
        json={"topic": "erp/production_orders/released", "payload": {"order": "1000101"}},
        headers=world.as_("acme-operator"),
    )
    assert sent.status_code == 202, sent.text
    assert sent.json() == {
        "topic": "erp/production_orders/released",
        "tenant": "acme",
        "published": True,
    }

    def finished() -> list[dict[str, object]]:
        runs = world.client.get(
            "/api/v1/tenants/acme/runs", params={"workflow": "release-listener"}, headers=eng
        ).json()["items"]
        return [r for r in runs if r["status"] == "completed"]

    runs = eventually(finished)
    assert [r["output"] for r in runs] == [{"order": "1000101"}]
    # globex's identical listener saw nothing: the event was acme's.
    theirs = world.client.get(
        "/api/v1/tenants/globex/runs", params={"workflow": "release-listener"}, headers=globex
    ).json()["items"]
    assert theirs == []
    audit = world.client.get(
        "/api/v1/tenants/acme/audit",
        params={"action": "event.publish"},
        headers=world.as_("acme-auditor"),
    ).json()["items"]
    assert [(e["resource_id"], e["outcome"]) for e in audit] == [
        ("erp/production_orders/released", "success")
    ]


def test_bad_events_are_refused_and_named(world: World) -> None:
    op = world.as_("acme-operator")
    for topic in ("production/+/events", "a/#", "a//b", "a/{x}", "x" * 300):
        refused = world.client.post(URL, json={"topic": topic}, headers=op)
        assert refused.status_code in (400, 422), (topic, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    other = world.client.post(
        URL, json={"topic": "a/b", "payload": {"tenant_id": "someone-else"}}, headers=op
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "payload.tenant_id"
    denied = world.client.get(
        "/api/v1/tenants/acme/audit",
        params={"action": "event.publish", "outcome": "denied"},
        headers=world.as_("acme-auditor"),
    ).json()["items"]
    assert len(denied) == 1 and denied[0]["details"]["named_tenant"] == "someone-else"
    viewer = world.client.post(URL, json={"topic": "a/b"}, headers=world.as_("acme-viewer"))
    assert viewer.status_code == 403


KEYED = """
name: one-run-per-order
version: 1.0.0
triggers:
  - event: "erp/production_orders/released"
    key: "${trigger.payload.order}"
start: done
steps:
  done: {type: end, output: {order: "${input.order}"}}
"""


def test_a_trigger_key_starts_one_run_per_key(world: World) -> None:
    eng, op = world.as_("acme-engineer"), world.as_("acme-operator")
    assert publish(world.client, eng, KEYED).status_code == 201
    for order in ("A1", "A1", "B2", "A1"):  # a release seen by the poller and pushed too
        event = {"topic": "erp/production_orders/released", "payload": {"order": order}}
        assert world.client.post(URL, json=event, headers=op).status_code == 202
    # A keyless event (no order) starts nothing rather than an unguarded run.
    assert world.client.post(URL, json={"topic": "erp/production_orders/released"}, headers=op)

    def two_finished() -> list[dict[str, object]]:
        runs = world.client.get(
            "/api/v1/tenants/acme/runs", params={"workflow": "one-run-per-order"}, headers=eng
        ).json()["items"]
        done = [r for r in runs if r["status"] == "completed"]
        return done if len(done) >= 2 else []

    runs = eventually(two_finished)
    assert sorted(r["output"]["order"] for r in runs) == ["A1", "B2"]
    published = world.client.get(
        "/api/v1/tenants/acme/audit",
        params={"action": "event.publish", "limit": 100},
        headers=world.as_("acme-auditor"),
    ).json()["items"]
    assert len(published) == 5  # every event arrived; the key held the runs to two
    again = world.client.get(
        "/api/v1/tenants/acme/runs", params={"workflow": "one-run-per-order"}, headers=eng
    ).json()["items"]
    assert len(again) == 2


def test_a_key_on_a_cron_trigger_is_refused(world: World) -> None:
    bad = publish(
        world.client,
        world.as_("acme-engineer"),
        """
name: keyed-cron
version: 1.0.0
triggers:
  - {cron: "* * * * *", key: "x"}
start: done
steps:
  done: {type: end}
""",
    )
    assert bad.status_code == 422 and "triggers[0].key" in bad.text
