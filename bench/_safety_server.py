"""The bench's PLC: an OPC-UA server on its own thread that makes pressure excursions
and notes, server-side, when the interlock is written back."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import Future
from typing import Any

from _method import random_phase
from asyncua import Server, ua
from asyncua.common.callback import CallbackType

NS = "urn:bench:safety"


class SafetyPlc:
    def __init__(self, port: int) -> None:
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/bench"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: Server | None = None
        self._nodes: dict[str, Any] = {}
        self._raised_at = 0.0
        self._written: Future[float] | None = None

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self._thread.start()
        self.call(self._start())

    def stop(self) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NS)
        plant = await server.nodes.objects.add_object(ua.NodeId("Plant", idx), "Plant")
        for name, value, kind in (("Pressure", 5.0, ua.VariantType.Double),
                                  ("Interlock", False, ua.VariantType.Boolean)):  # fmt: skip
            node = await plant.add_variable(ua.NodeId(f"Plant.{name}", idx), name,
                                            ua.Variant(value, kind))  # fmt: skip
            await node.set_writable()
            self._nodes[name] = node
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
        await server.start()
        self._server = server

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    def _on_write(self, event: Any, _dispatcher: Any) -> None:
        if not event.is_external:
            return
        for item in event.request_params.NodesToWrite:
            if item.NodeId == self._nodes["Interlock"].nodeid and item.Value.Value.Value is True:
                done = self._written
                if done is not None and not done.done():
                    done.set_result(time.perf_counter() - self._raised_at)

    async def _excursion(
        self, value: float, phase_s: float, rng: random.Random | None
    ) -> Future[float]:
        # A random share of the publishing interval first, so no side's excursions keep
        # landing at one point of the server's publish cycle.
        await random_phase(phase_s, rng)
        self._written = Future()
        self._raised_at = time.perf_counter()
        await self._nodes["Pressure"].write_value(ua.Variant(value, ua.VariantType.Double))
        return self._written

    def excursion(
        self,
        value: float = 12.0,
        timeout: float = 10.0,
        *,
        phase_s: float = 0.0,
        rng: random.Random | None = None,
    ) -> float:
        """After a random 0..`phase_s` delay, push the pressure past HiHi; seconds from
        the change to the interlock being written true (the delay not counted)."""
        return self.call(self._excursion(value, phase_s, rng)).result(timeout)

    def reset(self) -> None:
        async def reset() -> None:
            await self._nodes["Pressure"].write_value(ua.Variant(5.0, ua.VariantType.Double))
            await self._nodes["Interlock"].write_value(ua.Variant(False, ua.VariantType.Boolean))

        self.call(reset())
