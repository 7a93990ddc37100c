"""The `audit` benchmark (run through bench/audit.py): the audit log through the hub's
service (append rates, inclusion proofs at 1M entries) and the in-memory Merkle tree
against pymerkle (bench/audit_tree.py).

Measured, in this order, on one fresh database:
- append_per_s: `record_now`, one entry per transaction, one caller at a time, on a fresh log;
- append_batched_per_s: `append_many`, BATCH entries per transaction, on another fresh log;
- a third log is filled to HUB_BENCH_AUDIT_ENTRIES entries (default 1,000,000) with
  `append_many` in FILL_BATCH-entry transactions, then `proof(ref, seq, None)` is timed for
  PROOFS random seqs (p50/p99 ms); every timed proof is verified afterwards;
- hub/peer/ratio: bench/audit_tree.py's comparison, run as is.

SQLite in a temporary directory unless HUB_BENCH_DATABASE_URL names another database (use
a scratch one: log ids are random, so reruns do not collide, but rows are left behind).
Runs on uvloop when installed, as the served hub does. Progress goes to stderr; the last
stdout line is one JSON object.
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
BATCH = 100
FILL_BATCH = 5_000
PROGRESS_EVERY = 100_000
PROOFS = 1_000
WARMUP = 50  # untimed calls first: statement compilation and pool set-up are one-off costs
SEED = 6962
TARGETS = {"append_per_s": 5000, "proof_p99_ms_1m": 5, "ratio": 1}

Item = tuple[RequestContext, AuditEvent]
T = TypeVar("T")


class BenchError(RuntimeError):
    pass


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


async def single_rate(hub: Hub, count: int) -> float:
    log_id = fresh_log("single").log_id
    batch = items(WARMUP + count)
    for ctx, event in batch[:WARMUP]:
        await hub.audit.record_now([log_id], ctx, event)
    start = time.perf_counter()
    for ctx, event in batch[WARMUP:]:
        await hub.audit.record_now([log_id], ctx, event)
    rate = count / (time.perf_counter() - start)
    log(f"record_now, 1 entry per transaction: {rate:,.0f} entries/s ({count} entries)")
    return rate


async def batched_rate(hub: Hub, count: int, size: int) -> float:
    log_id = fresh_log("batched").log_id
    await append_many(hub, log_id, items(size))  # warm-up batch
    batches = [items(size, start) for start in range(size, size + count, size)]
    start = time.perf_counter()
    for batch in batches:
        await append_many(hub, log_id, batch)
    rate = count / (time.perf_counter() - start)
    log(f"append_many, {size} entries per transaction: {rate:,.0f} entries/s ({count} entries)")
    return rate


async def fill(hub: Hub, log_id: str, total: int) -> float:
    """Append `total` entries in FILL_BATCH-entry transactions; returns the seconds taken."""
    start = time.perf_counter()
    done, reported = 0, 0
    while done < total:
        size = min(FILL_BATCH, total - done)
        # Built inside the timing: making the entries is part of what a caller pays.
        await append_many(hub, log_id, items(size, done))
        done += size
        if done - reported >= PROGRESS_EVERY or done == total:
            reported = done
            elapsed = time.perf_counter() - start
            log(f"fill: {done:,}/{total:,} entries, {done / elapsed:,.0f} entries/s")
    return time.perf_counter() - start


async def timed_proofs(
    hub: Hub, ref: AuditLogRef, seqs: Sequence[int]
) -> tuple[list[float], list[dict[str, Any]]]:
    times, proofs = [], []
    for seq in seqs:
        start = time.perf_counter()
        proof = await hub.audit.proof(ref, seq, None)
        times.append((time.perf_counter() - start) * 1000)
        proofs.append(proof)
    return times, proofs


def check_proofs(seqs: Sequence[int], proofs: Sequence[dict[str, Any]], size: int) -> None:
    # Independent of the service's own self-check: a fast but wrong proof must not count.
    for seq, p in zip(seqs, proofs, strict=True):
        if p["leaf_index"] != seq - 1 or p["tree_size"] != size:
            raise BenchError(f"proof for seq {seq} is for {p['leaf_index']}/{p['tree_size']}")
        path = [bytes.fromhex(x) for x in p["audit_path"]]
        leaf, root = bytes.fromhex(p["leaf_hash"]), bytes.fromhex(p["root_hash"])
        if not verify_inclusion(leaf, p["leaf_index"], p["tree_size"], path, root):
            raise BenchError(f"proof for seq {seq} does not verify")


def percentile(values: Sequence[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


async def proof_latency(hub: Hub, ref: AuditLogRef, size: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    # The first call signs the head for the new size: a one-off, reported on its own.
    start = time.perf_counter()
    first = await hub.audit.proof(ref, rng.randint(1, size), None)
    first_ms = (time.perf_counter() - start) * 1000
    warm = [rng.randint(1, size) for _ in range(WARMUP)]
    await timed_proofs(hub, ref, warm)
    seqs = [rng.randint(1, size) for _ in range(PROOFS)]
    times, proofs = await timed_proofs(hub, ref, seqs)
    check_proofs(seqs, proofs, size)
    if len({p["root_hash"] for p in proofs} | {first["root_hash"]}) != 1:
        raise BenchError("proofs against one head name different roots")
    p50, p99 = statistics.median(times), percentile(times, 99)
    log(
        f"proof at {size:,} entries: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(times):.3f} ms "
        f"({PROOFS} random seqs, all verified); first (signs the head) {first_ms:.1f} ms"
    )
    return {
        "proof_p50_ms": round(p50, 3),
        "proof_p99_ms": round(p99, 3),
        "proof_max_ms": round(max(times), 3),
        "proof_first_ms": round(first_ms, 2),
        "proofs": PROOFS,
    }


async def service_bench(env: dict[str, str], entries: int) -> dict[str, Any]:
    hub = build(load_settings(env))
    await hub.start()
    try:
        single = await single_rate(hub, SINGLE_APPENDS)
        batched = await batched_rate(hub, BATCHED_APPENDS, BATCH)
        ref = fresh_log("proof")
        log(f"fill: {entries:,} entries, {FILL_BATCH} per transaction")
        fill_s = await fill(hub, ref.log_id, entries)
        proofs = await proof_latency(hub, ref, entries)
    finally:
        await hub.close()
    return {
        "append_per_s": round(single, 1),
        "append_batched_per_s": round(batched, 1),
        "fill_s": round(fill_s, 1),
        "fill_per_s": round(entries / fill_s, 1),
        **proofs,
    }


def tree_comparison() -> dict[str, Any]:
    """bench/audit_tree.py's result: its main() checks roots and paths and prints JSON."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = audit_tree.main()
    if code != 0:
        raise BenchError(f"audit_tree failed with exit code {code}")
    return json.loads(out.getvalue().strip().splitlines()[-1])


def settings_env(data_dir: Path) -> dict[str, str]:
    env = {"HUB_DATA_DIR": str(data_dir), "HUB_LOG_LEVEL": "WARNING"}
    if os.environ.get("HUB_BENCH_DATABASE_URL"):
        env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
    return env


def run(entries: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hub-bench-audit-") as data_dir:
        env = settings_env(Path(data_dir))
        database = "sqlite" if load_settings(env).is_sqlite else "postgresql"
        log(f"database {database}; proofs at {entries:,} entries")
        service, loop = run_loop(service_bench(env, entries))
    tree = tree_comparison()
    return {
        "bench": "audit",
        "metric": "append_per_s",
        "append_per_s": service["append_per_s"],
        "append_batched_per_s": service["append_batched_per_s"],
        # Named for the default size; "entries" says what this run actually had.
        "proof_p99_ms_1m": service["proof_p99_ms"],
        "proof_p50_ms_1m": service["proof_p50_ms"],
        "hub": tree["hub"],
        "peer": tree["peer"],
        "peer_name": tree["peer_name"],
        "ratio": tree["ratio"],
        "unit": "runs/s",
        "targets": TARGETS,
        "database": database,
        "entries": entries,
        "batch": BATCH,
        "single_appends": SINGLE_APPENDS,
        "batched_appends": BATCHED_APPENDS,
        **{k: v for k, v in service.items() if k not in {"append_per_s", "append_batched_per_s"}},
        "tree_metric": tree["metric"],
        "loop": loop,
    }


def main() -> int:
    try:
        result = run(entries_wanted())
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
