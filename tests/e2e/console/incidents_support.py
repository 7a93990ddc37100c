"""Incidents for the console's tests: a finished run of a small workflow, and an incident
recorded for it through the service the safety pack's activity calls (as
tests/e2e/packs/test_incidents_api.py does), so its timeline holds the run's history."""

from __future__ import annotations

from typing import Any

from hub.domain.audit import SYSTEM
from tests.e2e.console.harness import ConsoleWorld
from tests.support.waiting import eventually

XSS = "<img src=x onerror=alert(1)>"
WORKFLOW = (
    "name: shutdown\nversion: 1.0.0\nstart: trip\nsteps:\n"
    "  trip: {type: activity, activity: noop, next: done}\n  done: {type: end}\n"
)


def finished_run(world: ConsoleWorld, slug: str) -> str:
    """The id of a completed run of `shutdown` in tenant `slug`."""
    base = f"/api/v1/tenants/{slug}"
    with world.api(f"{slug}-engineer") as engineer:
        published = engineer.post(
            f"{base}/workflows", content=WORKFLOW, headers={"content-type": "application/yaml"}
        )
        assert published.status_code in (201, 409), published.text
        started = engineer.post(f"{base}/runs", json={"workflow": "shutdown", "input": {}})
        assert started.status_code == 201, started.text
        run_id: str = started.json()["id"]

        def done() -> bool:
            return engineer.get(f"{base}/runs/{run_id}").json()["status"] == "completed"

        eventually(done, timeout=30)
    return run_id


def open_incident(
    world: ConsoleWorld, slug: str, run_id: str, summary: str, severity: str = "high"
) -> str:
    """Record an incident of `run_id` (as the safety pack's record_incident does); its id."""

    async def record() -> Any:
        hub = world.hub
        tenant = await hub.tenants.get(slug)
        fields = {
            "area": "boiler-house",
            "severity": severity,
            "summary": summary,
            "details": {"event": {}, "note": XSS},
        }
        return await hub.incidents.record(tenant.id, run_id, "safety-monitoring", fields, SYSTEM)

    incident = world.server.call(record)
    return str(incident.id)
