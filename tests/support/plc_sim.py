"""The plant simulator on its own thread and event loop, as a PLC beside the hub."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from connectors.plc.plant_sim import PlantSimulator, free_port


class SimThread:
    def __init__(self, **options: Any) -> None:
        options.setdefault("modbus_port", free_port())
        options.setdefault("opcua_port", free_port())
        self.loop = asyncio.new_event_loop()
        self.sim = PlantSimulator(**options)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def start(self) -> None:
        self._thread.start()
        self.call(self.sim.start())

    def stop(self) -> None:
        self.call(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def set(self, **model: Any) -> None:
        """Change the model (e.g. setpoint=9.5) as if the process moved by itself."""

        async def apply() -> None:
            for key, value in model.items():
                setattr(self.sim.model, key, value)

        self.call(apply())


def uses_opcua(item: Any) -> bool:
    """Whether a test talks OPC-UA to the plant: its module or parameters name it, or it is
    marked `opcua`. The others get a plant without an OPC-UA server, whose start-up costs
    about 2 s of CPU per test (the suite's PLC and pack tests start one plant each)."""
    return (
        "opcua" in item.name
        or "opcua" in item.module.__name__
        or item.get_closest_marker("opcua") is not None
    )


@contextmanager
def running_plant(**options: Any) -> Iterator[SimThread]:
    sim = SimThread(**options)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def wait_for(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Poll until check() returns something truthy; its value, or AssertionError."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
