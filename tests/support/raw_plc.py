"""Reading the plant's interlock straight from the PLC, with plain protocol clients."""

from __future__ import annotations

import asyncio

from asyncua import Client
from pymodbus.client import ModbusTcpClient

from tests.support.plc_sim import SimThread


def interlock(plant: SimThread, protocol: str) -> bool:
    if protocol == "modbus":
        client = ModbusTcpClient("127.0.0.1", port=plant.sim.modbus_port)
        client.connect()
        try:
            return bool(client.read_coils(0, count=1, device_id=1).bits[0])
        finally:
            client.close()
    return asyncio.run(_opcua(plant.sim.opcua_endpoint))


async def _opcua(endpoint: str) -> bool:
    async with Client(endpoint) as client:
        return bool(await client.get_node("ns=2;s=Plant.Interlock").read_value())
