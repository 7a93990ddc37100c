"""Safety path latency: pressure excursions past HiHi on an OPC-UA server (50 ms
publishing interval); the time from the server-side value change to the interlock being
written, observed on the server.

hub:  subscription -> alarm evaluation -> bus -> trigger -> run start -> validate ->
      assess -> emergency response -> activate_safety_systems -> write_tag (read back)
peer: a plain asyncua client subscribed with the same settings that writes the interlock
      on the data change (the floor: what the protocol and the interval cost).

Method (bench/_method.py): each excursion starts after a random 0..50 ms delay, so no
side keeps landing at one point of the server's publish cycle; hub and peer take
alternating turns (HUB_BENCH_TURNS, at least 3) of HUB_BENCH_EXCURSIONS (100) measured
excursions each, after the same warm-up; each turn's p50 and p99 are reported and the
figures are the medians over the turns, with their spread. The hub is built once; while
the peer runs, the hub's device is disabled, so only one side writes the interlock.
Between excursions, outside the measured time, the PLC is reset and, on the hub's side,
the alarm acknowledged once the hub has seen the reset, so each run ends (its monitoring
sees the pressure back) before the next excursion.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _method import (
    alternate,
    comparison,
    percentile,
    sqlite_settings,
    summary,
    tail,
    turns,
)
from _safety_server import SafetyPlc
from asyncua import Client, ua

from connectors.plc.opcua import QUEUE_SIZE
from connectors.plc.plant_sim import free_port
from hub.bootstrap import build, ensure_platform_admin
from hub.domain.audit import SYSTEM, ActorType, RequestContext
from hub.settings import load_settings

EXCURSIONS = int(os.environ.get("HUB_BENCH_EXCURSIONS", "100"))
WARMUP = 5  # unmeasured excursions at the start of every turn, both sides
INTERVAL_MS = 50
SAMPLING_MS = INTERVAL_MS // 2
TARGET_P99_MS = 250
TRUE = ua.Variant(True, ua.VariantType.Boolean)
OPERATOR = RequestContext("bench-operator", ActorType.USER)
SUBSCRIPTION = {
    "publishing_interval_ms": INTERVAL_MS,
    "sampling_interval_ms": SAMPLING_MS,
    "queue_size": QUEUE_SIZE,
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measure(
    plc: SafetyPlc, turn: int, settle: Callable[[], Any], before_reset: Any
) -> list[float]:
    """WARMUP + EXCURSIONS excursions, each after a random phase; the measured ones' ms."""
    rng = random.Random(turn)  # the same delays for both sides' k-th turns
    times = []
    for index in range(WARMUP + EXCURSIONS):
        took = plc.excursion(phase_s=INTERVAL_MS / 1000, rng=rng) * 1000
        if index >= WARMUP:
            times.append(took)
        before_reset()  # the writer is done with its write (the hub: read back)
        plc.reset()
        settle()  # the side has seen the reset (the hub: and finished its run)
    return times


def _turn_figures(side: str, turn: int, times: list[float]) -> dict[str, Any]:
    name, value = tail(times)
    p50 = percentile(times, 50)
    most = max(times)
    say(f"  {side} turn {turn + 1}: p50 {p50:.1f} ms, {name} {value:.1f} ms, max {most:.1f} ms")
    return {"p50": p50, "tail": value, "tail_name": name, "max": most}


# --- the peer: a raw asyncua client ---


class Peer:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.loop = asyncio.new_event_loop()
        self.client: Client | None = None
        self.pending: set[Any] = set()

    async def start(self) -> None:
        self.client = Client(self.endpoint)
        await self.client.connect()
        interlock = self.client.get_node("ns=2;s=Plant.Interlock")
        pressure = self.client.get_node("ns=2;s=Plant.Pressure")
        pending = self.pending

        class Handler:
            def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
                if isinstance(value, float) and value >= 10.0:
                    task = asyncio.ensure_future(interlock.write_value(TRUE))
                    pending.add(task)
                    task.add_done_callback(pending.discard)

        # The hub's subscription, call for call (connectors/plc/opcua.py).
        subscription = await self.client.create_subscription(INTERVAL_MS, Handler())
        await subscription.subscribe_data_change(
            pressure, queuesize=QUEUE_SIZE, sampling_interval=float(SAMPLING_MS)
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.disconnect()


def peer_turn(plc: SafetyPlc, turn: int) -> dict[str, Any]:
    peer = Peer(plc.endpoint)
    thread = threading.Thread(target=peer.loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(peer.start(), peer.loop).result(30)
    time.sleep(0.5)
    try:
        times = _measure(plc, turn, lambda: time.sleep(0.15), lambda: time.sleep(0.05))
    finally:
        asyncio.run_coroutine_threadsafe(peer.stop(), peer.loop).result(30)
        peer.loop.call_soon_threadsafe(peer.loop.stop)
        thread.join(10)
    return _turn_figures("peer", turn, times)


# --- the hub ---


class HubSide:
    """One hub for every turn; its device is enabled only during its own turns."""

    def __init__(self, plc: SafetyPlc, data_dir: Path) -> None:
        env = {"HUB_DATA_DIR": str(data_dir), "HUB_LOG_LEVEL": "WARNING",
               "HUB_ANCHOR_INTERVAL": "3600"}  # fmt: skip
        if os.environ.get("HUB_BENCH_DATABASE_URL"):
            env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
        self.plc = plc
        self.hub = build(load_settings(env))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(_prepare(self.hub, plc.endpoint))
        self.settings = {**SUBSCRIPTION, **self.call(_database_settings(self.hub))}
        # As the app's lifespan does once the hub has started (hub/api/app.py): what is
        # loaded now lives as long as the process, out of the collector's generations.
        gc.collect()
        gc.freeze()

    def call(self, coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def turn(self, turn: int) -> dict[str, Any]:
        hub = self.hub
        self.call(_enable(hub, True))
        try:
            times = _measure(
                self.plc,
                turn,
                lambda: self.call(_settled(hub)),
                lambda: self.call(_waiting_for_ack(hub)),
            )
        finally:
            self.call(_enable(hub, False))
        return _turn_figures("hub", turn, times)

    def close(self) -> None:
        self.call(self.hub.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _prepare(hub: Any, endpoint: str) -> None:
    await hub.start(run_workers=True)
    await ensure_platform_admin(hub, "bench", "a-long-bench-password")
    tenant = await hub.tenants.create("acme", "Acme", SYSTEM)
    tags = [
        {"name": "pressure", "node_id": "ns=2;s=Plant.Pressure", "datatype": "float64"},
        {"name": "interlock", "node_id": "ns=2;s=Plant.Interlock", "datatype": "bool",
         "writable": True},
    ]  # fmt: skip
    device = {"name": "boiler-1", "protocol": "opcua", "endpoint": endpoint, "tags": tags,
              "enabled": False,
              "security": {"publishing_interval_ms": INTERVAL_MS,
                           "sampling_interval_ms": SAMPLING_MS}}  # fmt: skip
    await hub.plc.devices.create(tenant, device, SYSTEM)
    params = {
        "area_id": "boiler-house",
        "safety_level": "medium",  # no override key task: each run ends after the ack
        "monitor_window_s": 0.1,
        "sensors": [{"device": "boiler-1", "tag": "pressure", "hi": 8.0, "hihi": 10.0}],
        "interlocks": [{"device": "boiler-1", "tag": "interlock", "value": True}],
        "override_key": "a-bench-override-key",
    }
    await hub.packs.install(tenant, "safety-monitoring", params, SYSTEM)


async def _database_settings(hub: Any) -> dict[str, str]:
    """The durability the hub's writes run with, read back from the connection they
    commit on."""
    inline = hub.uow.inline
    if inline is not None:  # SQLite: one connection takes every write made on the loop
        async with inline.write_lock():  # the writers' turn, so the connection is free
            with inline.write.connect() as conn:
                return sqlite_settings(conn.connection.dbapi_connection)
    async with hub.uow(write=True) as uow:
        conn = uow.tenants._conn  # every repository of a unit shares its connection
        commit = (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar()
        return {"synchronous_commit": str(commit)}


async def _enable(hub: Any, on: bool) -> None:
    tenant = await hub.tenants.get("acme")
    await hub.plc.devices.update(tenant, "boiler-1", {"enabled": on}, SYSTEM)
    if on:
        # While the device was off its sensor read bad, and the pack's 5-minute health
        # check may have raised a fault run; it ends at its next look (30 s timer) at good
        # values. No run of it may be busy while the hub's excursions are measured.
        await _settled(hub, within_s=90)
        await asyncio.sleep(0.5)  # as the peer: connected and subscribed a while


async def _waiting_for_ack(hub: Any) -> None:
    """Outside the measured time: wait until the run has read its write back and waits
    for the operator's acknowledgement."""
    tenant = await hub.tenants.get("acme")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs, _ = await hub.workflows.runs(tenant, "waiting", "safety-monitoring", None, 10)
        if any(r["current_steps"] == ["wait_for_acknowledgment"] for r in runs):
            return
        await asyncio.sleep(0.01)
    raise RuntimeError("no run waits for the acknowledgement")


async def _settled(hub: Any, within_s: float = 60) -> None:
    """Wait until the hub sees the reset (pressure back to 5, the interlock false), then
    do the operator's part (acknowledge the alarm), then wait until every run has
    finished: its monitoring sees the pressure back inside its limits, the run ends."""
    tenant = await hub.tenants.get("acme")
    deadline = time.monotonic() + within_s
    while True:
        pressure = await hub.plc.devices.read_tag(tenant, "boiler-1", "pressure")
        interlock = await hub.plc.devices.read_tag(tenant, "boiler-1", "interlock")
        if pressure.value == 5.0 and interlock.value is False:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the hub did not see the reset")
        await asyncio.sleep(0.02)
    for alarm in (await hub.plc.alarms.page(tenant, "unacknowledged", None, 10)).items:
        await hub.plc.alarms.ack(tenant, alarm["id"], "bench", OPERATOR)
    while await _busy(hub, tenant):
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs still busy after {within_s} s")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the alarm's clear is stored and published


async def _busy(hub: Any, tenant: Any) -> bool:
    """Some run is running or waiting."""
    for status in ("running", "waiting"):
        if (await hub.workflows.runs(tenant, status, None, None, 1))[0]:
            return True
    return False


def main() -> int:
    plc = SafetyPlc(free_port())
    plc.start()
    count = turns()
    load_before = os.getloadavg()[0]
    say(f"safety: {count} turns per side of {EXCURSIONS} excursions (+{WARMUP} warm-up)")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            hub = HubSide(plc, Path(tmp))
            try:
                runs = alternate(
                    {"hub": hub.turn, "peer": lambda turn: peer_turn(plc, turn)}, count, log=say
                )
            finally:
                hub.close()
    finally:
        plc.stop()
    tail_name = runs["hub"][0]["tail_name"]
    result = comparison(
        bench="safety",
        metric=f"{tail_name}_ms",
        unit="ms",
        hub=[r["tail"] for r in runs["hub"]],
        peer=[r["tail"] for r in runs["peer"]],
        peer_name="asyncua client writing on data change",
        hub_settings=hub.settings,
        peer_settings=SUBSCRIPTION,
        higher_is_better=False,
        digits=1,
        hub_p50_ms=summary([r["p50"] for r in runs["hub"]], 1),
        peer_p50_ms=summary([r["p50"] for r in runs["peer"]], 1),
        hub_max_ms=round(max(r["max"] for r in runs["hub"]), 1),
        peer_max_ms=round(max(r["max"] for r in runs["peer"]), 1),
        excursions=EXCURSIONS,
        warmup=WARMUP,
        random_phase_ms=[0, INTERVAL_MS],
        target_p99_ms=TARGET_P99_MS,
        # the machine's 1-minute load at the start and the end: on a shared machine the
        # hub's side (milliseconds of CPU per excursion) suffers from it, the peer's not
        loadavg_1m=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        cores=os.cpu_count(),
        database="postgresql" if os.environ.get("HUB_BENCH_DATABASE_URL") else "sqlite",
    )
    hub_tail, peer_tail = result["hub"], result["peer"]
    result["hub_over_peer"] = round(hub_tail / peer_tail, 2) if peer_tail else None
    result["meets_target"] = tail_name == "p99" and hub_tail <= TARGET_P99_MS
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
