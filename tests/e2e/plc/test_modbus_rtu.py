"""Modbus RTU through the API against a real pymodbus serial server.

There is no serial port here, so the test links two pseudo-terminals the way a null-modem
cable links two ports (what `socat pty pty` does): bytes written to one come out of the
other. The server listens on one end, the hub's device names the other.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import tty
from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from tests.conftest import World
from tests.support.plc_sim import wait_for

BASE = "/api/v1/tenants/acme/devices"
UNIT = 7
TAGS = [
    {"name": "level", "register": "holding", "address": 0, "datatype": "uint16", "unit": "%"},
    {"name": "flow", "register": "holding", "address": 1, "datatype": "float32", "scale": 2},
    {"name": "target", "register": "holding", "address": 3, "datatype": "int16", "writable": True},
    {"name": "pump", "register": "coil", "address": 0, "datatype": "bool", "writable": True},
]


class LinkedPtys:
    """Two pseudo-terminals joined back to back by a relay thread."""

    def __init__(self) -> None:
        self._masters, self._slaves, self.paths = [], [], []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line discipline: bytes pass as they are
            self._masters.append(master)
            # Held open so a master never reads EIO while its port is between opens.
            self._slaves.append(slave)
            self.paths.append(os.ttyname(slave))
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        a, b = self._masters
        peer = {a: b, b: a}
        while True:
            ready, _, _ = select.select([a, b, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                os.write(peer[fd], os.read(fd, 4096))

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        for fd in (*self._masters, *self._slaves, self._stop_r, self._stop_w):
            os.close(fd)


class SerialPlc:
    """A pymodbus RTU server on its own thread and event loop."""

    def __init__(self, port: str) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server: ModbusSerialServer = self.run(self._server(port))

    @staticmethod
    async def _server(port: str) -> ModbusSerialServer:
        # pymodbus servers must be made on the loop they serve from.
        regs = [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        device = SimDevice(id=UNIT, simdata=(bits, list(bits), regs, list(regs)))
        return ModbusSerialServer(device, port=port, baudrate=19200)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> None:
        self.run(self.server.serve_forever(background=True))
        # level 42, flow 1.25 (float32 big-endian: 0x3FA0 0x0000), target -3
        self.run(self._set(0, [42, 0x3FA0, 0x0000, 0xFFFD]))

    async def _set(self, address: int, values: list[int]) -> None:
        await self.server.async_setValues(UNIT, 3, address, values)

    def holding(self, address: int) -> int:
        async def get() -> int:
            return (await self.server.async_getValues(UNIT, 3, address, 1))[0]

        return int(self.run(get()))

    def stop(self) -> None:
        self.run(self.server.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def serial_plc() -> Iterator[tuple[SerialPlc, str]]:
    ptys = LinkedPtys()
    plc = SerialPlc(ptys.paths[0])
    plc.start()
    try:
        yield plc, ptys.paths[1]
    finally:
        plc.stop()
        ptys.close()


def _tags(world: World) -> dict[str, dict[str, Any]] | None:
    response = world.client.get(f"{BASE}/tank-rtu/tags", headers=world.as_("acme-viewer"))
    assert response.status_code == 200, response.text
    tags = {t["name"]: t for t in response.json()["items"]}
    return tags if all(t["quality"] == "good" for t in tags.values()) else None


def test_rtu_device_reads_scales_and_writes_with_read_back(
    world: World, serial_plc: tuple[SerialPlc, str]
) -> None:
    plc, port = serial_plc
    body = {
        "name": "tank-rtu",
        "protocol": "modbus",
        "endpoint": f"modbus-rtu://{port}?baudrate=19200&parity=N",
        "unit_id": UNIT,
        "poll_interval_ms": 100,
        "timeout_ms": 1000,
        "tags": TAGS,
    }
    created = world.client.post(BASE, json=body, headers=world.as_("acme-engineer"))
    assert created.status_code == 201, created.text

    tags = wait_for(lambda: _tags(world), timeout=15)
    assert tags["level"]["value"] == 42 and tags["level"]["unit"] == "%"
    assert tags["flow"]["value"] == pytest.approx(2.5)  # 1.25 scaled by 2
    assert tags["target"]["value"] == -3 and tags["pump"]["value"] is False

    operator = world.as_("acme-operator")
    written = world.client.post(
        f"{BASE}/tank-rtu/tags/target/write", json={"value": -120}, headers=operator
    )
    assert written.status_code == 200, written.text
    assert written.json()["value"] == -120 and written.json()["old_value"] == -3
    assert plc.holding(3) == 0x10000 - 120  # on the PLC, as two's complement
    pump = world.client.post(
        f"{BASE}/tank-rtu/tags/pump/write", json={"value": True}, headers=operator
    )
    assert pump.status_code == 200 and pump.json()["value"] is True
    wait_for(lambda: (_tags(world) or {}).get("pump", {}).get("value") is True)
