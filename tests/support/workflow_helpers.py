"""Helpers for workflow tests: publish YAML, start runs, wait for a status."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar.testing import TestClient

FINISHED = ("completed", "failed", "cancelled")


@dataclass
class FixedClock:
    """A clock standing at `at` (the hub's Clock port), for what is due at a given time."""

    at: datetime

    def now(self) -> datetime:
        return self.at


def publish(
    client: TestClient[Any], headers: dict[str, str], text: str, tenant: str = "acme"
) -> Any:
    return client.post(
        f"/api/v1/tenants/{tenant}/workflows",
        content=text,
        headers={**headers, "content-type": "application/yaml"},
    )


def start(
    client: TestClient[Any],
    headers: dict[str, str],
    workflow: str,
    run_input: dict[str, Any] | None = None,
    tenant: str = "acme",
    **extra: Any,
) -> Any:
    response = client.post(
        f"/api/v1/tenants/{tenant}/runs",
        json={"workflow": workflow, "input": run_input or {}, **extra},
        headers=headers,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def wait_for(
    client: TestClient[Any],
    headers: dict[str, str],
    run_id: str,
    statuses: tuple[str, ...] = FINISHED,
    timeout: float = 15.0,
    tenant: str = "acme",
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/v1/tenants/{tenant}/runs/{run_id}", headers=headers).json()
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run stayed {run['status']}: {run}"
        time.sleep(0.02)


def history(
    client: TestClient[Any], headers: dict[str, str], run_id: str, tenant: str = "acme"
) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/tenants/{tenant}/runs/{run_id}/history", headers=headers).json()[
        "items"
    ]


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["type"], e["step"]) for e in events]


def emit(
    client: TestClient[Any], hub: Any, topic: str, *payloads: Any, tenant: str = "acme"
) -> None:
    """Publish events on the hub's bus as a service of `tenant` would: in that tenant."""
    with client.portal() as portal:
        tenant_id = portal.call(hub.tenants.get, tenant).id
        for payload in payloads:
            portal.call(functools.partial(hub.bus.publish, topic, payload, tenant=tenant_id))
