"""Peer processes for bench/ingest.py: `modbus PORT REGISTERS MS` or `opcua PORT NODES MS`.

Modbus: a pymodbus TCP server (unit 1) whose holding registers 1..REGISTERS-1 all change
every MS milliseconds (register 0 is the bench's to write). OPC-UA: an asyncua server with
NODES Double variables (ns=2;s=V{i}) written every MS milliseconds. Each prints "ready"
once listening and runs until killed. Both update on their own clock, whatever the
clients do; the bench starts each measured window, subscription and alarm write at a
random point of that period (bench/_method.py `random_phase`), on both sides.
"""

from __future__ import annotations

import asyncio
import logging
import sys

logging.basicConfig(level=logging.ERROR)


async def modbus(port: int, registers: int, period_ms: int) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    regs = [SimData(0, count=registers, values=0, datatype=DataType.REGISTERS)]
    device = SimDevice(id=1, simdata=(bits, list(bits), regs, list(regs)))
    server = ModbusTcpServer([device], address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    print("ready", flush=True)
    tick = 0
    while True:
        tick = (tick + 1) % 1000
        # Register 0 is left alone: the bench writes it to trip an alarm.
        await server.async_setValues(1, 3, 1, [(tick + i) % 1000 for i in range(1, registers)])
        await asyncio.sleep(period_ms / 1000)


async def opcua(port: int, nodes: int, period_ms: int) -> None:
    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench")
    idx = await server.register_namespace("urn:hub-bench")
    folder = await server.nodes.objects.add_object(ua.NodeId("Bench", idx), "Bench")
    variables = [
        await folder.add_variable(ua.NodeId(f"V{i}", idx), f"V{i}", 0.0) for i in range(nodes)
    ]
    await server.start()
    print("ready", flush=True)
    value = 0.0
    while True:
        value += 1.0
        for variable in variables:
            await server.write_attribute_value(
                variable.nodeid, ua.DataValue(ua.Variant(value, ua.VariantType.Double))
            )
        await asyncio.sleep(period_ms / 1000)


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "modbus":
        asyncio.run(modbus(int(args[0]), int(args[1]), int(args[2])))
    else:
        asyncio.run(opcua(int(args[0]), int(args[1]), int(args[2])))
