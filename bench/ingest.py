"""Telemetry ingest: the hub polling Modbus blocks vs a raw AsyncModbusTcpClient loop.

Peer process: a pymodbus TCP server (bench/_ingest_servers.py) holding BLOCKS x 125
registers (HUB_BENCH_BLOCKS, default 8: 1,000 registers) that change every 5 ms.

- peer (the raw limit): one AsyncModbusTcpClient reading the blocks back to back, 125
  samples per read, no decoding, nothing stored (`peer_settings`: `"stores": false`).
- hub: a device with one uint16 tag per register (scale 0.1), polled back to back on one
  connection, through the whole pipeline: decoding, scaling, the latest-value cache,
  alarm evaluation (ALARMS rules), batched storage in SQLite (the hub's WAL settings) and
  the event bus (with the workflow triggers subscribed, as in `hub serve`). Counted: samples
  stored per second, the final flush inside the measured time.
- alarm latency: after each hub Modbus turn, while the hub polls at full rate, another
  client writes register 0 past its alarm limit and back, ALARM_TRIPS times; latency is
  from the write's response to the alarm transition committed (journal, state and audit
  entry). Each write waits a random 0-ALARM_PHASE_MS first, so trips land at random points
  of the 5 ms register cycle, the poll cycle and the 0.5 s telemetry flush. A trip whose
  raise or return is not seen within ALARM_TIMEOUT_S counts in `alarm_trips_timed_out`
  (a failure, never dropped silently). Tails over fewer than 100 trips are called max.
- OPC-UA: an asyncua server with OPC_NODES Double variables written every OPC_PERIOD_MS;
  a raw asyncua subscription handler counting notifications vs the hub's subscribed device
  storing samples (same sampling and publishing intervals).

What is durable when: the hub buffers samples in memory and writes them every
`flush_interval_s` (0.5 s) in one transaction, so a sample is not stored when it is
polled; a crash loses up to that interval. The write commits with SQLite WAL and
synchronous=NORMAL, not fsynced: it survives a process crash, not a power loss (commits
since the last WAL checkpoint can roll back; HUB_SQLITE_SYNCHRONOUS=full, passed on to
the hub, fsyncs each write instead). An alarm transition is committed before
it counts (same durability). The raw peers store nothing. Both sides' settings, read
back from the hub's own database connection, are in `hub_settings`/`peer_settings`
(`opcua_hub_settings`/`opcua_peer_settings`).

Method (bench/_method.py): one server process per protocol serves every turn; hub and
peer run in alternating turns, `turns()` of each (at least 3, HUB_BENCH_TURNS), each hub
turn on a fresh hub and database; every figure is the median of the turns, with the
min-max spread and every run in the JSON. Each turn waits WARMUP_S, then a random part
of the server's update period (5 ms, OPC_PERIOD_MS) before its measured window (and
before subscribing, on OPC-UA). A turn measures HUB_BENCH_DURATION seconds, default 6
(shortened from 10 when the turns came in: 12 turns in all, about 2.5 minutes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from _hub_settings import commit_facts, database_settings, hub_env
from _method import alternate, comparison, random_phase, summary, tail, turns
from asyncua import Client
from pymodbus.client import AsyncModbusTcpClient

from connectors.plc.plant_sim import free_port
from hub.bootstrap import Hub, build
from hub.domain.audit import SYSTEM
from hub.settings import load_settings

BENCH_DIR = Path(__file__).resolve().parent
SERVERS = BENCH_DIR / "_ingest_servers.py"
BLOCK = 125
ALARMS = 10
ALARM_TRIPS = 100  # per hub turn: enough for a p99 (bench/_method.py percentile_name)
ALARM_PHASE_MS = 50  # random wait before each write: 10 register cycles, 1/10 of a flush
ALARM_TIMEOUT_S = 5.0
REGISTER_PERIOD_MS = 5  # how often the Modbus server changes its registers
OPC_NODES = 100
OPC_PERIOD_MS = 20
WARMUP_S = 2.0
DEFAULT_DURATION_S = 6.0
logging.basicConfig(level=logging.ERROR)
T = TypeVar("T")


def _duration() -> float:
    return float(os.environ.get("HUB_BENCH_DURATION") or DEFAULT_DURATION_S)


def _spawn(*args: Any) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVERS), *map(str, args)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"peer server {args[0]} did not start")
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _peer_turn(run: Callable[[], Coroutine[Any, Any, T]]) -> Callable[[int], T]:
    """A side for alternate(): each turn on a fresh event loop."""
    return lambda _turn: asyncio.run(run())


def _hub_turn(prefix: str, run: Callable[[Path], Coroutine[Any, Any, T]]) -> Callable[[int], T]:
    """A side for alternate(): each turn a fresh hub data directory and event loop."""

    async def turn() -> T:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            return await run(Path(tmp))

    return lambda _turn: asyncio.run(turn())


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
        await random_phase(REGISTER_PERIOD_MS / 1000)
        samples, start = 0, time.perf_counter()
        while time.perf_counter() - start < duration:
            samples += await sweep()
        rate = samples / (time.perf_counter() - start)
        _log(f"raw AsyncModbusTcpClient: {rate:,.0f} samples/s")
        return rate
    finally:
        client.close()


def _settings(data: Path) -> Any:
    return load_settings(hub_env(str(data), HUB_LOG_LEVEL="ERROR"))


async def _hub_with_device(data: Path, device: dict[str, Any]) -> tuple[Hub, Any, Any]:
    hub = build(_settings(data))
    await hub.start(run_workers=True)
    tenant = await hub.tenants.create("bench", "Bench", SYSTEM)
    created = await hub.plc.devices.create(tenant, device, SYSTEM)
    return hub, tenant, created


async def hub_durability(hub: Hub) -> dict[str, Any]:
    """The hub's database settings, read back, and when a sample is stored."""
    settings = await database_settings(hub)
    return {
        **settings,
        "flush_interval_s": hub.plc.telemetry.settings.flush_interval,
        "sample_durable_on_return": False,  # buffered in memory until the next flush
        **commit_facts(settings),
    }


async def _stored_rate(hub: Hub, duration: float, period_s: float) -> float:
    """Samples stored per second over `duration`, after the warm-up and a random phase."""
    telemetry = hub.plc.telemetry
    await asyncio.sleep(WARMUP_S)
    await random_phase(period_s)
    await telemetry.flush()
    before, start = telemetry.stored, time.perf_counter()
    await asyncio.sleep(duration)
    await telemetry.flush()
    return (telemetry.stored - before) / (time.perf_counter() - start)


@dataclass
class Trips:
    """One turn's alarm trips: latencies of the raises seen, and the trips that timed out."""

    latencies: list[float] = field(default_factory=list)
    timed_out: int = 0


@dataclass
class HubModbus:
    rate: float
    trips: Trips
    dropped: int
    settings: dict[str, Any]


async def hub_modbus(port: int, blocks: int, duration: float, data: Path) -> HubModbus:
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
        rate = await _stored_rate(hub, duration, REGISTER_PERIOD_MS / 1000)
        _log(f"hub pipeline: {rate:,.0f} samples/s")
        trips = await _alarm_trips(hub, port, rules[0]["id"])
        name, worst = tail(trips.latencies)
        _log(
            f"alarm latency: p50 {statistics.median(trips.latencies or [0]):.2f} ms, {name} "
            f"{worst or 0:.2f} ms over {len(trips.latencies)} trips, {trips.timed_out} timed out"
        )
        settings = await hub_durability(hub)
        return HubModbus(rate, trips, hub.plc.telemetry.dropped, settings)
    finally:
        await hub.close()


async def _seen(hub: Hub, alarm_id: str, before: Any) -> Any:
    """The alarm's next stored transition time, or None when none came within the timeout."""
    alarms = hub.plc.alarms
    deadline = time.perf_counter() + ALARM_TIMEOUT_S
    while alarms.stored_at.get(alarm_id) is before:
        if time.perf_counter() > deadline:
            return None
        await asyncio.sleep(0.0005)
    return alarms.stored_at.get(alarm_id)


async def _alarm_trips(hub: Hub, port: int, alarm_id: str) -> Trips:
    writer = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0, reconnect_delay=0)
    await writer.connect()
    trips = Trips()
    rng = random.Random()
    try:
        for _ in range(ALARM_TRIPS):
            failed = False
            for value in (1000, 0):  # 100.0 past hi=50, then back
                await random_phase(ALARM_PHASE_MS / 1000, rng)
                before = hub.plc.alarms.stored_at.get(alarm_id)
                await writer.write_register(0, value, device_id=1)
                written = datetime.now(UTC)
                stored = await _seen(hub, alarm_id, before)
                if stored is None:
                    failed = True
                elif value:
                    trips.latencies.append((stored - written).total_seconds() * 1000)
            trips.timed_out += failed
    finally:
        writer.close()
    return trips


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
        await random_phase(OPC_PERIOD_MS / 1000)
        sub = await client.create_subscription(OPC_PERIOD_MS, counter)
        nodes = [client.get_node(f"ns=2;s=V{i}") for i in range(OPC_NODES)]
        await sub.subscribe_data_change(nodes, queuesize=10, sampling_interval=OPC_PERIOD_MS / 2)
        await asyncio.sleep(WARMUP_S)
        await random_phase(OPC_PERIOD_MS / 1000)
        before, start = counter.count, time.perf_counter()
        await asyncio.sleep(duration)
        rate = (counter.count - before) / (time.perf_counter() - start)
        _log(f"raw asyncua subscription: {rate:,.0f} notifications/s")
        return rate
    finally:
        await client.disconnect()


async def hub_opcua(endpoint: str, duration: float, data: Path) -> tuple[float, dict[str, Any]]:
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
    await random_phase(OPC_PERIOD_MS / 1000)  # the device subscribes when it is created
    hub, _, _ = await _hub_with_device(data, device)
    try:
        rate = await _stored_rate(hub, duration, OPC_PERIOD_MS / 1000)
        _log(f"hub OPC-UA pipeline: {rate:,.0f} samples/s")
        return rate, await hub_durability(hub)
    finally:
        await hub.close()


# --- turns and the result ---


def modbus_turns(blocks: int, duration: float, count: int) -> dict[str, list[Any]]:
    port = free_port()
    _log(f"modbus: {blocks} blocks of {BLOCK} registers, {count} turns of {duration:g} s per side")
    server = _spawn("modbus", port, blocks * BLOCK, REGISTER_PERIOD_MS)
    try:
        sides = {
            "hub": _hub_turn("hub-ingest-", lambda d: hub_modbus(port, blocks, duration, d)),
            "peer": _peer_turn(lambda: raw_modbus(port, blocks, duration)),
        }
        return alternate(sides, count, log=_log)
    finally:
        _stop(server)


def opcua_turns(duration: float, count: int) -> dict[str, list[Any]]:
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/bench"
    _log(f"opcua: {OPC_NODES} nodes every {OPC_PERIOD_MS} ms, {count} turns per side")
    server = _spawn("opcua", port, OPC_NODES, OPC_PERIOD_MS)
    try:
        sides = {
            "hub": _hub_turn("hub-ingest-ua-", lambda d: hub_opcua(endpoint, duration, d)),
            "peer": _peer_turn(lambda: raw_opcua(endpoint, duration)),
        }
        return alternate(sides, count, log=_log)
    finally:
        _stop(server)


def alarm_summary(trips: list[Trips]) -> dict[str, Any]:
    """Median over the turns of each turn's p50 and tail, with spreads; time-outs counted."""
    measured = [t for t in trips if t.latencies]
    out: dict[str, Any] = {
        "alarm_trips": ALARM_TRIPS * len(trips),
        "alarm_trips_measured": sum(len(t.latencies) for t in trips),
        "alarm_trips_timed_out": sum(t.timed_out for t in trips),
        "alarm_phase_ms": ALARM_PHASE_MS,
    }
    if not measured:
        return out
    tails = [tail(t.latencies) for t in measured]
    # p99 only when every turn had 100 trips measured; otherwise every turn's max.
    name = "p99" if all(n == "p99" for n, _ in tails) else "max"
    values = [v for _, v in tails] if name == "p99" else [max(t.latencies) for t in measured]
    p50 = summary([statistics.median(t.latencies) for t in measured])
    worst = summary([float(v) for v in values if v is not None])
    return out | {
        "alarm_latency_ms_p50": p50["median"],
        "alarm_latency_ms_p50_spread": [p50["min"], p50["max"]],
        f"alarm_latency_ms_{name}": worst["median"],
        f"alarm_latency_ms_{name}_spread": [worst["min"], worst["max"]],
        "alarm_latency_ms_max": round(max(max(t.latencies) for t in measured), 2),
    }


def stores_nothing(**facts: Any) -> dict[str, Any]:
    return {"stores": False, **facts}


def main() -> int:
    duration = _duration()
    count = turns()
    blocks = int(os.environ.get("HUB_BENCH_BLOCKS", "8"))
    started = time.perf_counter()
    modbus = modbus_turns(blocks, duration, count)
    opcua = opcua_turns(duration, count)
    hubs: list[HubModbus] = modbus["hub"]
    link = {"connections": 1, "registers_per_read": BLOCK}
    subscription = {
        "publishing_interval_ms": OPC_PERIOD_MS,
        "sampling_interval_ms": OPC_PERIOD_MS // 2,
    }
    ua = comparison(
        bench="ingest",
        metric="OPC-UA samples/s",
        unit="samples/s",
        hub=[rate for rate, _ in opcua["hub"]],
        peer=opcua["peer"],
        peer_name="raw asyncua subscription handler counting notifications",
        hub_settings={**opcua["hub"][0][1], **subscription},
        peer_settings=stores_nothing(**subscription),
        digits=0,
    )
    ua_keys = ("hub", "peer", "peer_name", "ratio", "hub_spread", "peer_spread", "hub_runs")
    ua_keys += ("peer_runs", "hub_settings", "peer_settings")
    result = comparison(
        bench="ingest",
        metric="Modbus samples/s polled, scaled, alarm-evaluated and stored (SQLite)",
        unit="samples/s",
        hub=[h.rate for h in hubs],
        peer=modbus["peer"],
        peer_name="raw pymodbus AsyncModbusTcpClient loop, same blocks, same server",
        hub_settings={**hubs[0].settings, **link},
        peer_settings=stores_nothing(**link),
        digits=0,
        registers=blocks * BLOCK,
        alarm_rules=ALARMS,
        dropped=sum(h.dropped for h in hubs),
        **alarm_summary([h.trips for h in hubs]),
        **{f"opcua_{key}": ua[key] for key in ua_keys},
        opcua_nodes=OPC_NODES,
        opcua_period_ms=OPC_PERIOD_MS,
        duration_s_per_turn=duration,
        total_s=round(time.perf_counter() - started, 1),
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
