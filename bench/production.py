"""Production orders through the production-control pack against the same ERP and PLC
calls made by a plain script: orders per minute, and release -> PLC START latency.

Peers, the same for both sides and started once: the sample ERP (the SAP CAP service of
connectors/enterprise/sample_erp, CSRF on, Basic auth) and the plant simulator's
production line over Modbus TCP (connectors/plc/plant_sim.py, in a process of its own) at
TIME_SCALE 100,000 with orders of 10 units, so a batch is made in microseconds and what
is measured is the flow, not the line.

Per turn, untimed first: ORDERS fresh released orders (`--orders N`, or
HUB_BENCH_PRODUCTION_ORDERS; default 200) with two components each, in stock, created
through the ERP's API. Then, timed, the orders one after the other on the one line, on
both sides (concurrency 1: the line runs one batch at a time and the pack does not queue
a line's orders, so a second run would find the line busy; the plain script is a loop):

- hub: the production-control pack installed on a hub with its workers (SQLite, WAL +
  synchronous NORMAL, read back), the line as Modbus device `line-1` polled every
  POLL_MS (50 ms, as the pack's tests), the ERP as connection `cap` (profile sample_erp).
  Each order: its release published on production/L1/orders/released (the events
  service behind `POST .../events`, audited), then the whole run: prepare_production ->
  check_materials -> configure_machines (4 writes read back) -> verify_configuration ->
  start_production -> monitor_production -> complete_production (the confirmation; the
  order completed with its ETag: the confirmation moved it, so 412, read, again; the
  stock) -> report_production (the report, the stakeholders told) -> done; the next
  order is released when the run is `completed` (its completion event, then the run's
  status read every 2 ms).
- peer ("plain script"): bench/_production_line.py ScriptSide, httpx + pymodbus on one
  event loop making the same ERP and PLC requests per order (order, components, stock per
  component; the four recipe registers written and read back; the state until READY;
  START; the counters until COMPLETE, polled every 50 ms as the pack's own loops wait;
  the confirmation; the completion with If-Match, 412, re-read, again; the produced
  material's stock), with no durability and no audit.

Metric: orders per minute over a turn (ORDERS / the turn's wall time). Latency: from the
release (hub: just before the publish; script: as it takes the order) to the START coil
write seen by the simulator (when the server receives it), per order; p50 and p99 per
turn, medians over the turns. The ERP's request counts per turn (its /-/stats) show both
sides make the same calls; per-step timings come from the hub's run history and the
script's own clock.

Method (bench/_method.py): one untimed warm-up turn of each side (WARMUP orders), then
`turns()` alternating turns (HUB_BENCH_TURNS, at least 3), medians with the min-max
spread and every run. While the script runs, the hub's device is disabled (the hub does
not poll the line), as bench/safety.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _hub_settings import commit_facts, database_settings, hub_env
from _method import alternate, comparison, percentile, summary, tail, turns
from _production_line import (
    MATERIAL,
    PLANT,
    ErpOrders,
    LineProcess,
    LoopThread,
    ScriptSide,
    log,
)

from connectors.enterprise.sample_server import SampleErpUnavailable, running_sample_erp
from connectors.plc.plant_sim import LINE_MODBUS_TAGS
from hub.bootstrap import build
from hub.domain.audit import SYSTEM, ActorType, RequestContext
from hub.domain.plc import Quality
from hub.settings import load_settings

ACCEPTS_ARGS = True  # bench/run.py passes `--orders N` on
DEFAULT_ORDERS = 200
WARMUP = 20
QUANTITY = 10
TIME_SCALE = 100_000.0
POLL_MS = 50
LINE = "L1"
WORK_CENTER = "BENCHL1"  # the pack's; the bench's orders carry none (see ErpOrders.create)
RECIPE = {"speed_sp": 600.0, "temperature_sp": 180.0}
PACK = "production-control"
OPERATOR = RequestContext("bench-operator", ActorType.USER)
ORDER_TIMEOUT_S = 60.0
TARGET_RATIO = 0.5


@dataclass
class HubOrder:
    order_id: str
    run_id: str
    began: float  # perf_counter just before the release is published
    total_s: float
    released_wall: float


@dataclass
class Turn:
    wall_s: float
    release_to_start_ms: list[float]
    erp_requests: dict[str, Any]
    phases_ms: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def per_minute(self, orders: int) -> float:
        return orders * 60.0 / self.wall_s


# --- the hub -----------------------------------------------------------------------------


class HubSide(LoopThread):
    """One hub for every turn; its device is enabled only during its own turns."""

    def __init__(self, erp: Any, line: LineProcess, data_dir: Path) -> None:
        super().__init__()
        env = hub_env(
            str(data_dir),
            HUB_LOG_LEVEL="WARNING",
            HUB_ANCHOR_INTERVAL="3600",
            HUB_EGRESS_ALLOW="127.0.0.1",  # the ERP and the line listen on loopback
        )
        if os.environ.get("HUB_BENCH_DATABASE_URL"):
            env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
        self.hub = build(load_settings(env))
        self.line = line
        self.tenant: Any = None
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self.call(self._prepare(erp))
        self.settings = self.call(database_settings(self.hub))
        # As the app's lifespan does once the hub has started (hub/api/app.py).
        gc.collect()
        gc.freeze()

    async def _prepare(self, erp: Any) -> None:
        hub = self.hub
        await hub.start(run_workers=True)
        self.tenant = tenant = await hub.tenants.create("acme", "Acme", SYSTEM)
        device = {
            "name": "line-1",
            "protocol": "modbus",
            "endpoint": self.line.endpoint,
            "poll_interval_ms": POLL_MS,
            "tags": LINE_MODBUS_TAGS,
        }
        await hub.plc.devices.create(tenant, device, SYSTEM)
        connection = {
            "name": "cap",
            "kind": "odata",
            "url": erp.v4_url,
            "version": "v4",
            "auth": {"type": "basic", "username": erp.user, "password": erp.password},
            "profile": "sample_erp",
        }
        await hub.connections.create(tenant, connection, SYSTEM)
        params = {
            "line_id": LINE,
            "erp": {"connection": "cap", "plant": PLANT, "work_center": WORK_CENTER},
            "recipes": {MATERIAL: dict(RECIPE)},
            "expected_rate": RECIPE["speed_sp"] * TIME_SCALE,
            "rate_tolerance": 0.5,
            "monitor_interval_s": 0.2,  # the least the pack takes
        }
        await hub.packs.install(tenant, PACK, params, SYSTEM)
        hub.bus.subscribe(f"production/{LINE}/orders/completed", self._completed, tenant=tenant.id)
        await self._ready()

    async def _completed(self, _tenant: str, _topic: str, payload: Any) -> None:
        waiter = self._waiting.pop(str(payload.get("order_id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(str(payload["run_id"]))

    async def _ready(self) -> None:
        """Until the hub reads the line (a connected device, a good reading)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reading = await self.hub.plc.devices.read_tag(self.tenant, "line-1", "state")
            if reading.quality is Quality.GOOD and reading.ts is not None:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the hub does not read the line")

    async def _enable(self, on: bool) -> None:
        await self.hub.plc.devices.update(self.tenant, "line-1", {"enabled": on}, SYSTEM)
        if on:
            await self._ready()
            await asyncio.sleep(0.5)  # polling a while, as in every turn

    async def _order(self, order_id: str) -> HubOrder:
        hub, tenant = self.hub, self.tenant
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[order_id] = waiter
        wall, began = time.time(), time.perf_counter()
        topic = f"production/{LINE}/orders/released"
        await hub.events.publish(tenant, topic, {"order_id": order_id}, OPERATOR)
        try:
            run_id = await asyncio.wait_for(waiter, ORDER_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"order {order_id}: {await self._stuck(order_id)}") from None
        while not _finished(run := await hub.workflows.run(tenant, run_id)):
            await asyncio.sleep(0.002)
        ended = time.perf_counter()
        if run["status"] != "completed":
            raise RuntimeError(f"order {order_id}: run {run_id} {run['status']}: {run['error']}")
        return HubOrder(order_id, run_id, began, ended - began, wall)

    async def _stuck(self, order_id: str) -> str:
        runs, _ = await self.hub.workflows.runs(self.tenant, None, PACK, None, 20)
        for run in runs:
            if str(run["input"].get("order_id")) == order_id:
                return f"run {run['id']} {run['status']} at {run['current_steps']}: {run['error']}"
        return "no run started"

    async def _turn(self, ids: list[str]) -> tuple[float, float, list[HubOrder]]:
        await self._enable(True)
        try:
            cpu, began = time.process_time(), time.perf_counter()
            done = [await self._order(order_id) for order_id in ids]
            return time.perf_counter() - began, time.process_time() - cpu, done
        finally:
            await self._enable(False)

    async def _phases(self, orders: list[HubOrder]) -> dict[str, Any]:
        """Per step of the runs (medians, ms): `wait` from the previous event to the
        activity's start, `work` from its start to its completion; the release to the run's
        start, the run's start to its end, the order as the bench timed it, and the time
        the configuration's verification and the start spent (mostly waiting to see the
        line's answer in the polled readings)."""
        waits: dict[str, list[float]] = defaultdict(list)
        works: dict[str, list[float]] = defaultdict(list)
        to_run, runs = [], []
        for order in orders:
            async with self.hub.uow() as uow:
                events = await uow.workflows.events(order.run_id)
            previous, started = None, {}
            for event in events:
                ts = event.ts.timestamp()
                kind = event.type.value
                if kind == "RunStarted":
                    to_run.append(ts - order.released_wall)
                    first = ts
                elif kind == "ActivityStarted" and previous is not None:
                    waits[str(event.step)].append(ts - previous)
                    started[event.step] = ts
                elif kind == "ActivityCompleted" and event.step in started:
                    works[str(event.step)].append(ts - started.pop(event.step))
                elif kind == "RunCompleted":
                    runs.append(ts - first)
                previous = ts
        steps = {
            step: {
                "wait": _ms(statistics.median(waits[step])),
                "work": _ms(statistics.median(works.get(step) or [0.0])),
            }
            for step in waits
        }
        line_wait = sum(
            steps.get(step, {}).get("work", 0.0)
            for step in ("verify_configuration", "start_production")
        )
        return {
            "steps_ms": steps,
            "verify_and_start_ms": round(line_wait, 1),
            "release_to_run_start_ms": _ms(statistics.median(to_run)),
            "run_ms": _ms(statistics.median(runs)),
            "order_ms": _ms(statistics.median(o.total_s for o in orders)),
        }

    def turn(self, erp_orders: ErpOrders, erp: Any, count: int, detail: bool) -> Turn:
        ids = erp_orders.fresh_ids(count)
        asyncio.run(erp_orders.create(ids, QUANTITY))
        erp.reset()
        wall, cpu, orders = self.call(self._turn(ids))
        requests = erp.stats()
        figures = self.call(self._phases(orders)) if detail else {}
        latency = release_to_start(self.line, [(o.order_id, o.began) for o in orders])
        figures["cpu_ms_per_order"] = _ms(cpu / count)
        return Turn(wall, latency, requests, figures=figures)

    def stop(self) -> None:
        self.call(self.hub.close())
        self.close()


def release_to_start(line: LineProcess, orders: list[tuple[str, float]]) -> list[float]:
    """Per order, ms from its release to its batch's START as the line received it."""
    starts = line.starts()
    missing = [order_id for order_id, _ in orders if int(order_id) not in starts]
    if missing:
        raise RuntimeError(f"the line saw no START for orders {missing[:5]}")
    return [(starts[int(order_id)] - began) * 1000 for order_id, began in orders]


def _finished(run: dict[str, Any]) -> bool:
    return run["status"] in ("completed", "failed", "cancelled")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# --- the plain script --------------------------------------------------------------------


def script_turn(
    script: ScriptSide, line: LineProcess, erp_orders: ErpOrders, erp: Any, count: int
) -> Turn:
    ids = erp_orders.fresh_ids(count)
    asyncio.run(erp_orders.create(ids, QUANTITY))
    erp.reset()
    wall, cpu, orders = script.call(script.run(ids))
    requests = erp.stats()
    phases: dict[str, list[float]] = defaultdict(list)
    for order in orders:
        for name, seconds in order.phases.items():
            phases[name].append(seconds)
    return Turn(
        wall,
        release_to_start(line, [(o.order_id, o.began) for o in orders]),
        requests,
        phases_ms={k: _ms(statistics.median(v)) for k, v in phases.items()},
        figures={
            "order_ms": _ms(statistics.median(o.total_s for o in orders)),
            "cpu_ms_per_order": _ms(cpu / count),
        },
    )


def _say(side: str, turn: Turn, count: int) -> None:
    name, p99 = tail(turn.release_to_start_ms)
    p50 = percentile(turn.release_to_start_ms, 50) or 0.0
    log(
        f"  {side}: {turn.per_minute(count):,.0f} orders/min ({turn.wall_s:.1f} s), "
        f"release->START p50 {p50:.1f} ms, {name} {p99:.1f} ms, "
        f"ERP requests {turn.erp_requests.get('requests')}"
    )


def _requests_per_order(turn: Turn, count: int) -> dict[str, Any]:
    stats = turn.erp_requests
    by_method = {k: round(v / count, 2) for k, v in (stats.get("byMethod") or {}).items()}
    return {"requests": round(stats.get("requests", 0) / count, 2), "by_method": by_method}


def run(orders: int) -> dict[str, Any]:
    warmup = min(WARMUP, orders)
    with (
        tempfile.TemporaryDirectory(prefix="bench-production-") as tmp,
        running_sample_erp(Path(tmp) / "sample_erp.log", csrf=True) as erp,
    ):
        line = LineProcess(TIME_SCALE)
        hub: HubSide | None = None
        script: ScriptSide | None = None
        try:
            erp_orders = ErpOrders(erp)
            asyncio.run(erp_orders.stock())
            hub = HubSide(erp, line, Path(tmp) / "hub")
            script = ScriptSide(erp, line.endpoint, RECIPE)
            count = turns()
            log(
                f"production: {orders} orders a turn, {count} turns a side, "
                f"warm-up {warmup} each; time_scale {TIME_SCALE:g}"
            )
            hub_side, script_side = hub, script
            hub_side.turn(erp_orders, erp, warmup, False)
            script_turn(script_side, line, erp_orders, erp, warmup)
            load_before = os.getloadavg()[0]

            def hub_turn(_turn: int) -> Turn:
                result = hub_side.turn(erp_orders, erp, orders, True)
                _say("hub", result, orders)
                return result

            def peer_turn(_turn: int) -> Turn:
                result = script_turn(script_side, line, erp_orders, erp, orders)
                _say("script", result, orders)
                return result

            results = alternate({"hub": hub_turn, "peer": peer_turn}, count, log=log)
            load_after = os.getloadavg()[0]
            settings = hub.settings
        finally:
            if script is not None:
                script.close()
            if hub is not None:
                hub.stop()
            line.stop()
    return _result(results, orders, warmup, settings, [load_before, load_after])


def _result(
    results: dict[str, list[Turn]],
    orders: int,
    warmup: int,
    settings: dict[str, Any],
    load: list[float],
) -> dict[str, Any]:
    hub, peer = results["hub"], results["peer"]
    tails = {side: [tail(t.release_to_start_ms) for t in runs] for side, runs in results.items()}
    tail_name = tails["hub"][0][0]
    p50s = {
        side: [percentile(t.release_to_start_ms, 50) or 0.0 for t in runs]
        for side, runs in results.items()
    }
    concurrency = (
        "1 on both sides: one line, one order at a time; the next order is released when "
        "the previous one's run has completed (hub) or its last request answered (script)"
    )
    common = {
        "concurrency": concurrency,
        "orders_per_turn": orders,
        "order_quantity": QUANTITY,
        "time_scale": TIME_SCALE,
        "erp": "sample ERP (SAP CAP), OData V4, Basic auth, CSRF on",
        "plc": "plant simulator line over Modbus TCP",
    }
    result = comparison(
        bench="production",
        metric=(
            f"orders per minute through the production-control flow, {orders} released "
            "orders one after the other (release -> materials -> configure with read-back "
            "-> verify -> START -> monitor -> confirmation -> completion with ETag)"
        ),
        unit="orders/min",
        hub=[t.per_minute(orders) for t in hub],
        peer=[t.per_minute(orders) for t in peer],
        peer_name="plain async script (httpx + pymodbus), same requests, no durability",
        hub_settings={
            **common,
            **settings,
            **commit_facts(settings),
            "device_poll_ms": POLL_MS,
            "monitor_interval_s": 0.2,
            "audit": "every ERP and PLC write, the release, the confirmation, the report",
        },
        peer_settings={**common, "plc_poll_s": 0.05, "durability": "none", "audit": "none"},
        digits=1,
        release_to_start_ms={
            "measured": "release (publish / taking the order) -> START coil write received "
            "by the simulator",
            "tail": tail_name,
            "hub_p99": summary([v for _, v in tails["hub"] if v is not None], 1),
            "peer_p99": summary([v for _, v in tails["peer"] if v is not None], 1),
            "hub_p50": summary(p50s["hub"], 1),
            "peer_p50": summary(p50s["peer"], 1),
        },
        hub_steps_last_turn=hub[-1].figures,
        peer_phases_ms_last_turn={**peer[-1].phases_ms, **peer[-1].figures},
        erp_requests_per_order={
            "hub": _requests_per_order(hub[-1], orders),
            "peer": _requests_per_order(peer[-1], orders),
        },
        warmup_orders=warmup,
        target_ratio=TARGET_RATIO,
        loadavg_1m=[round(x, 2) for x in load],
        cores=os.cpu_count(),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    result["meets_target"] = result["ratio"] >= TARGET_RATIO
    return result


def _orders(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py production")
    parser.add_argument("--orders", type=int, help=f"orders a turn (default {DEFAULT_ORDERS})")
    args = parser.parse_args(argv or [])
    raw = os.environ.get("HUB_BENCH_PRODUCTION_ORDERS", "").strip()
    count = args.orders if args.orders is not None else int(raw or DEFAULT_ORDERS)
    if not 1 <= count <= 9_999:
        parser.error("--orders must be 1..9999")
    return count


def main(argv: list[str] | None = None) -> int:
    orders = _orders(argv)
    try:
        result = run(orders)
    except SampleErpUnavailable as exc:
        log(f"FAILED: {exc}")
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
