"""`hub simulate plant`: the tank/pressure simulator and the production line "line-1" over
Modbus TCP and OPC-UA."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from connectors.plc.plant_sim import (
    LINE_MODBUS_TAGS,
    LINE_OPCUA_TAGS,
    MODBUS_TAGS,
    OPCUA_TAGS,
    PlantSimulator,
    TankModel,
)


def add_parser(sub: Any) -> None:
    simulate = sub.add_parser("simulate", help="run simulated equipment for demos and tests")
    kinds = simulate.add_subparsers(dest="simulate_command", metavar="KIND", required=True)
    cmd = kinds.add_parser(
        "plant", help="a tank with pressure, level and an interlock, and a production line"
    )
    cmd.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    cmd.add_argument("--modbus-port", type=int, default=5020, help="Modbus TCP port (5020)")
    cmd.add_argument("--opcua-port", type=int, default=4840, help="OPC-UA port (4840)")
    cmd.add_argument("--no-modbus", action="store_true", help="serve OPC-UA only")
    cmd.add_argument("--no-opcua", action="store_true", help="serve Modbus only")
    cmd.add_argument("--setpoint", type=float, default=5.0, help="pressure setpoint, bar (5)")
    cmd.add_argument(
        "--spike-after", type=float, help="after this many seconds, raise the setpoint ..."
    )
    cmd.add_argument("--spike-to", type=float, default=12.0, help="... to this (12 bar)")
    cmd.add_argument("--duration", type=float, help="stop after this many seconds")
    cmd.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run the production line this many times faster (1; 100 for tests and benches)",
    )


def _check(args: argparse.Namespace) -> None:
    for name in ("modbus_port", "opcua_port"):
        if not 1 <= getattr(args, name) <= 65535:
            raise SimulateError(f"--{name.replace('_', '-')} must be a port in 1..65535")
    if args.no_modbus and args.no_opcua:
        raise SimulateError("--no-modbus and --no-opcua leave nothing to serve")
    if args.spike_after is not None and args.spike_after < 0:
        raise SimulateError("--spike-after must not be negative")
    if not args.time_scale > 0:
        raise SimulateError("--time-scale must be positive")


class SimulateError(Exception):
    """Printed as one line; exit 2."""


async def run_simulate(args: argparse.Namespace) -> int:
    _check(args)
    sim = PlantSimulator(
        host=args.host,
        modbus_port=None if args.no_modbus else args.modbus_port,
        opcua_port=None if args.no_opcua else args.opcua_port,
        model=TankModel(setpoint=args.setpoint, pressure=args.setpoint),
        time_scale=args.time_scale,
    )
    try:
        await sim.start()
    except OSError as exc:
        raise SimulateError(f"cannot listen: {exc.strerror or exc}") from None
    try:
        _print_devices(sim)
        await _run(sim, args)
    finally:
        await sim.stop()
    return 0


async def _run(sim: PlantSimulator, args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    spiked = False
    while args.duration is None or loop.time() - started < args.duration:
        await asyncio.sleep(0.1)
        if (
            not spiked
            and args.spike_after is not None
            and loop.time() - started >= args.spike_after
        ):
            sim.model.setpoint, spiked = args.spike_to, True
            print(f"setpoint raised to {args.spike_to} bar", flush=True)


def _print_devices(sim: PlantSimulator) -> None:
    print("plant simulator running; register it with POST /api/v1/tenants/{t}/devices")
    print("(the tank, and the production line line-1, on either protocol):")
    if sim.modbus_port is not None:
        for name, tags in (("plant-modbus", MODBUS_TAGS), ("line-1", LINE_MODBUS_TAGS)):
            body = {
                "name": name,
                "protocol": "modbus",
                "endpoint": sim.modbus_endpoint,
                "unit_id": 1,
                "tags": tags,
            }
            print(json.dumps(body))
    if sim.opcua_port is not None:
        for name, tags in (("plant-opcua", OPCUA_TAGS), ("line-1-opcua", LINE_OPCUA_TAGS)):
            body = {
                "name": name,
                "protocol": "opcua",
                "endpoint": sim.opcua_endpoint,
                "tags": tags,
            }
            print(json.dumps(body))
    print("stop with Ctrl-C", flush=True)
