"""The `audit` benchmark (entry point bench/audit.py): the audit log through the hub's
service, and the in-memory Merkle tree against pymerkle (bench/audit_tree.py).

Measured, in this order, on one fresh database:
- append_per_s: `record_now` from CALLERS concurrent callers (group-committed), fresh log;
- append_single_per_s: `record_now`, one caller at a time (one transaction per entry);
- append_batched_per_s: `append_many`, BATCH entries per transaction, another fresh log;
- a third log is filled to HUB_BENCH_AUDIT_ENTRIES entries (default 1,000,000) with
  `append_many` in FILL_BATCH-entry transactions; then `proof(ref, seq, None)` is timed
  for PROOFS random seqs (p50/p99 ms), every timed proof verified afterwards; then
  `record_now` is timed again on that full log (append_per_s_1m);
- hub/peer/ratio: bench/audit_tree.py's comparison, run as it is.

Timed loops stop early at a time budget, so that a slow build still finishes within
minutes; the JSON then says how many calls were timed and sets "capped".
SQLite in a temporary directory unless HUB_BENCH_DATABASE_URL names another database (use
a scratch one: log ids are random, so reruns do not collide, but rows are left behind).
Runs on uvloop when installed, as the served hub does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import audit_tree

from audit.merkle import verify_inclusion
from hub.bootstrap import Hub, build
from hub.domain.audit import AuditEvent, Outcome, RequestContext
from hub.services.audit import AuditLogRef
from hub.settings import load_settings

DEFAULT_ENTRIES = 1_000_000
SINGLE_APPENDS = 3_000
BATCHED_APPENDS = 20_000
CONCURRENT_APPENDS = 20_000
CALLERS = 64
BATCH = 100
FILL_BATCH = 5_000
PROGRESS_EVERY = 100_000
PROOFS = 1_000
APPENDS_AT_FULL = 1_000
WARMUP = 20  # untimed calls first: statement compilation and pool set-up are one-off costs
# Seconds per timed loop before it stops early. Generous for the targets (1,000 proofs at
# 5 ms take 5 s), tight enough that a 100x miss does not take a quarter of an hour.
BUDGET_S = {"append": 30.0, "proof": 120.0, "append_at_full": 20.0}
SEED = 6962
TARGETS = {"append_per_s": 5000, "proof_p99_ms_1m": 5, "ratio": 1}

Item = tuple[RequestContext, AuditEvent]
T = TypeVar("T")


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Rate:
    per_s: float
    count: int
    capped: bool


def log(message: str) -> None:
    print(f"[bench audit] {message}", file=sys.stderr, flush=True)


def entries_wanted() -> int:
    raw = os.environ.get("HUB_BENCH_AUDIT_ENTRIES", "")
    try:
        value = int(raw) if raw else DEFAULT_ENTRIES
    except ValueError:
        raise BenchError(f"HUB_BENCH_AUDIT_ENTRIES={raw!r} is not an integer") from None
    if value < 1:
        raise BenchError(f"HUB_BENCH_AUDIT_ENTRIES={raw!r} must be at least 1")
    return value


def run_loop(coroutine: Coroutine[Any, Any, T]) -> tuple[T, str]:
    # uvicorn serves the hub on uvloop when it is installed; measure on the same loop.
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine), "asyncio"
    return uvloop.run(coroutine), f"uvloop {uvloop.__version__}"


def items(count: int, start: int = 0) -> list[Item]:
    """Entries shaped like a device write from the API: a user, a request, small details."""
    ctx = RequestContext("bench-user", request_id="r1", ip="127.0.0.1")
    return [
        (
            ctx,
            AuditEvent(
                "device.write",
                "tag",
                f"plc{i % 16}/pressure",
                Outcome.SUCCESS,
                {"old": i, "new": i + 1},
            ),
        )
        for i in range(start, start + count)
    ]


def fresh_log(kind: str) -> AuditLogRef:
    # Random suffix: a reused PostgreSQL database may still hold an earlier run's logs.
    log_id = f"bench-{kind}-{secrets.token_hex(4)}"
    return AuditLogRef(log_id, log_id)


async def append_many(hub: Hub, log_id: str, batch: Sequence[Item]) -> None:
    async with hub.uow(write=True) as uow:
        await hub.audit.append_many(uow, log_id, batch)
        await uow.commit()


async def record_rate(hub: Hub, log_id: str, count: int, budget_s: float) -> Rate:
    """record_now, one at a time: each call is one transaction of one entry."""
    batch = items(WARMUP + count)
    for ctx, event in batch[:WARMUP]:
        await hub.audit.record_now([log_id], ctx, event)
    start = time.perf_counter()
    deadline = start + budget_s
    done = 0
    for ctx, event in batch[WARMUP:]:
        await hub.audit.record_now([log_id], ctx, event)
        done += 1
        if time.perf_counter() > deadline:
            break
    return Rate(done / (time.perf_counter() - start), done, done < count)


async def concurrent_rate(hub: Hub, log_id: str, count: int, callers: int) -> float:
    """record_now from `callers` producers at once, as a busy hub calls it (group commit)."""
    batch = items(count)
    await hub.audit.record_now([log_id], *batch[0])  # warm-up
    queue = iter(batch[1:])

    async def producer() -> None:
        for ctx, event in queue:
            await hub.audit.record_now([log_id], ctx, event)

    start = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(callers)))
    return (count - 1) / (time.perf_counter() - start)


async def batched_rate(hub: Hub, log_id: str, count: int, size: int) -> float:
    await append_many(hub, log_id, items(size))  # warm-up batch
    batches = [items(size, start) for start in range(size, size + count, size)]
    start = time.perf_counter()
    for batch in batches:
        await append_many(hub, log_id, batch)
    return count / (time.perf_counter() - start)


async def fill(hub: Hub, log_id: str, total: int) -> float:
    """Append `total` entries in FILL_BATCH-entry transactions; returns the seconds taken."""
    start = last = time.perf_counter()
    done, reported = 0, 0
    while done < total:
        size = min(FILL_BATCH, total - done)
        # Built inside the timing: making the entries is part of what a caller pays.
        await append_many(hub, log_id, items(size, done))
        done += size
        if done - reported >= PROGRESS_EVERY or done == total:
            now = time.perf_counter()
            # The recent rate shows whether appends slow down as the log grows.
            log(
                f"fill: {done:,}/{total:,} entries, {done / (now - start):,.0f} entries/s "
                f"overall, {(done - reported) / (now - last):,.0f} entries/s lately"
            )
            reported, last = done, now
    return time.perf_counter() - start


async def timed_proofs(
    hub: Hub, ref: AuditLogRef, seqs: Sequence[int], budget_s: float
) -> tuple[list[float], list[dict[str, Any]]]:
    times: list[float] = []
    proofs: list[dict[str, Any]] = []
    deadline = time.perf_counter() + budget_s
    for seq in seqs:
        start = time.perf_counter()
        proof = await hub.audit.proof(ref, seq, None)
        times.append((time.perf_counter() - start) * 1000)
        proofs.append(proof)
        if time.perf_counter() > deadline:
            break
    return times, proofs


def check_proofs(seqs: Sequence[int], proofs: Sequence[dict[str, Any]], size: int) -> None:
    # Independent of the service's own self-check: a fast but wrong proof must not count.
    for seq, p in zip(seqs, proofs, strict=False):
        if p["leaf_index"] != seq - 1 or p["tree_size"] != size:
            raise BenchError(f"proof for seq {seq} is for {p['leaf_index']}/{p['tree_size']}")
        path = [bytes.fromhex(x) for x in p["audit_path"]]
        leaf, root = bytes.fromhex(p["leaf_hash"]), bytes.fromhex(p["root_hash"])
        if not verify_inclusion(leaf, p["leaf_index"], p["tree_size"], path, root):
            raise BenchError(f"proof for seq {seq} does not verify")
    if len({p["root_hash"] for p in proofs}) != 1:
        raise BenchError("proofs against one signed head name different roots")


def percentile(values: Sequence[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def proof_latency(hub: Hub, ref: AuditLogRef, size: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    # The first call signs the head for the new size: a one-off, reported on its own.
    start = time.perf_counter()
    await hub.audit.proof(ref, rng.randint(1, size), None)
    first_ms = (time.perf_counter() - start) * 1000
    await timed_proofs(hub, ref, [rng.randint(1, size) for _ in range(WARMUP)], BUDGET_S["proof"])
    seqs = [rng.randint(1, size) for _ in range(PROOFS)]
    times, proofs = await timed_proofs(hub, ref, seqs, BUDGET_S["proof"])
    load = os.getloadavg()[0]
    check_proofs(seqs, proofs, size)
    if load > (os.cpu_count() or 1) - 1:
        # A proof takes about a millisecond; when other processes want every core, the
        # scheduler's time slices (several ms) land inside proofs and set the p99.
        log(f"warning: load average {load:.1f} on {os.cpu_count()} cores during the proofs")
    p50, p99 = statistics.median(times), percentile(times, 99)
    capped = len(times) < PROOFS
    log(
        f"proof at {size:,} entries: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(times):.3f} ms "
        f"({len(times)} random seqs{', stopped at the time budget' if capped else ''}, "
        f"all verified); the first, which signs the head, {first_ms:.1f} ms"
    )
    return {
        "proof_p50_ms": round(p50, 3),
        "proof_p99_ms": round(p99, 3),
        "proof_max_ms": round(max(times), 3),
        "proof_first_ms": round(first_ms, 2),
        "proofs": len(times),
        "proof_loadavg_1m": round(load, 2),
        "proofs_capped": capped,
    }


def log_rate(what: str, rate: Rate) -> None:
    note = ", stopped at the time budget" if rate.capped else ""
    log(f"{what}: {rate.per_s:,.0f} entries/s ({rate.count} entries{note})")


async def append_rates(hub: Hub) -> dict[str, Any]:
    single = await record_rate(hub, fresh_log("single").log_id, SINGLE_APPENDS, BUDGET_S["append"])
    log_rate("record_now, 1 entry per transaction, fresh log", single)
    concurrent = await concurrent_rate(
        hub, fresh_log("concurrent").log_id, CONCURRENT_APPENDS, CALLERS
    )
    log(f"record_now from {CALLERS} concurrent callers: {concurrent:,.0f} entries/s")
    batched = await batched_rate(hub, fresh_log("batched").log_id, BATCHED_APPENDS, BATCH)
    log(f"append_many, {BATCH} entries per transaction: {batched:,.0f} entries/s")
    return {
        "append_per_s": round(concurrent, 1),
        "append_mode": f"record_now, {CALLERS} concurrent callers, group commit",
        "append_single_per_s": round(single.per_s, 1),
        "append_batched_per_s": round(batched, 1),
        "single_appends": single.count,
        "single_appends_capped": single.capped,
        "batched_appends": BATCHED_APPENDS,
    }


async def full_log(hub: Hub, entries: int) -> dict[str, Any]:
    ref = fresh_log("full")
    log(f"fill: {entries:,} entries, {FILL_BATCH} per transaction")
    fill_s = await fill(hub, ref.log_id, entries)
    proofs = await proof_latency(hub, ref, entries)
    at_full = await record_rate(hub, ref.log_id, APPENDS_AT_FULL, BUDGET_S["append_at_full"])
    log_rate(f"record_now on the log of {entries:,} entries", at_full)
    return {
        "fill_s": round(fill_s, 1),
        "fill_per_s": round(entries / fill_s, 1),
        **proofs,
        "append_per_s_full": round(at_full.per_s, 1),
        "appends_full": at_full.count,
        "appends_full_capped": at_full.capped,
    }


async def service_bench(env: dict[str, str], entries: int) -> dict[str, Any]:
    hub = build(load_settings(env))
    await hub.start()
    try:
        return {**await append_rates(hub), **await full_log(hub, entries)}
    finally:
        await hub.close()


def tree_comparison() -> dict[str, Any]:
    """bench/audit_tree.py's result: its main() checks roots and paths, then prints JSON."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = audit_tree.main()
    if code != 0:
        raise BenchError(f"audit_tree failed with exit code {code}")
    result: dict[str, Any] = json.loads(out.getvalue().strip().splitlines()[-1])
    return result


def settings_env(data_dir: Path) -> dict[str, str]:
    env = {"HUB_DATA_DIR": str(data_dir), "HUB_LOG_LEVEL": "WARNING"}
    if os.environ.get("HUB_BENCH_DATABASE_URL"):
        env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
    return env


def summary(service: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    return {
        "bench": "audit",
        "metric": "append_per_s",
        "append_per_s": service.pop("append_per_s"),
        "append_batched_per_s": service.pop("append_batched_per_s"),
        # Named for the default size; "entries" says what this run had.
        "proof_p99_ms_1m": service.pop("proof_p99_ms"),
        "proof_p50_ms_1m": service.pop("proof_p50_ms"),
        "hub": tree["hub"],
        "peer": tree["peer"],
        "peer_name": tree["peer_name"],
        "ratio": tree["ratio"],
        "unit": "runs/s",
        "targets": TARGETS,
        **service,
        "tree_metric": tree["metric"],
    }


def run(entries: int) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hub-bench-audit-") as data_dir:
        env = settings_env(Path(data_dir))
        database = "sqlite" if load_settings(env).is_sqlite else "postgresql"
        log(f"database {database}; the full log gets {entries:,} entries")
        service, loop = run_loop(service_bench(env, entries))
    tree = tree_comparison()
    return {
        **summary(service, tree),
        "database": database,
        "entries": entries,
        "batch": BATCH,
        "fill_batch": FILL_BATCH,
        "loop": loop,
        "total_s": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    try:
        result = run(entries_wanted())
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    print(json.dumps(result))
    return 0
