"""Safety path latency: 100 pressure excursions past HiHi on an OPC-UA server (50 ms
publishing interval); the time from the server-side value change to the interlock being
written back, observed on the server.

hub:  subscription -> alarm evaluation -> bus -> trigger -> run start -> validate ->
      assess -> emergency response -> activate_safety_systems -> write_tag (read back)
peer: a plain asyncua client subscribed at the same interval that writes the interlock
      on the data change (the floor: what the protocol and the interval cost).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _safety_server import SafetyPlc
from asyncua import Client, ua

from connectors.plant_sim import free_port
from hub.bootstrap import build, ensure_platform_admin
from hub.domain.audit import SYSTEM, ActorType, RequestContext
from hub.settings import load_settings

EXCURSIONS = int(os.environ.get("HUB_BENCH_EXCURSIONS", "100"))
INTERVAL_MS = 50
TARGET_P99_MS = 250
TRUE = ua.Variant(True, ua.VariantType.Boolean)
OPERATOR = RequestContext("bench-operator", ActorType.USER)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _measure(plc: SafetyPlc, settle: Any, before_reset: Any) -> list[float]:
    times = []
    for index in range(EXCURSIONS):
        times.append(plc.excursion() * 1000)
        before_reset()  # the writer has read its write back: resetting now is no refusal
        plc.reset()
        settle()
        if index % 20 == 19:
            say(f"  {index + 1}/{EXCURSIONS}: p50 {statistics.median(times):.1f} ms")
    return times


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

        params = ua.CreateSubscriptionParameters(RequestedPublishingInterval=INTERVAL_MS)
        self.subscription = await self.client.create_subscription(params, Handler())
        await self.subscription.subscribe_data_change(pressure, sampling_interval=INTERVAL_MS / 2)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.disconnect()


def run_peer(plc: SafetyPlc) -> list[float]:
    import threading

    peer = Peer(plc.endpoint)
    thread = threading.Thread(target=peer.loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(peer.start(), peer.loop).result(30)
    time.sleep(0.5)
    try:
        return _measure(plc, lambda: time.sleep(0.15), lambda: time.sleep(0.05))
    finally:
        asyncio.run_coroutine_threadsafe(peer.stop(), peer.loop).result(30)
        peer.loop.call_soon_threadsafe(peer.loop.stop)


# --- the hub ---


def run_hub(plc: SafetyPlc, data_dir: Path) -> list[float]:
    env = {"HUB_DATA_DIR": str(data_dir), "HUB_LOG_LEVEL": "WARNING",
           "HUB_ANCHOR_INTERVAL": "3600"}  # fmt: skip
    if os.environ.get("HUB_BENCH_DATABASE_URL"):
        env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
    hub = build(load_settings(env))
    loop = asyncio.new_event_loop()
    import threading

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    call(_prepare(hub, plc.endpoint))
    try:
        return _measure(plc, lambda: call(_settled(hub)), lambda: call(_acknowledged(hub)))
    finally:
        call(hub.close())
        loop.call_soon_threadsafe(loop.stop)


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
              "security": {"publishing_interval_ms": INTERVAL_MS,
                           "sampling_interval_ms": INTERVAL_MS // 2}}  # fmt: skip
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
    await _settled(hub)


async def _acknowledged(hub: Any) -> None:
    """The operator's part, outside the measured time: once the run has read its write
    back and waits, acknowledge the alarm, so the run finishes (no waits pile up)."""
    tenant = await hub.tenants.get("acme")
    for _ in range(1000):
        runs, _ = await hub.workflows.runs(tenant, "waiting", "safety-monitoring", None, 10)
        if any(r["current_steps"] == ["wait_for_acknowledgment"] for r in runs):
            break
        await asyncio.sleep(0.01)
    alarm = (await hub.plc.alarms.list(tenant, "all", None, 1)).items[0]
    await hub.plc.alarms.ack(tenant, alarm["id"], "bench", OPERATOR)


async def _settled(hub: Any) -> None:
    """Wait until the hub sees the reset (pressure back to 5, the interlock false) and
    every run has finished."""
    tenant = await hub.tenants.get("acme")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [
            r
            for status in ("running", "waiting")
            for r in (await hub.workflows.runs(tenant, status, None, None, 10))[0]
        ]
        if not busy:
            break
        await asyncio.sleep(0.02)
    while time.monotonic() < deadline:
        pressure = await hub.plc.devices.read_tag(tenant, "boiler-1", "pressure")
        interlock = await hub.plc.devices.read_tag(tenant, "boiler-1", "interlock")
        if pressure.value == 5.0 and interlock.value is False:
            await asyncio.sleep(0.1)  # the alarm's clear is stored and published
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("the hub did not see the reset")


def main() -> int:
    plc = SafetyPlc(free_port())
    plc.start()
    try:
        say(f"hub: safety-monitoring pack, {EXCURSIONS} excursions")
        with tempfile.TemporaryDirectory() as tmp:
            hub = run_hub(plc, Path(tmp))
        say(f"peer: raw asyncua client, {EXCURSIONS} excursions")
        peer = run_peer(plc)
    finally:
        plc.stop()
    hub_p50, hub_p99 = percentile(hub, 50), percentile(hub, 99)
    peer_p50, peer_p99 = percentile(peer, 50), percentile(peer, 99)
    result = {
        "bench": "safety",
        "metric": "p99_ms",
        "hub": round(hub_p99, 1),
        "peer": round(peer_p99, 1),
        "peer_name": "asyncua client writing on data change",
        "ratio": round(hub_p99 / peer_p99, 2),
        "unit": "ms",
        "p50_ms": round(hub_p50, 1),
        "p99_ms": round(hub_p99, 1),
        "peer_p50_ms": round(peer_p50, 1),
        "peer_p99_ms": round(peer_p99, 1),
        "max_ms": round(max(hub), 1),
        "excursions": EXCURSIONS,
        "publishing_interval_ms": INTERVAL_MS,
        "target_p99_ms": TARGET_P99_MS,
        "database": "postgresql" if os.environ.get("HUB_BENCH_DATABASE_URL") else "sqlite",
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
