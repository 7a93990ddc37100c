"""The plant simulator's production line over the wire: the hub's own Modbus and OPC-UA
adapters (real pymodbus and asyncua clients) against the simulator on loopback.
Configure -> READY, out of limits -> CONFIG_ERROR, a rejected configuration, START runs
the batch to COMPLETE, a second START of the batch is ignored, a fault and its reset."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from connectors.plc.modbus import ModbusConnection
from connectors.plc.opcua import OpcUaConnection
from connectors.plc.plant_sim import LINE_MODBUS_TAGS, LINE_OPCUA_TAGS, PlantSimulator, plant
from hub.domain.plc import Device
from hub.domain.plc_config import parse_device

T = TypeVar("T")
IDLE, READY, RUNNING, COMPLETE, FAULT, CONFIG_ERROR = range(6)
Connection = ModbusConnection | OpcUaConnection


def _device(sim: PlantSimulator, protocol: str) -> Device:
    modbus = protocol == "modbus"
    return parse_device(
        {
            "name": "line-1",
            "protocol": protocol,
            "endpoint": sim.modbus_endpoint if modbus else sim.opcua_endpoint,
            "timeout_ms": 3000,
            "tags": LINE_MODBUS_TAGS if modbus else LINE_OPCUA_TAGS,
        },
        id="0" * 32,
        tenant_id="t",
        at=datetime.now(UTC),
    )


async def _connect(sim: PlantSimulator, protocol: str) -> Connection:
    device = _device(sim, protocol)
    conn: Connection = ModbusConnection(device) if protocol == "modbus" else OpcUaConnection(device)
    await conn.connect()
    return conn


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 10.0) -> T:
    """`check()`'s first truthy result, polled; fails after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        last = await check()
        if last:
            return last
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s (last: {last!r})")
        await asyncio.sleep(0.02)


class Line:
    """line-1 seen through one of the hub's PLC connections."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def write(self, name: str, value: Any) -> Any:
        tag = self.conn.device.tag(name)
        assert tag is not None
        return await self.conn.write(tag, value)

    async def read(self) -> dict[str, Any]:
        batch = await self.conn.read(list(self.conn.device.tags))
        return {tag.name: value for tag, value in zip(batch.tags, batch.values, strict=True)}

    async def configure(self, speed: float, temp: float, qty: int, batch: int) -> None:
        for name, value in (
            ("speed_sp", speed),
            ("temperature_sp", temp),
            ("target_qty", qty),
            ("batch_id", batch),
        ):
            assert await self.write(name, value) == value  # the read-back

    async def state_is(self, state: int) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            values = await self.read()
            return values if values["state"] == state else None

        return await until(check)


async def _scenario(protocol: str) -> None:
    other = "opcua_port" if protocol == "modbus" else "modbus_port"
    async with plant(time_scale=100, tick=0.02, **{other: None}) as sim:
        line = Line(await _connect(sim, protocol))
        try:
            assert (await line.read())["state"] == IDLE
            await line.configure(5000.0, 180.0, 500, 11)  # speed over its 1..1200 limit
            await line.state_is(CONFIG_ERROR)
            assert await line.write("speed_sp", 600.0) == 600.0
            ready = await line.state_is(READY)
            assert (ready["target_qty"], ready["batch_id"]) == (500, 11)

            sim.line.reject_next_configuration()  # a configuration that fails verification
            await line.configure(600.0, 180.0, 500, 11)
            await line.state_is(CONFIG_ERROR)
            await line.configure(600.0, 180.0, 500, 11)  # ... and passes when made again
            await line.state_is(READY)

            assert await line.write("start", True) is True  # read back before the line acts
            running = await line.state_is(RUNNING)
            assert running["active_batch"] == 11 and running["speed_pv"] == 600.0
            await until(lambda: _start_dropped(line))  # the line reset its START coil
            done = await line.state_is(COMPLETE)  # 500 units at 600/min x 100: 0.5 s
            assert (done["good_count"], done["scrap_count"]) == (490, 10)
            assert sim.line.starts[11] == 1

            assert await line.write("start", True) is True  # the same batch again: ignored
            await until(lambda: _start_dropped(line))
            again = await line.read()
            assert again["state"] == COMPLETE and again["good_count"] == 490
            assert sim.line.starts[11] == 1 and sim.line.start_commands[11] == 2

            await line.configure(1200.0, 200.0, 1_000_000, 12)  # ~8 minutes of line time
            await line.state_is(READY)
            await line.write("start", True)
            await until(lambda: _made(line, at_least=100))
            sim.line.fault(7)
            faulted = await line.state_is(FAULT)
            assert faulted["fault_code"] == 7 and faulted["active_batch"] == 12
            held = faulted["good_count"] + faulted["scrap_count"]
            assert held == sim.line.good + sim.line.scrap  # counters hold while faulted
            assert await line.write("reset", True) is True
            resumed = await line.state_is(RUNNING)
            assert resumed["fault_code"] == 0 and resumed["active_batch"] == 12
            await until(lambda: _made(line, at_least=held + 100))
            assert sim.line.starts == {11: 1, 12: 1}
        finally:
            await line.conn.close()


async def _start_dropped(line: Line) -> bool:
    return (await line.read())["start"] is False


async def _made(line: Line, at_least: int) -> bool:
    values = await line.read()
    return bool(values["good_count"] + values["scrap_count"] >= at_least)


@pytest.mark.parametrize("protocol", ["modbus", "opcua"])
def test_line_configure_start_complete_fault_and_reset(protocol: str) -> None:
    asyncio.run(_scenario(protocol))


async def _both_protocols() -> None:
    async with plant(time_scale=100, tick=0.02) as sim:
        ua, mb = Line(await _connect(sim, "opcua")), Line(await _connect(sim, "modbus"))
        try:
            await ua.configure(300.0, 150.5, 50, 21)  # written over OPC-UA ...
            seen = await mb.state_is(READY)  # ... seen over Modbus
            assert (seen["speed_sp"], seen["temperature_sp"]) == (300.0, 150.5)
            assert (seen["target_qty"], seen["batch_id"]) == (50, 21)
            await mb.write("start", True)  # started over Modbus, complete on both
            done = await ua.state_is(COMPLETE)
            assert done["good_count"] + done["scrap_count"] == 50
            assert (await mb.read())["good_count"] == done["good_count"]
        finally:
            await ua.conn.close()
            await mb.conn.close()


def test_one_line_on_both_servers() -> None:
    asyncio.run(_both_protocols())
