"""Telemetry ingest: the hub polling Modbus blocks vs a raw AsyncModbusTcpClient loop.

Peer process: a pymodbus TCP server (bench/_ingest_servers.py) holding BLOCKS x 125
registers (HUB_BENCH_BLOCKS, default 8: 1,000 registers) that change every 5 ms.

- peer (the raw limit): one AsyncModbusTcpClient reading the blocks back to back, 125
  samples per read, no decoding, nothing stored.
- hub: a device with one uint16 tag per register (scale 0.1), polled back to back on one
  connection, through the whole pipeline: decoding, scaling, the latest-value cache,
  alarm evaluation (ALARMS rules), batched storage in SQLite (the hub's WAL settings) and
  the event bus (with the workflow triggers subscribed, as in `hub serve`). Counted: samples
  stored per second, the final flush inside the measured time.
- alarm latency: while the hub polls at full rate, another client writes register 0 past
  its alarm limit; latency is from the write's response to the alarm transition committed
  (journal, state and audit entry), p50/p99 over ALARM_TRIPS trips.
- OPC-UA: an asyncua server with OPC_NODES Double variables written every OPC_PERIOD_MS;
  a raw asyncua subscription handler counting notifications vs the hub's subscribed device
  storing samples (same sampling and publishing intervals).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Client
from pymodbus.client import AsyncModbusTcpClient

from connectors.plant_sim import free_port
from hub.bootstrap import Hub, build
from hub.domain.audit import SYSTEM
from hub.settings import load_settings

BENCH_DIR = Path(__file__).resolve().parent
SERVERS = BENCH_DIR / "_ingest_servers.py"
BLOCK = 125
ALARMS = 10
ALARM_TRIPS = 40
OPC_NODES = 100
OPC_PERIOD_MS = 20
WARMUP_S = 2.0
logging.basicConfig(level=logging.ERROR)


def _duration() -> float:
    return float(os.environ.get("HUB_BENCH_DURATION", "10"))


def _spawn(*args: Any) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVERS), *map(str, args)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"peer server {args[0]} did not start")
    return proc


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Modbus ---


async def raw_modbus(port: int, blocks: int, duration: float) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0, reconnect_delay=0)
    await client.connect()
    try:

        async def sweep() -> int:
            for b in range(blocks):
                response = await client.read_holding_registers(b * BLOCK, count=BLOCK, device_id=1)
                assert not response.isError() and len(response.registers) == BLOCK
            return blocks * BLOCK

        end = time.perf_counter() + WARMUP_S
        while time.perf_counter() < end:
            await sweep()
        samples, start = 0, time.perf_counter()
        while time.perf_counter() - start < duration:
            samples += await sweep()
        return samples / (time.perf_counter() - start)
    finally:
        client.close()


def _settings(data: Path) -> Any:
    return load_settings({"HUB_DATA_DIR": str(data), "HUB_LOG_LEVEL": "ERROR"})


async def _hub_with_device(data: Path, device: dict[str, Any]) -> tuple[Hub, Any, Any]:
    hub = build(_settings(data))
    await hub.start(run_workers=True)
    tenant = await hub.tenants.create("bench", "Bench", SYSTEM)
    created = await hub.plc.devices.create(tenant, device, SYSTEM)
    return hub, tenant, created


async def hub_modbus(port: int, blocks: int, duration: float, data: Path) -> dict[str, Any]:
    tags = [
        {"name": f"t{i}", "register": "holding", "address": i, "datatype": "uint16", "scale": 0.1}
        for i in range(blocks * BLOCK)
    ]
    device = {
        "name": "bench-plc",
        "protocol": "modbus",
        "endpoint": f"modbus-tcp://127.0.0.1:{port}",
        "poll_interval_ms": 0,
        "tags": tags,
    }
    hub, tenant, created = await _hub_with_device(data, device)
    try:
        rules = []
        for i in range(ALARMS):  # t0 trips at 50.0; the others only evaluate
            rule = {
                "device": created.id,
                "tag": f"t{i}",
                "hi": 50.0 if i == 0 else 1e6,
                "priority": "high",
                "area": "bench",
            }
            rules.append(await hub.plc.alarms.create_rule(tenant, rule, created, SYSTEM))
        telemetry = hub.plc.telemetry
        await asyncio.sleep(WARMUP_S)
        await telemetry.flush()
        before, start = telemetry.stored, time.perf_counter()
        await asyncio.sleep(duration)
        await telemetry.flush()
        rate = (telemetry.stored - before) / (time.perf_counter() - start)
        latencies = await _alarm_latencies(hub, port, rules[0]["id"])
        return {"rate": rate, "latencies": latencies, "dropped": telemetry.dropped}
    finally:
        await hub.close()


async def _alarm_latencies(hub: Hub, port: int, alarm_id: str) -> list[float]:
    writer = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0, reconnect_delay=0)
    await writer.connect()
    alarms = hub.plc.alarms
    found: list[float] = []
    try:
        for _ in range(ALARM_TRIPS):
            for value, wanted in ((1000, True), (0, False)):  # 100.0 past hi=50, then back
                seen = alarms.stored_at.get(alarm_id)
                await writer.write_register(0, value, device_id=1)
                written = datetime.now(UTC)
                deadline = time.perf_counter() + 5
                while alarms.stored_at.get(alarm_id) is seen and time.perf_counter() < deadline:
                    await asyncio.sleep(0.0005)
                stored = alarms.stored_at.get(alarm_id)
                if wanted and stored is not seen and stored is not None:
                    found.append((stored - written).total_seconds() * 1000)
                await asyncio.sleep(0.02)
    finally:
        writer.close()
    return found


# --- OPC-UA ---


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.count += 1


async def raw_opcua(endpoint: str, duration: float) -> float:
    client = Client(endpoint, timeout=5)
    await client.connect()
    try:
        counter = _Counter()
        sub = await client.create_subscription(OPC_PERIOD_MS, counter)
        nodes = [client.get_node(f"ns=2;s=V{i}") for i in range(OPC_NODES)]
        await sub.subscribe_data_change(nodes, queuesize=10, sampling_interval=OPC_PERIOD_MS / 2)
        await asyncio.sleep(WARMUP_S)
        before, start = counter.count, time.perf_counter()
        await asyncio.sleep(duration)
        return (counter.count - before) / (time.perf_counter() - start)
    finally:
        await client.disconnect()


async def hub_opcua(endpoint: str, duration: float, data: Path) -> float:
    device = {
        "name": "bench-ua",
        "protocol": "opcua",
        "endpoint": endpoint,
        "poll_interval_ms": OPC_PERIOD_MS,
        "timeout_ms": 5000,
        "security": {
            "sampling_interval_ms": OPC_PERIOD_MS // 2,
            "publishing_interval_ms": OPC_PERIOD_MS,
        },
        "tags": [
            {"name": f"v{i}", "node_id": f"ns=2;s=V{i}", "datatype": "float64"}
            for i in range(OPC_NODES)
        ],
    }
    hub, _, _ = await _hub_with_device(data, device)
    try:
        telemetry = hub.plc.telemetry
        await asyncio.sleep(WARMUP_S)
        await telemetry.flush()
        before, start = telemetry.stored, time.perf_counter()
        await asyncio.sleep(duration)
        await telemetry.flush()
        return (telemetry.stored - before) / (time.perf_counter() - start)
    finally:
        await hub.close()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> int:
    duration = _duration()
    blocks = int(os.environ.get("HUB_BENCH_BLOCKS", "8"))
    port = free_port()
    _log(f"modbus: {blocks} blocks of {BLOCK} registers, {duration:.0f} s per side")
    server = _spawn("modbus", port, blocks * BLOCK)
    try:
        peer = asyncio.run(raw_modbus(port, blocks, duration))
        _log(f"raw AsyncModbusTcpClient: {peer:,.0f} samples/s")
        with tempfile.TemporaryDirectory(prefix="hub-ingest-") as tmp:
            result = asyncio.run(hub_modbus(port, blocks, duration, Path(tmp)))
        _log(f"hub pipeline: {result['rate']:,.0f} samples/s")
    finally:
        server.kill()
        server.wait()
    ua_port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{ua_port}/bench"
    ua_server = _spawn("opcua", ua_port, OPC_NODES, OPC_PERIOD_MS)
    try:
        ua_peer = asyncio.run(raw_opcua(endpoint, duration))
        _log(f"raw asyncua subscription: {ua_peer:,.0f} notifications/s")
        with tempfile.TemporaryDirectory(prefix="hub-ingest-ua-") as tmp:
            ua_hub = asyncio.run(hub_opcua(endpoint, duration, Path(tmp)))
        _log(f"hub OPC-UA pipeline: {ua_hub:,.0f} samples/s")
    finally:
        ua_server.kill()
        ua_server.wait()
    latencies = result["latencies"]
    print(
        json.dumps(
            {
                "bench": "ingest",
                "metric": "Modbus samples/s polled, scaled, alarm-evaluated and stored (SQLite)",
                "hub": round(result["rate"]),
                "peer": round(peer),
                "peer_name": "raw pymodbus AsyncModbusTcpClient loop, same blocks, same server",
                "ratio": round(result["rate"] / peer, 3),
                "unit": "samples/s",
                "registers": blocks * BLOCK,
                "alarm_rules": ALARMS,
                "dropped": result["dropped"],
                "alarm_latency_ms_p50": _percentile(latencies, 0.5),
                "alarm_latency_ms_p99": _percentile(latencies, 0.99),
                "alarm_trips": len(latencies),
                "opcua_hub": round(ua_hub),
                "opcua_peer": round(ua_peer),
                "opcua_peer_name": "raw asyncua subscription handler counting notifications",
                "opcua_ratio": round(ua_hub / ua_peer, 3) if ua_peer else None,
                "opcua_nodes": OPC_NODES,
                "opcua_period_ms": OPC_PERIOD_MS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
