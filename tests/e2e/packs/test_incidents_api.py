"""Incidents through the API without a PLC: filters, 404s, review rules."""

from __future__ import annotations

from typing import Any

from hub.bootstrap import Hub
from hub.domain.audit import SYSTEM
from tests.conftest import World

BASE = "/api/v1/tenants/acme/incidents"


def _open(hub: Hub, world: World, run_id: str) -> Any:
    async def record() -> Any:
        tenant = await hub.tenants.get("acme")
        fields = {"area": "a1", "severity": "high", "summary": "test", "details": {"event": {}}}
        return await hub.incidents.record(tenant.id, run_id, "safety-monitoring", fields, SYSTEM)

    with world.client.portal() as portal:
        return portal.call(record)


def test_list_detail_review(world: World, hub: Hub) -> None:
    first = _open(hub, world, "1" * 32)
    again = _open(hub, world, "1" * 32)  # a retried activity gets the same incident
    assert again.id == first.id
    _open(hub, world, "2" * 32)
    eng, op = world.as_("acme-engineer"), world.as_("acme-operator")
    listed = world.client.get(f"{BASE}?limit=1", headers=op).json()
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    rest = world.client.get(f"{BASE}?limit=1&cursor={listed['next_cursor']}", headers=op).json()
    assert rest["items"][0]["id"] == first.id
    detail = world.client.get(f"{BASE}/{first.id}", headers=op).json()
    assert detail["receipt"] == f"/api/v1/tenants/acme/runs/{'1' * 32}/receipt"
    assert detail["timeline"] == {"run": [], "alarm_journal": [], "telemetry": None}

    bad = world.client.post(f"{BASE}/{first.id}/review", json={"outcome": "meh", "x": 1},
                            headers=eng)  # fmt: skip
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"outcome", "x"}
    done = world.client.post(f"{BASE}/{first.id}/review", json={"outcome": "false_alarm"},
                             headers=eng)  # fmt: skip
    assert done.status_code == 200 and done.json()["review"]["by"] == "acme-engineer"
    twice = world.client.post(f"{BASE}/{first.id}/review", json={"outcome": "confirmed"},
                              headers=eng)  # fmt: skip
    assert twice.status_code == 409
    reviewed = world.client.get(f"{BASE}?status=reviewed", headers=op).json()["items"]
    assert [i["id"] for i in reviewed] == [first.id]
    assert world.client.get(f"{BASE}?status=nope", headers=op).status_code == 422
    other = world.client.get(f"/api/v1/tenants/globex/incidents/{first.id}",
                             headers=world.as_("globex-operator"))  # fmt: skip
    assert other.status_code == 404
