"""The DBOS side of bench/workflow.py, in its own process (DBOS is a process-wide singleton).

    python bench/_workflow_dbos.py MODE DATABASE_URL RUNS CHUNK WARMUP [SYNCHRONOUS]

MODE is "threads" (sync workflow and step, `DBOS.start_workflow`, DBOS's thread pool) or
"async" (async workflow and step, `DBOS.start_workflow_async` on one event loop).
DATABASE_URL is the system database: sqlite:///PATH or postgresql://USER@HOST:PORT/DB.
SYNCHRONOUS (SQLite only, default "normal"): every connection DBOS opens runs in WAL mode
with this `synchronous` level, the durability the hub runs with, so both sides pay the
same for a commit (DBOS's own default is the rollback journal with synchronous=FULL).
The settings each connection actually has are read back and reported as "settings".
Runs WARMUP unmeasured runs, then RUNS runs of the three no-op steps; prints progress to
stderr and, as the last stdout line, one JSON object with the result.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from importlib.metadata import version
from typing import Any

import sqlalchemy as sa
from _method import sqlite_settings
from _workflow_stats import percentile
from dbos import DBOS, SetWorkflowID

POLL_S = 0.005


def log(message: str) -> None:
    print(f"[bench workflow/dbos] {message}", file=sys.stderr, flush=True)


# --- matched durability (SQLite) ---

SETTINGS: dict[str, Any] = {}


def match_durability(url: str, synchronous: str) -> None:
    """Every SQLite connection of this process (DBOS's included) runs WAL + `synchronous`."""
    if not url.startswith("sqlite"):
        return

    @sa.event.listens_for(sa.engine.Engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
        SETTINGS.update(sqlite_settings(dbapi_connection))


def postgres_settings(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "synchronous_commit": conn.execute(sa.text("SHOW synchronous_commit")).scalar(),
                "fsync": conn.execute(sa.text("SHOW fsync")).scalar(),
            }
    finally:
        engine.dispose()


# --- the workflow, in both flavours (registered before launch) ---


@DBOS.step()
def noop(value: Any) -> Any:
    return value


@DBOS.workflow()
def three_noops(n: int) -> Any:
    a = noop({"n": n})
    b = noop(a)
    return noop(b)


@DBOS.step()
async def noop_async(value: Any) -> Any:
    return value


@DBOS.workflow()
async def three_noops_async(n: int) -> Any:
    a = await noop_async({"n": n})
    b = await noop_async(a)
    return await noop_async(b)


# --- driving it ---


def run_threads(prefix: str, count: int) -> tuple[float, list[Any]]:
    """Start every run from this thread, then wait for each; (start time, outputs)."""
    t0 = time.time()
    handles = []
    for i in range(count):
        with SetWorkflowID(f"{prefix}-{i:06d}"):
            handles.append(DBOS.start_workflow(three_noops, i))
    return t0, [h.get_result() for h in handles]


async def _run_async(prefix: str, count: int, chunk: int) -> tuple[float, list[Any]]:
    async def start(i: int) -> Any:
        with SetWorkflowID(f"{prefix}-{i:06d}"):
            return await DBOS.start_workflow_async(three_noops_async, i)

    t0 = time.time()
    handles: list[Any] = []
    for first in range(0, count, chunk):
        handles += await asyncio.gather(
            *(start(i) for i in range(first, min(count, first + chunk)))
        )
    return t0, list(await asyncio.gather(*(h.get_result() for h in handles)))


def run_async(prefix: str, count: int, chunk: int) -> tuple[float, list[Any]]:
    return asyncio.run(_run_async(prefix, count, chunk))


def stored_times(url: str, prefix: str) -> tuple[float, list[float], list[float]]:
    """The last completion (epoch s) and every step's dispatch latency (ms), from DBOS's
    own system tables: a step is dispatched when the workflow was created (first step) or
    its previous step completed, and starts at its started_at_epoch_ms (ms resolution)."""
    # DBOS keeps its tables in the "dbos" schema on PostgreSQL; SQLite has no schemas.
    schema = "dbos." if url.startswith("postgresql") else ""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            status = conn.execute(
                sa.text(
                    f"SELECT workflow_uuid, created_at, updated_at FROM {schema}workflow_status "
                    "WHERE workflow_uuid LIKE :p"
                ),
                {"p": prefix + "-%"},
            ).all()
            steps = conn.execute(
                sa.text(
                    "SELECT workflow_uuid, function_id, started_at_epoch_ms, completed_at_epoch_ms "
                    f"FROM {schema}operation_outputs WHERE workflow_uuid LIKE :p "
                    "ORDER BY workflow_uuid, function_id"
                ),
                {"p": prefix + "-%"},
            ).all()
    finally:
        engine.dispose()
    created = {row.workflow_uuid: row.created_at for row in status}
    last = max(row.updated_at for row in status) / 1000.0
    first: list[float] = []
    later: list[float] = []
    previous: dict[str, int] = {}
    for row in steps:
        if row.started_at_epoch_ms is None:
            continue
        ready = previous.get(row.workflow_uuid)
        if ready is None:
            first.append(float(row.started_at_epoch_ms - created[row.workflow_uuid]))
        else:
            later.append(float(row.started_at_epoch_ms - ready))
        previous[row.workflow_uuid] = row.completed_at_epoch_ms or row.started_at_epoch_ms
    return last, first, later


def main(argv: list[str]) -> int:
    mode, url, runs, chunk, warmup = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    synchronous = argv[5] if len(argv) > 5 else "normal"
    if mode not in ("threads", "async"):
        log(f"unknown mode {mode!r}")
        return 2
    match_durability(url, synchronous)
    DBOS(
        config={
            "name": "bench",
            "system_database_url": url,
            "run_admin_server": False,
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    try:
        go = (
            run_threads
            if mode == "threads"
            else (lambda prefix, count: run_async(prefix, count, chunk))
        )
        if warmup:
            go("warm", warmup)
        log(f"{mode}: {runs} runs")
        t0, outputs = go("run", runs)
        observed = time.time() - t0
        bad = [i for i, out in enumerate(outputs) if out != {"n": i}]
        if bad:
            log(
                f"{len(bad)} runs returned the wrong output, e.g. run {bad[0]}: {outputs[bad[0]]!r}"
            )
            return 1
        last, first, later = stored_times(url, "run")
    finally:
        DBOS.destroy()
    elapsed = last - t0
    latencies = first + later
    result = {
        "mode": mode,
        "version": version("dbos"),
        "settings": dict(SETTINGS) if url.startswith("sqlite") else postgres_settings(url),
        "runs": runs,
        "elapsed_s": round(elapsed, 4),
        "runs_per_second": round(runs / elapsed, 1),
        "observed_s": round(observed, 4),
        "dispatch_p50_ms": percentile(latencies, 50),
        "dispatch_p99_ms": percentile(latencies, 99),
        "dispatch_samples": len(latencies),
        "dispatch_first_p50_ms": percentile(first, 50),
        "dispatch_later_p50_ms": percentile(later, 50),
    }
    log(
        f"{mode}: {result['runs_per_second']} runs/s ({elapsed:.2f} s), dispatch p50 "
        f"{result['dispatch_p50_ms']} ms p99 {result['dispatch_p99_ms']} ms"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
