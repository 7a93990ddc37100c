"""Pieces for the alarms page's tests: a tenant of their own with the plant simulator
registered as a device, alarm rules added through the API, and waits on an alarm's state
(read through the API, as a client would)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.e2e.console.harness import ConsoleWorld
from tests.support.plc_sim import SimThread, running_plant
from tests.support.waiting import eventually

DEVICE = "boiler-1"
XSS = "<img src=x onerror=alert(1)>"
_areas = itertools.count(1)


@dataclass
class AlarmPlant:
    console: ConsoleWorld
    slug: str
    plant: SimThread

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.slug}"

    def user(self, role: str) -> str:
        return f"{self.slug}-{role}"

    def page_url(self, suffix: str = "") -> str:
        return self.console.url(f"/ui/t/{self.slug}/alarms/{suffix}")

    def add_rule(self, **rule: Any) -> dict[str, Any]:
        """An alarm rule on the plant (the temperature, always about 40 degC, is above
        `hi: 30`, so such a rule's alarm is active at once); in an area of its own
        unless given."""
        body = {"device": DEVICE, "tag": "temperature", "hi": 30.0, "priority": "high"}
        body.setdefault("area", f"area-{next(_areas)}")
        body.update(rule)
        with self.console.api(self.user("engineer")) as engineer:
            response = engineer.post(f"{self.base}/alarm-rules", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def alarm(self, alarm_id: str) -> dict[str, Any]:
        with self.console.api(self.user("viewer")) as viewer:
            response = viewer.get(f"{self.base}/alarms/{alarm_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def wait_state(self, alarm_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
        found: dict[str, Any] = eventually(
            lambda: (a := self.alarm(alarm_id))["state"] == state and a, timeout=timeout
        )
        return found

    def active_rule(self, **rule: Any) -> dict[str, Any]:
        """A rule whose alarm is already active-unacknowledged."""
        created = self.add_rule(**rule)
        self.wait_state(created["id"], "active-unacknowledged")
        return created


@contextmanager
def alarm_plant(console: ConsoleWorld) -> Iterator[AlarmPlant]:
    """A fresh tenant with the running plant simulator registered as `boiler-1`."""
    slug = console.fresh_tenant()
    with running_plant(opcua_port=None) as plant, console.api(f"{slug}-engineer") as engineer:
        device = engineer.post(
            f"/api/v1/tenants/{slug}/devices",
            json={
                "name": DEVICE,
                "protocol": "modbus",
                "endpoint": plant.sim.modbus_endpoint,
                "poll_interval_ms": 50,
                "max_backoff_ms": 500,
                "tags": MODBUS_TAGS,
            },
        )
        assert device.status_code == 201, device.text
        world = AlarmPlant(console, slug, plant)
        eventually(
            lambda: any(
                v["name"] == "temperature" and v["quality"] == "good"
                for v in engineer.get(f"/api/v1/tenants/{slug}/devices/{DEVICE}/tags").json()[
                    "items"
                ]
            )
        )
        yield world
        # Stop polling a plant that is about to go away (no reconnecting for the rest of
        # the session).
        off = engineer.patch(f"/api/v1/tenants/{slug}/devices/{DEVICE}", json={"enabled": False})
        assert off.status_code == 200, off.text
