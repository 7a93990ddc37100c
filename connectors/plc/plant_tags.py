"""Tag lists that register the plant simulator as a device (see plant_sim.py)."""

from __future__ import annotations

from typing import Any

MODBUS_TAGS: list[dict[str, Any]] = [
    {"name": "pressure", "register": "input", "address": 0, "datatype": "float32", "unit": "bar"},
    {"name": "level", "register": "input", "address": 2, "datatype": "float32", "unit": "%"},
    {
        "name": "temperature",
        "register": "input",
        "address": 4,
        "datatype": "float32",
        "unit": "degC",
    },
    {
        "name": "pressure_raw",
        "register": "input",
        "address": 6,
        "datatype": "int16",
        "scale": 0.01,
        "unit": "bar",
    },
    {
        "name": "setpoint",
        "register": "holding",
        "address": 0,
        "datatype": "float32",
        "unit": "bar",
        "writable": True,
    },
    {
        "name": "pump_speed",
        "register": "holding",
        "address": 2,
        "datatype": "uint16",
        "unit": "%",
        "writable": True,
    },
    {"name": "interlock", "register": "coil", "address": 0, "datatype": "bool", "writable": True},
    {"name": "high_level", "register": "discrete", "address": 0, "datatype": "bool"},
]
OPCUA_TAGS: list[dict[str, Any]] = [
    {"name": "pressure", "node_id": "ns=2;s=Plant.Pressure", "datatype": "float64", "unit": "bar"},
    {"name": "level", "node_id": "ns=2;s=Plant.Level", "datatype": "float64", "unit": "%"},
    {
        "name": "temperature",
        "node_id": "ns=2;s=Plant.Temperature",
        "datatype": "float64",
        "unit": "degC",
    },
    {
        "name": "setpoint",
        "node_id": "ns=2;s=Plant.PressureSetpoint",
        "datatype": "float64",
        "unit": "bar",
        "writable": True,
    },
    {
        "name": "pump_speed",
        "node_id": "ns=2;s=Plant.PumpSpeed",
        "datatype": "uint16",
        "unit": "%",
        "writable": True,
    },
    {
        "name": "interlock",
        "node_id": "ns=2;s=Plant.Interlock",
        "datatype": "bool",
        "writable": True,
    },
    {"name": "high_level", "node_id": "ns=2;s=Plant.HighLevel", "datatype": "bool"},
]

# The production line ("line-1", connectors/plc/line_sim.py) on the same two servers.
LINE_MODBUS_TAGS: list[dict[str, Any]] = [
    {
        "name": "speed_sp",
        "register": "holding",
        "address": 100,
        "datatype": "float32",
        "unit": "units/min",
        "writable": True,
    },
    {
        "name": "temperature_sp",
        "register": "holding",
        "address": 102,
        "datatype": "float32",
        "unit": "degC",
        "writable": True,
    },
    {
        "name": "target_qty",
        "register": "holding",
        "address": 104,
        "datatype": "uint32",
        "writable": True,
    },
    {
        "name": "batch_id",
        "register": "holding",
        "address": 106,
        "datatype": "uint32",
        "writable": True,
    },
    {"name": "start", "register": "coil", "address": 10, "datatype": "bool", "writable": True},
    {"name": "reset", "register": "coil", "address": 11, "datatype": "bool", "writable": True},
    {"name": "good_count", "register": "input", "address": 100, "datatype": "uint32"},
    {"name": "scrap_count", "register": "input", "address": 102, "datatype": "uint32"},
    {"name": "state", "register": "input", "address": 104, "datatype": "uint16"},
    {"name": "fault_code", "register": "input", "address": 105, "datatype": "uint16"},
    {"name": "active_batch", "register": "input", "address": 106, "datatype": "uint32"},
    {
        "name": "speed_pv",
        "register": "input",
        "address": 108,
        "datatype": "float32",
        "unit": "units/min",
    },
    {
        "name": "temperature_pv",
        "register": "input",
        "address": 110,
        "datatype": "float32",
        "unit": "degC",
    },
]
LINE_OPCUA_TAGS: list[dict[str, Any]] = [
    {
        "name": "speed_sp",
        "node_id": "ns=2;s=Line1.SpeedSetpoint",
        "datatype": "float64",
        "unit": "units/min",
        "writable": True,
    },
    {
        "name": "temperature_sp",
        "node_id": "ns=2;s=Line1.TempSetpoint",
        "datatype": "float64",
        "unit": "degC",
        "writable": True,
    },
    {
        "name": "target_qty",
        "node_id": "ns=2;s=Line1.TargetQty",
        "datatype": "uint32",
        "writable": True,
    },
    {"name": "batch_id", "node_id": "ns=2;s=Line1.BatchId", "datatype": "uint32", "writable": True},
    {"name": "start", "node_id": "ns=2;s=Line1.Start", "datatype": "bool", "writable": True},
    {"name": "reset", "node_id": "ns=2;s=Line1.Reset", "datatype": "bool", "writable": True},
    {"name": "good_count", "node_id": "ns=2;s=Line1.GoodCount", "datatype": "uint32"},
    {"name": "scrap_count", "node_id": "ns=2;s=Line1.ScrapCount", "datatype": "uint32"},
    {"name": "state", "node_id": "ns=2;s=Line1.State", "datatype": "uint16"},
    {"name": "fault_code", "node_id": "ns=2;s=Line1.FaultCode", "datatype": "uint16"},
    {"name": "active_batch", "node_id": "ns=2;s=Line1.ActiveBatch", "datatype": "uint32"},
    {
        "name": "speed_pv",
        "node_id": "ns=2;s=Line1.Speed",
        "datatype": "float64",
        "unit": "units/min",
    },
    {
        "name": "temperature_pv",
        "node_id": "ns=2;s=Line1.Temperature",
        "datatype": "float64",
        "unit": "degC",
    },
]
