"""The PlcPort the hub uses: Modbus or OPC-UA by the device's protocol."""

from __future__ import annotations

from connectors.plc.modbus import ModbusConnection
from connectors.plc.opcua import OpcUaConnection
from hub.domain.plc import Device, Protocol
from hub.ports import PlcConnection


class ProtocolPort:
    def open(self, device: Device) -> PlcConnection:
        if device.protocol is Protocol.OPCUA:
            return OpcUaConnection(device)
        return ModbusConnection(device)
