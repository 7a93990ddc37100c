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
