"""Hub workflow engine vs. DBOS: runs/s of a three-activity no-op workflow, and how long a
step waits between becoming ready and starting (step-dispatch latency), at matched
durability.

Both sides run RUNS runs (HUB_BENCH_RUNS, default 1000) of the same workflow: three no-op
steps, each passing on its input, the run's output being {"n": i}. Each side first runs
WARMUP unmeasured runs. Starts are issued the way a busy API would issue them: CHUNK
(HUB_BENCH_CONCURRENCY, default 100) concurrent starts at a time until all are started;
the clock runs from just before the first start to the last run's completion as stored by
the engine itself (hub: the run row's updated_at; DBOS: workflow_status.updated_at).

Matched durability: both sides run SQLite in WAL mode at the same `synchronous` level,
read back from the connections themselves and printed as `hub_settings`/`peer_settings`.
The headline is `synchronous=normal` (the hub's default: nothing is lost when a process
crashes; a power loss may roll back the last commits); `synchronous=full` (an fsync per
commit) is measured too (`hub_full`, `peer_full`, `ratio_full`), since a user can choose
it (HUB_SQLITE_SYNCHRONOUS=full). DBOS's own default (rollback journal, FULL) is not used:
it would compare durability, not engines.

Method (bench/_method.py): per durability level, hub and peer run in alternating turns
(HUB_BENCH_TURNS, at least 3), each turn in fresh temporary databases; figures are the
medians with their min-max spread. Each peer turn runs DBOS both with threads
(`DBOS.start_workflow` from one thread; DBOS's thread pool runs the workflows) and async
(CHUNK concurrent `DBOS.start_workflow_async` calls at a time on one loop) and counts the
faster of the two for that turn, so the peer is never held back by our choice of API.

Dispatch latency, the same interval on both sides: from the moment a step became ready
(the run was created, for the first step; the previous step completed, for later steps)
to the moment the step's function started. Hub: from its history (RunStarted or the
previous ActivityCompleted, to ActivityStarted; microseconds); DBOS: from
workflow_status.created_at and operation_outputs (milliseconds, its resolution).
The hub writes, per run, the full durable history (every event), the run projection, the
task queue rows and the audit entries of the run's start and completion (with the receipt
hashes), all group-committed: transitions that are ready together share a transaction.

HUB_BENCH_POSTGRES=1 (or `--postgres` when this file is run directly) also runs both on
PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth; the server's own settings for
both, printed) in fresh databases that are dropped afterwards, adding hub_pg, peer_pg and
ratio_pg.
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

from _method import alternate, comparison, sqlite_settings, summary, turns
from _workflow_stats import percentile

from hub.bootstrap import build
from hub.domain.audit import SYSTEM
from hub.domain.tenancy import Tenant
from hub.services.workflows.service import StartRun
from hub.settings import load_settings

BENCH_DIR = Path(__file__).resolve().parent
DBOS_SCRIPT = BENCH_DIR / "_workflow_dbos.py"
DEFAULT_RUNS = 1000
DEFAULT_CONCURRENCY = 100
WARMUP = 20
POLL_S = 0.1  # the finish time is the runs' stored updated_at, not when this poll sees it
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
    """Dispatch latencies (ms) of every activity step, (first steps, later steps): from
    the step becoming ready (run created; previous activity completed) to its start."""
    first: list[float] = []
    later: list[float] = []
    for run in runs:
        ready: datetime = run["created_at"]
        for event in await hub.workflows.history(tenant, run["id"]):
            ts = datetime.fromisoformat(event["ts"])
            if event["type"] == "ActivityStarted":
                latency = (ts - ready).total_seconds() * 1000.0
                (first if event["step"] == DEFINITION["start"] else later).append(latency)
            elif event["type"] == "ActivityCompleted":
                ready = ts
    return first, later


def _hub_settings(hub: Any) -> dict[str, Any]:
    """The durability of the connection transitions are written on, read back."""
    inline = hub.uow.inline
    if inline is None:
        return {}
    raw = inline.write.raw_connection()
    try:
        return sqlite_settings(raw.driver_connection)
    finally:
        raw.close()


async def _pg_settings(hub: Any) -> dict[str, Any]:
    from sqlalchemy import text

    async with hub.uow.engine.connect() as conn:
        return {
            "synchronous_commit": (await conn.execute(text("SHOW synchronous_commit"))).scalar(),
            "fsync": (await conn.execute(text("SHOW fsync"))).scalar(),
        }


async def _hub(env: dict[str, str], runs: int, chunk: int) -> dict[str, Any]:
    hub = build(load_settings(env))
    await hub.start(run_workers=True)
    try:
        settings = _hub_settings(hub) if hub.uow.inline else await _pg_settings(hub)
        if WARMUP:
            warm = await hub.tenants.create("warmup", "Warm-up", SYSTEM)
            await hub.workflows.publish(warm, DEFINITION, SYSTEM)
            await _start_all(hub, warm, WARMUP, chunk)
            await _wait_finished(hub, warm, WARMUP)
        tenant = await hub.tenants.create("bench", "Bench", SYSTEM)
        await hub.workflows.publish(tenant, DEFINITION, SYSTEM)
        t0 = datetime.now(UTC)
        await _start_all(hub, tenant, runs, chunk)
        started_s = (datetime.now(UTC) - t0).total_seconds()
        await _wait_finished(hub, tenant, runs)
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
        "all_started_s": round(started_s, 4),
        "dispatch_p50_ms": _ms(percentile(latencies, 50)),
        "dispatch_p99_ms": _ms(percentile(latencies, 99)),
        "dispatch_first_p50_ms": _ms(percentile(first, 50)),
        "dispatch_later_p50_ms": _ms(percentile(later, 50)),
        "settings": settings,
    }
    log(
        f"hub: {result['runs_per_second']} runs/s ({elapsed:.2f} s, all started after "
        f"{started_s:.2f} s), dispatch p50 first step {result['dispatch_first_p50_ms']} ms, "
        f"later steps {result['dispatch_later_p50_ms']} ms; {settings}"
    )
    return result


def run_hub(
    data_dir: Path,
    runs: int,
    chunk: int,
    database_url: str | None = None,
    synchronous: str = "normal",
) -> dict[str, Any]:
    env = {
        "HUB_DATA_DIR": str(data_dir),
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_SQLITE_SYNCHRONOUS": synchronous,
    }
    if database_url:
        env["HUB_DATABASE_URL"] = database_url
    return asyncio.run(_hub(env, runs, chunk))


# --- the DBOS side ---


def run_dbos(
    mode: str, url: str, runs: int, chunk: int, synchronous: str = "normal"
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(DBOS_SCRIPT),
        mode,
        url,
        str(runs),
        str(chunk),
        str(WARMUP),
        synchronous,
    ]
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


def run_peer(urls: dict[str, str], runs: int, chunk: int, synchronous: str) -> dict[str, Any]:
    """Both DBOS modes (each on its own database, from `urls`); the faster one, with the
    other's figure kept for the record."""
    results = {mode: run_dbos(mode, url, runs, chunk, synchronous) for mode, url in urls.items()}
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


def run_postgres(runs: int, chunk: int, data_dir: Path, count: int) -> dict[str, Any]:
    def hub_turn(turn: int) -> dict[str, Any]:
        db = f"hub_bench_wf_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg([f'CREATE DATABASE "{db}"']))
        try:
            url = f"postgresql+asyncpg://{PG_SERVER}/{db}"
            return run_hub(data_dir / f"pg-{turn}", runs, chunk, url)
        finally:
            asyncio.run(_pg([f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)']))

    def peer_turn(turn: int) -> dict[str, Any]:
        suffix = uuid.uuid4().hex[:10]
        dbs = {mode: f"dbos_bench_{suffix}_{mode}" for mode in ("threads", "async")}
        asyncio.run(_pg([f'CREATE DATABASE "{db}"' for db in dbs.values()]))
        try:
            urls = {m: f"postgresql://{PG_SERVER}/{db}" for m, db in dbs.items()}
            return run_peer(urls, runs, chunk, "normal")
        finally:
            asyncio.run(
                _pg([f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in dbs.values()])
            )

    sides = alternate({"hub": hub_turn, "peer": peer_turn}, count, log=log)
    hub_rates = [r["runs_per_second"] for r in sides["hub"]]
    peer_rates = [r["runs_per_second"] for r in sides["peer"]]
    hub_m, peer_m = summary(hub_rates), summary(peer_rates)
    return {
        "hub_pg": hub_m["median"],
        "peer_pg": peer_m["median"],
        "ratio_pg": round(hub_m["median"] / peer_m["median"], 4),
        "hub_pg_spread": [hub_m["min"], hub_m["max"]],
        "peer_pg_spread": [peer_m["min"], peer_m["max"]],
        "hub_pg_settings": sides["hub"][0]["settings"],
        "peer_pg_settings": sides["peer"][0]["settings"],
    }


# --- the benchmark ---


def compare(root: Path, runs: int, chunk: int, synchronous: str, count: int) -> dict[str, Any]:
    """Hub and DBOS in alternating turns at one durability level; medians and spreads."""

    def hub_turn(turn: int) -> dict[str, Any]:
        data = root / f"hub-{synchronous}-{turn}"
        data.mkdir()
        return run_hub(data, runs, chunk, synchronous=synchronous)

    def peer_turn(turn: int) -> dict[str, Any]:
        urls = {
            m: f"sqlite:///{root / f'dbos-{synchronous}-{turn}-{m}.sqlite'}"
            for m in ("threads", "async")
        }
        return run_peer(urls, runs, chunk, synchronous)

    log(f"synchronous={synchronous}: {count} turns per side, {runs} runs per turn")
    sides = alternate({"hub": hub_turn, "peer": peer_turn}, count, log=log)
    hub, peer = sides["hub"], sides["peer"]

    def medians(results: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in results if r.get(key) is not None]
        return summary(values)["median"] if values else None

    return comparison(
        bench="workflow",
        metric="runs_per_second",
        unit="runs/s",
        hub=[r["runs_per_second"] for r in hub],
        peer=[r["runs_per_second"] for r in peer],
        peer_name=f"dbos {peer[0]['version']} (sqlite)",
        hub_settings=hub[0]["settings"],
        peer_settings=peer[0]["settings"],
        peer_modes=[r["mode"] for r in peer],
        peer_by_mode=[r["by_mode"] for r in peer],
        hub_dispatch_first_step_p50_ms=medians(hub, "dispatch_first_p50_ms"),
        hub_dispatch_later_steps_p50_ms=medians(hub, "dispatch_later_p50_ms"),
        hub_dispatch_p99_ms=medians(hub, "dispatch_p99_ms"),
        peer_dispatch_first_step_p50_ms=medians(peer, "dispatch_first_p50_ms"),
        peer_dispatch_later_steps_p50_ms=medians(peer, "dispatch_later_p50_ms"),
        peer_dispatch_p99_ms=medians(peer, "dispatch_p99_ms"),
    )


def run() -> dict[str, Any]:
    began = time.monotonic()
    runs = _positive_int("HUB_BENCH_RUNS", DEFAULT_RUNS)
    chunk = _positive_int("HUB_BENCH_CONCURRENCY", DEFAULT_CONCURRENCY)
    count = turns()
    with tempfile.TemporaryDirectory(prefix="hub-bench-wf-") as tmp:
        root = Path(tmp)
        result = compare(root, runs, chunk, "normal", count)
        full = compare(root, runs, chunk, "full", count)
        result.update(
            {
                "hub_full": full["hub"],
                "peer_full": full["peer"],
                "ratio_full": full["ratio"],
                "hub_full_spread": full["hub_spread"],
                "peer_full_spread": full["peer_spread"],
                "hub_full_settings": full["hub_settings"],
                "peer_full_settings": full["peer_settings"],
                "database": "sqlite",
                "workflow_runs": runs,
                "concurrent_starts": chunk,
                "warmup_runs": WARMUP,
            }
        )
        if _postgres_wanted():
            result.update(run_postgres(runs, chunk, root, count))
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
