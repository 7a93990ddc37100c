"""Pieces the devices-and-tags console tests share: a tenant with the simulated plant's
boiler registered as a Modbus device (tests/support/plc_sim.py), and an axe-core check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.e2e.console.harness import ConsoleWorld
from tests.support.plc_sim import SimThread, running_plant

if TYPE_CHECKING:
    from playwright.sync_api import Page

LIVE = 20_000  # ms: a few polls of a live fragment
SERIOUS = {"serious", "critical"}


@dataclass
class Plant:
    slug: str  # the tenant (users `<slug>-<role>`)
    sim: SimThread

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.slug}"

    def page(self, device: str = "boiler-1", **query: str) -> str:
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        return f"/ui/t/{self.slug}/devices/{device}" + (f"?{suffix}" if suffix else "")


def register(
    world: ConsoleWorld,
    slug: str,
    sim: SimThread,
    name: str = "boiler-1",
    tags: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    with world.api(f"{slug}-engineer") as engineer:
        response = engineer.post(
            f"/api/v1/tenants/{slug}/devices",
            json={
                "name": name,
                "protocol": "modbus",
                "endpoint": sim.sim.modbus_endpoint,
                "poll_interval_ms": 50,
                "max_backoff_ms": 500,
                "tags": MODBUS_TAGS if tags is None else tags,
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@contextmanager
def modbus_plant() -> Iterator[SimThread]:
    """The plant simulator serving Modbus only (its OPC-UA server is slow to start and
    these pages do not need it)."""
    with running_plant(opcua_port=None) as sim:
        yield sim


@contextmanager
def plant_tenant(world: ConsoleWorld, **device: Any) -> Iterator[Plant]:
    """A fresh tenant whose `boiler-1` polls a running plant simulator."""
    slug = world.fresh_tenant()
    try:
        with modbus_plant() as sim:
            register(world, slug, sim, **device)
            yield Plant(slug, sim)
    finally:
        world.retire_devices(slug)


def serious_violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    found: list[dict[str, Any]] = Axe().run(page).response["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in found
        if v["impact"] in SERIOUS
    ]
