"""Hub workflow engine vs. DBOS: runs/s of a three-activity no-op workflow, and how long a
scheduled step waits before its activity starts (step-dispatch latency).

Both sides run RUNS runs (HUB_BENCH_RUNS, default 1000) of the same workflow: three no-op
steps, each passing on its input, the run's output being {"n": i}. Each side first runs
WARMUP unmeasured runs. Starts are issued the way a busy API would issue them: CHUNK
(HUB_BENCH_CONCURRENCY, default 100) concurrent starts at a time until all are started;
the clock runs from just before the first start to the last run's completion as stored by
the engine itself (hub: the run row's updated_at; DBOS: workflow_status.updated_at).

Hub: in-process (no HTTP), its own worker, SQLite in a temporary directory (WAL,
synchronous=NORMAL, as the hub configures it). Dispatch latency: per activity step, from
its StepScheduled event to its ActivityStarted event.
DBOS (the peer): a subprocess (DBOS is a process-wide singleton) with a @DBOS.step no-op
and a @DBOS.workflow calling it three times, SQLite system database in a temp directory
(DBOS's defaults: rollback journal, synchronous=FULL). It is run both with threads
(`DBOS.start_workflow` called in a loop from one thread: it returns once the workflow row
is written, and DBOS's unbounded thread pool runs the workflows) and async (CHUNK
concurrent `DBOS.start_workflow_async` calls at a time on one loop); the faster is the peer.
Dispatch latency from operation_outputs: a step waits from its workflow's creation (first
step) or its previous step's completion to its own start (millisecond resolution).

HUB_BENCH_POSTGRES=1 (or `--postgres` when this file is run directly) also runs both on
PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) in fresh databases that are
dropped afterwards, adding hub_pg, peer_pg and ratio_pg.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _workflow_stats import percentile

from hub.bootstrap import build
from hub.domain.audit import SYSTEM
from hub.domain.tenancy import Tenant
from hub.services.workflows import StartRun
from hub.settings import load_settings

BENCH_DIR = Path(__file__).resolve().parent
DBOS_SCRIPT = BENCH_DIR / "_workflow_dbos.py"
DEFAULT_RUNS = 1000
DEFAULT_CONCURRENCY = 100
WARMUP = 20
POLL_S = 0.01
TIMEOUT_S = 600.0
PG_SERVER = "postgres@127.0.0.1:5432"
DEFINITION: dict[str, Any] = {
    "name": "three-noops",
    "version": "1.0.0",
    "start": "a",
    "steps": {
        "a": {"type": "activity", "activity": "noop", "input": {"n": "${input.n}"}, "next": "b"},
        "b": {"type": "activity", "activity": "noop", "input": "${steps.a.output}", "next": "c"},
        "c": {"type": "activity", "activity": "noop", "input": "${steps.b.output}", "next": "done"},
        "done": {"type": "end", "output": "${steps.c.output}"},
    },
}


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[bench workflow] {message}", file=sys.stderr, flush=True)


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise BenchError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise BenchError(f"{name}={raw!r} must be positive")
    return value


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- the hub side ---


async def _start_all(hub: Any, tenant: Tenant, count: int, chunk: int) -> None:
    async def start(i: int) -> None:
        run, created = await hub.workflows.start(tenant, StartRun("three-noops", {"n": i}), SYSTEM)
        if not created or run["status"] == "failed":
            raise BenchError(f"run {i} did not start: {run}")

    for first in range(0, count, chunk):
        await asyncio.gather(*(start(i) for i in range(first, min(count, first + chunk))))


async def _wait_finished(hub: Any, tenant: Tenant, count: int) -> None:
    """Poll the tenant's per-status counts (within an index) until all runs have finished."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        async with hub.uow() as uow:
            counts = Counter(await uow.workflows.count_by_status(tenant.id))
        if counts["failed"] or counts["cancelled"]:
            raise BenchError(f"runs did not complete: {dict(counts)}")
        if counts["completed"] >= count:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {TIMEOUT_S:g} s: {dict(counts)}")
        await asyncio.sleep(POLL_S)


async def _all_runs(hub: Any, tenant: Tenant) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = await hub.workflows.runs(tenant, None, None, cursor, 500)
        runs += page
        if cursor is None:
            return runs


def _check_runs(runs: list[dict[str, Any]], count: int) -> None:
    if len(runs) != count:
        raise BenchError(f"expected {count} runs, found {len(runs)}")
    seen = set()
    for run in runs:
        n = run["input"]["n"]
        if run["status"] != "completed" or run["output"] != {"n": n}:
            raise BenchError(
                f"run {run['id']} (n={n}) is {run['status']} with output "
                f"{run['output']!r}, not completed with {{'n': {n}}}"
            )
        seen.add(n)
    if seen != set(range(count)):
        raise BenchError("the runs' inputs are not 0..N-1")


async def _dispatch_latencies(
    hub: Any, tenant: Tenant, runs: list[dict[str, Any]]
) -> tuple[list[float], list[float]]:
    """Dispatch latencies (ms) of every activity step: (first steps, the later steps)."""
    first: list[float] = []
    later: list[float] = []
    for run in runs:
        scheduled: dict[str, datetime] = {}
        for event in await hub.workflows.history(tenant, run["id"]):
            ts = datetime.fromisoformat(event["ts"])
            if event["type"] == "StepScheduled":
                scheduled[event["step"]] = ts
            elif event["type"] == "ActivityStarted":
                began = scheduled.pop(event["step"])
                latency = (ts - began).total_seconds() * 1000.0
                (first if event["step"] == DEFINITION["start"] else later).append(latency)
    return first, later


async def _hub(env: dict[str, str], runs: int, chunk: int) -> dict[str, Any]:
    hub = build(load_settings(env))
    await hub.start(run_workers=True)
    try:
        if WARMUP:
            warm = await hub.tenants.create("warmup", "Warm-up", SYSTEM)
            await hub.workflows.publish(warm, DEFINITION, SYSTEM)
            await _start_all(hub, warm, WARMUP, chunk)
            await _wait_finished(hub, warm, WARMUP)
        tenant = await hub.tenants.create("bench", "Bench", SYSTEM)
        await hub.workflows.publish(tenant, DEFINITION, SYSTEM)
        log(f"hub: {runs} runs, {chunk} concurrent starts at a time")
        t0 = datetime.now(UTC)
        await _start_all(hub, tenant, runs, chunk)
        started_s = (datetime.now(UTC) - t0).total_seconds()
        await _wait_finished(hub, tenant, runs)
        observed_s = (datetime.now(UTC) - t0).total_seconds()
        all_runs = await _all_runs(hub, tenant)
        _check_runs(all_runs, runs)
        elapsed = (max(r["updated_at"] for r in all_runs) - t0).total_seconds()
        first, later = await _dispatch_latencies(hub, tenant, all_runs)
    finally:
        await hub.close()
    latencies = first + later
    if len(latencies) != 3 * runs:
        raise BenchError(f"expected {3 * runs} dispatch samples, found {len(latencies)}")
    result = {
        "runs_per_second": round(runs / elapsed, 1),
        "elapsed_s": round(elapsed, 4),
        "observed_s": round(observed_s, 4),
        "all_started_s": round(started_s, 4),
        "dispatch_p50_ms": _ms(percentile(latencies, 50)),
        "dispatch_p99_ms": _ms(percentile(latencies, 99)),
        "dispatch_first_p50_ms": _ms(percentile(first, 50)),
        "dispatch_later_p50_ms": _ms(percentile(later, 50)),
    }
    log(
        f"hub: {result['runs_per_second']} runs/s ({elapsed:.2f} s, all started after "
        f"{started_s:.2f} s), dispatch p50 {result['dispatch_p50_ms']} ms "
        f"p99 {result['dispatch_p99_ms']} ms (p50 first step "
        f"{result['dispatch_first_p50_ms']} ms, later steps {result['dispatch_later_p50_ms']} ms)"
    )
    return result


def run_hub(
    data_dir: Path, runs: int, chunk: int, database_url: str | None = None
) -> dict[str, Any]:
    env = {"HUB_DATA_DIR": str(data_dir), "HUB_LOG_LEVEL": "WARNING"}
    if database_url:
        env["HUB_DATABASE_URL"] = database_url
    return asyncio.run(_hub(env, runs, chunk))


# --- the DBOS side ---


def run_dbos(mode: str, url: str, runs: int, chunk: int) -> dict[str, Any]:
    command = [sys.executable, str(DBOS_SCRIPT), mode, url, str(runs), str(chunk), str(WARMUP)]
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"dbos ({mode}) did not finish within {TIMEOUT_S:g} s") from None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise BenchError(f"dbos ({mode}) exited with {done.returncode}")
    return dict(json.loads(lines[-1]))


def run_peer(urls: dict[str, str], runs: int, chunk: int) -> dict[str, Any]:
    """Both DBOS modes (each on its own database, from `urls`); the faster one, with the
    other's figure kept for the record."""
    results = {mode: run_dbos(mode, url, runs, chunk) for mode, url in urls.items()}
    best = max(results.values(), key=lambda r: r["runs_per_second"])
    best["by_mode"] = {mode: r["runs_per_second"] for mode, r in results.items()}
    return best


# --- PostgreSQL scratch databases ---


async def _pg(statements: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres")
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _postgres_wanted() -> bool:
    flag = os.environ.get("HUB_BENCH_POSTGRES", "").strip().lower()
    return flag in ("1", "true", "yes", "on") or "--postgres" in sys.argv[1:]


def run_postgres(runs: int, chunk: int, data_dir: Path) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:10]
    hub_db = f"hub_bench_wf_{suffix}"
    peer_dbs = {mode: f"dbos_bench_{suffix}_{mode}" for mode in ("threads", "async")}
    names = [hub_db, *peer_dbs.values()]
    asyncio.run(_pg([f'CREATE DATABASE "{name}"' for name in names]))
    try:
        log(f"postgresql: databases {', '.join(names)}")
        hub = run_hub(data_dir, runs, chunk, f"postgresql+asyncpg://{PG_SERVER}/{hub_db}")
        peer = run_peer(
            {m: f"postgresql://{PG_SERVER}/{db}" for m, db in peer_dbs.items()}, runs, chunk
        )
    finally:
        asyncio.run(_pg([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names]))
    return {
        "hub_pg": hub["runs_per_second"],
        "peer_pg": peer["runs_per_second"],
        "peer_pg_mode": peer["mode"],
        "peer_pg_by_mode": peer["by_mode"],
        "ratio_pg": round(hub["runs_per_second"] / peer["runs_per_second"], 4),
        "hub_pg_dispatch_p50_ms": hub["dispatch_p50_ms"],
        "hub_pg_dispatch_p99_ms": hub["dispatch_p99_ms"],
        "peer_pg_dispatch_p50_ms": peer["dispatch_p50_ms"],
        "peer_pg_dispatch_p99_ms": peer["dispatch_p99_ms"],
    }


# --- the benchmark ---


def run() -> dict[str, Any]:
    began = time.monotonic()
    runs = _positive_int("HUB_BENCH_RUNS", DEFAULT_RUNS)
    chunk = _positive_int("HUB_BENCH_CONCURRENCY", DEFAULT_CONCURRENCY)
    postgres = _postgres_wanted()
    with tempfile.TemporaryDirectory(prefix="hub-bench-wf-") as tmp:
        root = Path(tmp)
        (root / "hub").mkdir()
        hub = run_hub(root / "hub", runs, chunk)
        peer = run_peer(
            {m: f"sqlite:///{root / f'dbos-{m}.sqlite'}" for m in ("threads", "async")}, runs, chunk
        )
        result: dict[str, Any] = {
            "bench": "workflow",
            "metric": "runs_per_second",
            "hub": hub["runs_per_second"],
            "peer": peer["runs_per_second"],
            "peer_name": f"dbos {peer['version']} (sqlite)",
            "ratio": round(hub["runs_per_second"] / peer["runs_per_second"], 4),
            "unit": "runs/s",
            "runs": runs,
            "hub_dispatch_p50_ms": hub["dispatch_p50_ms"],
            "hub_dispatch_p99_ms": hub["dispatch_p99_ms"],
            "peer_dispatch_p50_ms": peer["dispatch_p50_ms"],
            "peer_dispatch_p99_ms": peer["dispatch_p99_ms"],
            "hub_dispatch_first_step_p50_ms": hub["dispatch_first_p50_ms"],
            "hub_dispatch_later_steps_p50_ms": hub["dispatch_later_p50_ms"],
            "peer_dispatch_first_step_p50_ms": peer["dispatch_first_p50_ms"],
            "peer_dispatch_later_steps_p50_ms": peer["dispatch_later_p50_ms"],
            "database": "sqlite",
            "peer_mode": peer["mode"],
            "peer_by_mode": peer["by_mode"],
            "concurrent_starts": chunk,
            "warmup_runs": WARMUP,
            "hub_elapsed_s": hub["elapsed_s"],
            "peer_elapsed_s": peer["elapsed_s"],
        }
        if postgres:
            (root / "hub-pg").mkdir()
            result.update(run_postgres(runs, chunk, root / "hub-pg"))
    result["bench_seconds"] = round(time.monotonic() - began, 1)
    return result


def main() -> int:
    try:
        result = run()
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
