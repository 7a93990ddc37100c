"""`hub demo`'s plant: the simulator on its own thread, devices for its tank (boiler-1)
and its production line (line-1), and the safety-monitoring pack installed for the demo
tenant."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any

from connectors.plc.plant_sim import LINE_MODBUS_TAGS, MODBUS_TAGS, PlantSimulator
from hub.bootstrap import Hub
from hub.domain.audit import SYSTEM
from hub.domain.errors import Conflict, NotFound

DEMO_DEVICE = "boiler-1"
DEMO_LINE = "line-1"
DEMO_AREA = "boiler-house"
DEMO_OVERRIDE_KEY = "demo-override-key"


class PlantThread:
    """The simulator keeps running on its own loop while uvicorn owns the main thread."""

    def __init__(self, host: str, modbus_port: int, opcua_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = PlantSimulator(host=host, modbus_port=modbus_port, opcua_port=opcua_port)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="plant")

    def start(self) -> None:
        self._thread.start()
        future: Future[Any] = asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop)
        future.result(30)


def demo_parameters() -> dict[str, Any]:
    return {
        "area_id": DEMO_AREA,
        "safety_level": "high",
        "sensors": [{"device": DEMO_DEVICE, "tag": "pressure", "hi": 8.0, "hihi": 10.0}],
        "interlocks": [{"device": DEMO_DEVICE, "tag": "interlock", "value": True}],
        "override_key": DEMO_OVERRIDE_KEY,
    }


async def seed_plant(hub: Hub, tenant_slug: str, modbus_endpoint: str) -> None:
    """The plant's devices and the pack, unless they are there already."""
    tenant = await hub.tenants.get(tenant_slug)
    for name, tags in ((DEMO_DEVICE, MODBUS_TAGS), (DEMO_LINE, LINE_MODBUS_TAGS)):
        try:
            await hub.plc.devices.get(tenant, name)
        except NotFound:
            device = {"name": name, "protocol": "modbus", "endpoint": modbus_endpoint,
                      "poll_interval_ms": 200, "tags": tags}  # fmt: skip
            await hub.plc.devices.create(tenant, device, SYSTEM)
    with contextlib.suppress(Conflict):
        await hub.packs.install(tenant, "safety-monitoring", demo_parameters(), SYSTEM)
