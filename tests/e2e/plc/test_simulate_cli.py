"""`hub simulate plant` as a command: it serves Modbus, and a user's mistake is one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from connectors.plc.codec import decode
from connectors.plc.plant_sim import F32, LINE_MODBUS_TAGS, free_port

HUB = str(Path(sys.executable).parent / "hub")  # the console script of this environment


async def _pressure(port: int) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0, reconnect_delay=0)
    for _ in range(50):
        if await client.connect():
            break
        await asyncio.sleep(0.1)
    response = await client.read_input_registers(0, count=2, device_id=1)
    client.close()
    return float(decode(F32, response.registers))


def test_simulate_plant_serves_modbus() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            HUB,
            "simulate",
            "plant",
            "--no-opcua",
            "--modbus-port",
            str(port),
            "--setpoint",
            "6.0",
            "--duration",
            "20",
            "--time-scale",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        assert proc.stdout is not None
        printed: list[str] = []
        while "stop with Ctrl-C" not in (printed[-1] if printed else ""):
            assert time.monotonic() < deadline and proc.poll() is None
            printed.append(proc.stdout.readline())
        devices = [json.loads(line) for line in printed if line.startswith("{")]
        assert [d["name"] for d in devices] == ["plant-modbus", "line-1"]
        assert devices[1]["tags"] == LINE_MODBUS_TAGS
        assert abs(asyncio.run(_pressure(port)) - 6.0) < 0.5
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--no-modbus", "--no-opcua"], "--no-modbus and --no-opcua leave nothing to serve"),
        (["--time-scale", "0"], "--time-scale must be positive"),
    ],
)
def test_simulate_mistakes_are_one_line(args: list[str], error: str) -> None:
    done = subprocess.run(
        [HUB, "simulate", "plant", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"hub: error: {error}"]
