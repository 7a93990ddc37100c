"""Costs that must not grow with the work (issue 13, item 5): each at two sizes, in one run,
one tenant, SQLite (WAL, synchronous=NORMAL, as the hub configures it).

- **runs list:** `GET /api/v1/tenants/{t}/runs?limit=50`, and the same with
  `&status=waiting`, with 100 runs stored (40 completed, 60 waiting) and with 10,000 (all
  waiting). `runs_list_growth` = p50 with 10,000 / p50 with 100 (`_waiting_growth` for the
  status filter). Bar: <= 2 (pages must cost the same at any size).
- **event wake:** one bus event (`hub.bus.publish`, as a device's sample or a run's
  `emit_event` is published) waking one run that waits for its topic, timed from the
  publish until the run is seen completed (one service read), with 10 and with 10,000
  other runs waiting on other topics. `event_wake_growth` = p50 large / p50 small. Bar:
  <= 2. A wake not seen within WAKE_TIMEOUT_S counts as a failure (`event_wake_failures`).
- **history:** one day of one tag at 10 samples/s, stored as the flusher stores it (a
  chunk per half second: 172,800 chunks), `GET .../history?bucket=1m` over the day:
  `history_day_buckets` (bar: 1,440, and `truncated` false) and the request's latency.

There is no outside peer: the JSON's `peer` is the small size (the baseline) and `hub` the
large size, for the headline metric `runs_list_growth` (p50 ms; `ratio` = small / large as
for every latency, so 1.0 means no growth). All three measures are in `measurements`
with per-size p50/p95 over all samples, their counts, and the median of the per-turn p50s
with its spread (bench/_method.py `summary`).

Path: requests go through the whole HTTP stack in process (litestar's AsyncTestClient:
ASGI app, token check, RBAC, handler, store; no sockets), on the same event loop as the
hub and its workers. Seeding is fast and bypasses the API: runs are rows cloned from a run
the service made (with a wait row for each run waiting on an event), chunks are written
through the store. The two sizes take alternating turns (small, large, large, small, ...;
HUB_BENCH_TURNS >= 3): before a size's turn the other size's rows are deleted and its own
inserted, and each turn warms up before it measures. The runs a wake measurement makes are
deleted after it, so the list sizes stay exact.

Knobs: HUB_BENCH_SCALING_REQUESTS (list requests per variant, size and turn; default
80), HUB_BENCH_SCALING_WAKES (wakes per size and turn; 30), HUB_BENCH_SCALING_HISTORY
(day queries per turn; 4).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

from _method import comparison, percentile, sqlite_settings, summary, turns
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from hub.api.app import create_app
from hub.bootstrap import Hub, build
from hub.domain.audit import SYSTEM
from hub.domain.ids import new_id
from hub.domain.samples import NUMBER, pack_chunks
from hub.domain.tenancy import Principal, Tenant
from hub.engine import topics
from hub.security.passwords import Argon2Hasher
from hub.services.tenancy.tenants import NewMember
from hub.services.workflows.service import StartRun
from hub.settings import load_settings
from hub.store.tables.core import (
    user_tasks,
    workflow_events,
    workflow_runs,
    workflow_tasks,
    workflow_waits,
)
from hub.store.tables.packs import incidents

TENANT = "bench"
USER, PASSWORD = "bench-engineer", "bench-password-1234"
SIZES = ("small", "large")
RUNS_STORED = {"small": 100, "large": 10_000}
WAITING_ON_EVENTS = {"small": 10, "large": 10_000}
SMALL_COMPLETED = 40  # of the small size's 100 runs; the other 60 wait (10 on events)
DAY_S, RATE, FLUSH_SAMPLES = 86_400, 10, 5  # one day, 10 samples/s, a chunk per 0.5 s
WAKE_TIMEOUT_S = 5.0
WARMUP = 5
BARS = {"runs_list_growth": 2.0, "event_wake_growth": 2.0, "history_day_buckets": 1440}
WAITER = {
    "name": "bench-waiter",
    "version": "1.0.0",
    "start": "hear",
    "steps": {
        "hear": {"type": "wait", "event": "bench/${input.topic}", "next": "done"},
        "done": {"type": "end"},
    },
}
NOOP = {
    "name": "bench-noop",
    "version": "1.0.0",
    "start": "done",
    "steps": {"done": {"type": "end"}},
}


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[bench scaling] {message}", file=sys.stderr, flush=True)


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise BenchError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise BenchError(f"{name}={raw!r} must be positive")
    return value


async def _timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = await call()
    return (time.perf_counter() - began) * 1000.0, result


# --- seeding ---


class Seed:
    """The rows of each size: cloned from runs the service made, inserted and deleted
    wholesale when the turn changes size."""

    def __init__(self, hub: Hub, tenant: Tenant) -> None:
        self.hub, self.tenant = hub, tenant
        self.rows: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self.current: str | None = None

    async def prepare(self) -> None:
        waiting = await self._template(WAITER, {"topic": "template"}, "waiting")
        done = await self._template(NOOP, {}, "completed")
        wait_row = await self._wait_row(waiting["id"])
        await forget(self.hub, [waiting["id"], done["id"]])
        self.rows["small"] = _clones(done, waiting, wait_row, SMALL_COMPLETED, 10, 50)
        self.rows["large"] = _clones(done, waiting, wait_row, 0, 10_000, 0)
        for size in SIZES:
            runs, waits = self.rows[size]
            if len(runs) != RUNS_STORED[size] or len(waits) != WAITING_ON_EVENTS[size]:
                raise BenchError(f"{size}: {len(runs)} runs, {len(waits)} waits")

    async def _template(self, body: dict[str, Any], run_input: Any, status: str) -> Any:
        await self.hub.workflows.publish(self.tenant, body, SYSTEM)
        run, _ = await self.hub.workflows.start(
            self.tenant, StartRun(body["name"], run_input), SYSTEM
        )
        async with self.hub.engine.connect() as conn:
            found = await conn.execute(select(workflow_runs).where(workflow_runs.c.id == run["id"]))
            row = dict(found.one()._mapping)  # the stored row, JSON columns as stored
        if row["status"] != status:
            raise BenchError(f"the {body['name']} template run is {row['status']}, not {status}")
        return row

    async def _wait_row(self, run_id: str) -> dict[str, Any]:
        async with self.hub.engine.connect() as conn:
            found = await conn.execute(
                select(workflow_waits).where(workflow_waits.c.run_id == run_id)
            )
            row = found.first()
        if row is None:
            raise BenchError("the waiting template run has no wait row")
        return dict(row._mapping)

    async def become(self, size: str) -> None:
        """Make the tenant hold exactly this size's seeded rows."""
        if self.current == size:
            return
        async with self.hub.engine.begin() as conn:
            if self.current is not None:
                await _delete_runs(conn, [r["id"] for r in self.rows[self.current][0]])
            runs, waits = self.rows[size]
            for first in range(0, len(runs), 2000):
                await conn.execute(insert(workflow_runs), runs[first : first + 2000])
            for first in range(0, len(waits), 2000):
                await conn.execute(insert(workflow_waits), waits[first : first + 2000])
        self.current = size


def _clones(
    done: dict[str, Any],
    waiting: dict[str, Any],
    wait_row: dict[str, Any],
    completed: int,
    on_events: int,
    on_other: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`completed` completed runs, `on_events` runs waiting on their own topic (with a
    wait row each) and `on_other` runs waiting with no event wait (a timer, a user task)."""
    runs, waits = [], []
    columns = [c.name for c in workflow_runs.columns]
    for i in range(completed + on_events + on_other):
        template = done if i < completed else waiting
        row = {c: template[c] for c in columns}
        row["id"] = new_id()
        if completed <= i < completed + on_events:
            topic = f"other/{i}"
            row["input"] = json.dumps({"topic": topic})
            waits.append(_wait_clone(wait_row, row["id"], f"bench/{topic}"))
        runs.append(row)
    return runs, waits


def _wait_clone(template: dict[str, Any], run_id: str, topic: str) -> dict[str, Any]:
    """A wait row for `topic`, with every column the service derives from the topic."""
    row = {**template, "run_id": run_id, "topic": topic}
    if "topic_key" in row:  # the lookup key of indexed waits (branch h-waits)
        wait_key = getattr(topics, "wait_key", None)
        if wait_key is None:
            raise BenchError("workflow_waits has topic_key but hub.engine.topics no wait_key")
        row["topic_key"] = wait_key(topic)
    unknown = set(row) - {"run_id", "step", "tenant_id", "topic", "match", "topic_key"}
    if unknown:  # a column this bench does not know how to derive: refuse to guess
        raise BenchError(f"workflow_waits has columns the bench cannot seed: {unknown}")
    return row


async def _delete_runs(conn: Any, ids: Sequence[str]) -> None:
    for first in range(0, len(ids), 500):
        some = list(ids[first : first + 500])
        for table in (workflow_waits, workflow_tasks, workflow_events, user_tasks, incidents):
            await conn.execute(delete(table).where(table.c.run_id.in_(some)))
        await conn.execute(delete(workflow_runs).where(workflow_runs.c.id.in_(some)))


async def forget(hub: Hub, ids: Sequence[str]) -> None:
    """Delete runs the bench made (their audit entries stay: the log is append-only)."""
    async with hub.engine.begin() as conn:
        await _delete_runs(conn, ids)


# --- the measures ---


class Measures:
    def __init__(self, hub: Hub, client: AsyncTestClient[Any], tenant: Tenant, token: str):
        self.hub, self.client, self.tenant = hub, client, tenant
        self.headers = {"Authorization": f"Bearer {token}"}
        self.woken = 0

    async def list_runs(self, status: str | None) -> tuple[float, int]:
        url = f"/api/v1/tenants/{TENANT}/runs?limit=50" + (f"&status={status}" if status else "")
        ms, response = await _timed(lambda: self.client.get(url, headers=self.headers))
        if response.status_code != 200:
            raise BenchError(f"GET {url} answered {response.status_code}: {response.text}")
        return ms, len(response.json()["items"])

    async def wake(self) -> float | None:
        """One run waiting on its own topic, then one event on it: ms until the run is seen
        completed, None when it is not within WAKE_TIMEOUT_S. The run is deleted after."""
        self.woken += 1
        topic = f"target/{self.woken}"
        run, _ = await self.hub.workflows.start(
            self.tenant, StartRun("bench-waiter", {"topic": topic}), SYSTEM
        )
        try:
            if run["status"] != "waiting":
                raise BenchError(f"a waiter run is {run['status']}, not waiting")
            began = time.perf_counter()
            await self.hub.bus.publish(f"bench/{topic}", {"n": self.woken}, tenant=self.tenant.id)
            while True:
                seen = await self.hub.workflows.run(self.tenant, run["id"])
                elapsed = time.perf_counter() - began
                if seen["status"] == "completed":
                    return elapsed * 1000.0
                if elapsed > WAKE_TIMEOUT_S:
                    return None
                await asyncio.sleep(0.001)
        finally:
            await forget(self.hub, [run["id"]])


async def _runs_list_turn(m: Measures, count: int, size: str) -> dict[str, list[float]]:
    want = {"all": min(50, RUNS_STORED[size]), "waiting": 50}
    for _ in range(WARMUP):
        await m.list_runs(None)
        await m.list_runs("waiting")
    out: dict[str, list[float]] = {"all": [], "waiting": []}
    for _ in range(count):
        for variant in ("all", "waiting"):  # interleaved, so neither runs on a warmer cache
            ms, items = await m.list_runs(None if variant == "all" else "waiting")
            if items != want[variant]:
                raise BenchError(f"{size}: a {variant} page had {items} runs, not {want[variant]}")
            out[variant].append(ms)
    return out


async def _wake_turn(m: Measures, count: int) -> tuple[list[float], int]:
    for _ in range(2):
        await m.wake()
    samples, failures = [], 0
    for _ in range(count):
        ms = await m.wake()
        if ms is None:
            failures += 1
        else:
            samples.append(ms)
    return samples, failures


# --- history ---


async def _seed_day(hub: Hub, tenant: Tenant, day_us: int) -> int:
    device = await hub.plc.devices.create(
        tenant,
        {
            "name": "meter",
            "protocol": "modbus",
            "endpoint": "modbus-tcp://127.0.0.1:9",  # never polled: the supervisor is off
            "unit_id": 1,
            "tags": [{"name": "flow", "register": "holding", "address": 0, "datatype": "float32"}],
        },
        SYSTEM,
    )
    step = 1_000_000 // RATE
    chunks = 0
    async with hub.uow(write=True) as uow:
        series = (await uow.plc.series(tenant.id, device.id))["flow"]
        for hour in range(24):  # an hour per executemany, as a long run of flushes
            rows = []
            first = hour * 3600 * RATE
            for i in range(first, first + 3600 * RATE, FLUSH_SAMPLES):
                samples = [
                    (day_us + j * step, 50.0 + 20.0 * math.sin(j / 3000.0) + (j % 7) * 0.1, 0)
                    for j in range(i, i + FLUSH_SAMPLES)
                ]
                rows += [(series, *c) for c in pack_chunks(NUMBER, samples)]
            await uow.plc.add_chunks(rows)
            chunks += len(rows)
        await uow.commit()
    return chunks


async def _history_turn(m: Measures, url: str, count: int) -> tuple[list[float], int]:
    samples, buckets = [], 0
    for _ in range(count + 1):  # the first is a warm-up
        ms, response = await _timed(lambda: m.client.get(url, headers=m.headers))
        body = response.json()
        if response.status_code != 200 or body.get("truncated"):
            raise BenchError(f"history answered {response.status_code}: {response.text[:300]}")
        buckets = len(body["items"])
        samples.append(ms)
    return samples[1:], buckets


# --- the run ---


def _figures(per_turn: list[list[float]]) -> dict[str, Any]:
    """p50/p95 over every sample, their count, and the per-turn p50s' median and spread."""
    pooled = [v for turn in per_turn for v in turn]
    return {
        "p50_ms": round(statistics.median(pooled), 3),
        "p95_ms": round(percentile(pooled, 95) or math.nan, 3),
        "samples": len(pooled),
        "turn_p50_ms": summary([statistics.median(t) for t in per_turn], 3),
    }


def _growth(figures: dict[str, dict[str, Any]]) -> float:
    small = figures["small"]["turn_p50_ms"]["median"]
    return round(figures["large"]["turn_p50_ms"]["median"] / small, 3) if small else math.inf


async def _settings(hub: Hub) -> dict[str, str]:
    async with hub.engine.connect() as conn:
        return await conn.run_sync(_pragmas)


def _pragmas(conn: Connection) -> dict[str, str]:
    class Driver:  # sqlite_settings' two PRAGMA reads, on the hub's own pooled connection
        def execute(self, sql: str) -> Any:
            return conn.exec_driver_sql(sql)

    return sqlite_settings(cast(Any, Driver()))


async def _login(client: AsyncTestClient[Any]) -> str:
    response = await client.post(
        "/api/v1/auth/login", json={"username": USER, "password": PASSWORD}
    )
    if response.status_code != 200:
        raise BenchError(f"login answered {response.status_code}: {response.text}")
    return str(response.json()["access_token"])


async def _run(data_dir: Path) -> dict[str, Any]:
    began = time.monotonic()
    n_turns = turns()
    requests = _count("HUB_BENCH_SCALING_REQUESTS", 80)
    wakes = _count("HUB_BENCH_SCALING_WAKES", 30)
    day_queries = _count("HUB_BENCH_SCALING_HISTORY", 4)
    env = {
        "HUB_DATA_DIR": str(data_dir),
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_PLC_SUPERVISOR": "false",  # the history's device is never polled
        "HUB_ACCESS_TOKEN_TTL": str(24 * 3600),
        "HUB_ANCHOR_INTERVAL": str(24 * 3600),  # no anchoring mid-measurement
    }
    hub = build(load_settings(env), hasher=Argon2Hasher(fast=True))
    async with AsyncTestClient(create_app(hub), raise_server_exceptions=True) as client:
        tenant = await hub.tenants.create(TENANT, "Bench", SYSTEM)
        seeder = Principal("seed", True, frozenset())
        await hub.tenants.add_member(TENANT, NewMember(USER, "engineer", PASSWORD), seeder, SYSTEM)
        m = Measures(hub, client, tenant, await _login(client))
        seed = Seed(hub, tenant)
        await seed.prepare()
        midnight = int(time.time()) // DAY_S * DAY_S - DAY_S  # yesterday, 00:00 UTC
        log("seeding one day of samples at 10/s")
        chunks = await _seed_day(hub, tenant, midnight * 1_000_000)
        day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(midnight))
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(midnight + DAY_S))
        history_url = (
            f"/api/v1/tenants/{TENANT}/devices/meter/tags/flow/history"
            f"?bucket=1m&agg=avg&from={day}&to={end}"
        )
        lists: dict[str, dict[str, list[list[float]]]] = {
            v: {s: [] for s in SIZES} for v in ("all", "waiting")
        }
        wake_ms: dict[str, list[list[float]]] = {s: [] for s in SIZES}
        failures = {s: 0 for s in SIZES}
        history_ms: list[list[float]] = []
        buckets = 0
        for turn in range(n_turns):
            order = SIZES if turn % 2 == 0 else tuple(reversed(SIZES))  # as _method.alternate
            for size in order:
                log(f"turn {turn + 1}/{n_turns}: {size}")
                await seed.become(size)
                listed = await _runs_list_turn(m, requests, size)
                for variant, samples in listed.items():
                    lists[variant][size].append(samples)
                samples, failed = await _wake_turn(m, wakes)
                wake_ms[size].append(samples or [math.nan])
                failures[size] += failed
            samples, buckets = await _history_turn(m, history_url, day_queries)
            history_ms.append(samples)
        settings = await _settings(hub)
        await seed.become("small")  # leave no 10,000 rows for the hub's shutdown to count
    runs_list = {s: _figures(lists["all"][s]) for s in SIZES}
    runs_waiting = {s: _figures(lists["waiting"][s]) for s in SIZES}
    wake = {s: {**_figures(wake_ms[s]), "failures": failures[s]} for s in SIZES}
    history = _figures(history_ms)
    growth = {
        "runs_list_growth": _growth(runs_list),
        "runs_list_waiting_growth": _growth(runs_waiting),
        "event_wake_growth": _growth(wake),
    }
    result = comparison(
        bench="scaling",
        metric="runs_list_growth",
        unit="ms",
        hub=[statistics.median(t) for t in lists["all"]["large"]],
        peer=[statistics.median(t) for t in lists["all"]["small"]],
        peer_name="the same request with 100 runs stored (the small size; hub: 10,000)",
        hub_settings=settings,
        peer_settings=settings,
        higher_is_better=False,
        digits=3,
        **growth,
        history_day_buckets=buckets,
        history_day_p50_ms=history["p50_ms"],
        event_wake_failures=sum(failures.values()),
        bars=BARS,
        bars_met={
            "runs_list_growth": growth["runs_list_growth"] <= BARS["runs_list_growth"],
            "runs_list_waiting_growth": growth["runs_list_waiting_growth"] <= 2.0,
            "event_wake_growth": growth["event_wake_growth"] <= BARS["event_wake_growth"],
            "history_day_buckets": buckets == BARS["history_day_buckets"],
        },
        measurements={
            "runs_list": runs_list,
            "runs_list_waiting": runs_waiting,
            "event_wake": wake,
            "history_day_1m": history,
        },
        sizes={
            "runs_stored": RUNS_STORED,
            "runs_waiting": {"small": 60, "large": 10_000},
            "runs_waiting_on_other_topics": WAITING_ON_EVENTS,
            "history": f"{DAY_S * RATE:,} samples, {chunks:,} chunks, 1 tag",
        },
        path="HTTP in process (litestar AsyncTestClient: ASGI, auth, RBAC, handler, store); "
        "event wake through hub.bus.publish and a service read",
        database="sqlite",
        per_turn_counts={"list": requests, "wakes": wakes, "history": day_queries},
    )
    result["bench_seconds"] = round(time.monotonic() - began, 1)
    return result


def main() -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-scaling-") as tmp:
            result = asyncio.run(_run(Path(tmp)))
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    for name in ("runs_list_growth", "runs_list_waiting_growth", "event_wake_growth"):
        log(f"{name}: {result[name]}")
    log(
        f"history_day_buckets: {result['history_day_buckets']} in {result['history_day_p50_ms']} ms"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
