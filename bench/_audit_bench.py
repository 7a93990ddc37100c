"""The `audit` benchmark (entry point bench/audit.py): audit appends through the hub's
service against a raw store of the same rows, inclusion proofs on a large log, and the
in-memory Merkle tree against pymerkle (bench/audit_tree.py).

Appends, hub against peer in alternating turns (bench/_method.py), `turns()` of each
(at least 3, HUB_BENCH_TURNS); every figure is the median of the turns, with the min-max
spread and every run in the JSON. One hub (one database) serves every turn, each turn on
fresh logs. Per turn, each side runs three modes:
- append_per_s (the headline, `hub`/`peer`/`ratio`): hub `record_now` from CALLERS
  concurrent callers (group-committed: a transaction takes what queued meanwhile, at most
  CALLERS entries); peer: the same entries in transactions of CALLERS rows, the largest
  group those callers can form, so the peer gets the best case;
- append_single_per_s: hub `record_now`, one caller (one transaction per entry); peer one
  row per transaction;
- append_batched_per_s: hub `append_many`, BATCH entries per transaction; peer BATCH rows.
The peer (the raw limit) writes the same RFC 8785 entry bodies (the hub's `canonical`
and `leaf_hash`, so both pay for the bytes) as plain rows of a table with the hub's entry
columns and indexes plus the leaf hash, with the standard library's sqlite3 (or asyncpg on
PostgreSQL): no Merkle node rows, no sequence reservation, no pool, no thread hop.

Durability, matched and read back from both connections (`hub_settings`/`peer_settings`):
on SQLite both run WAL with synchronous=NORMAL (the hub's default; HUB_SQLITE_SYNCHRONOUS
is passed on to the hub, and the peer follows what the hub's connections report). An
append has returned once its transaction committed, but is not fsynced on return: it
survives a crash of the process, while a power loss or OS crash can roll back what was
committed since the last WAL checkpoint. Since a user can choose HUB_SQLITE_SYNCHRONOUS=
full (an fsync per commit: a returned append survives a power loss too), the headline
mode is measured again at the other level on a fresh hub and peer, both read back at it:
`hub_full`, `peer_full`, `ratio_full` with spreads, runs and settings (`_normal` when the
main pass ran at full). On PostgreSQL (HUB_BENCH_DATABASE_URL) the peer uses the same
server and database, the JSON shows `synchronous_commit` and `fsync` for both, and there
is no second level.

Then, on a third log filled once to HUB_BENCH_AUDIT_ENTRIES entries (default 1,000,000)
with `append_many` in FILL_BATCH-entry transactions (one run: `fill_s`, `fill_per_s`):
`proof(ref, seq, None)` for PROOFS random seqs per turn (p50/p99 ms, median of the turns;
every timed proof verified afterwards); then `record_now` on that full log, APPENDS_AT_FULL
per turn (append_per_s_1m). These have no peer. Last, bench/audit_tree.py as it is
(alternating turns of its own): its comparison is under `tree_*` (`tree_ratio`), never the
top-level `ratio`.

Timed loops stop early at a time budget, so that a slow build still finishes within
minutes; the JSON then says how many calls were timed and sets "capped". No periodic
process drives these loops (appends and proofs run back to back), so there is no phase to
randomise. About 3 minutes at the default size on the project's 2-core machine, most of
it the fill. SQLite in a temporary directory unless HUB_BENCH_DATABASE_URL names another
database (use a scratch one: log ids are random, so reruns do not collide, but rows are
left behind). Runs on uvloop when installed, as the served hub does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import audit_tree
from _hub_settings import (
    SQLITE_LEVELS,
    commit_facts,
    database_settings,
    hub_env,
    sqlite_synchronous,
)
from _method import alternate, comparison, sqlite_settings, summary, tail, turns

from audit.canonical import canonical
from audit.merkle import leaf_hash, verify_inclusion
from hub.bootstrap import Hub, build
from hub.domain.audit import AuditEvent, Outcome, RequestContext, entry_object
from hub.services.audit.log import AuditLogRef
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
# The other durability level gets less: it is a second look at the headline, and an fsync
# per commit on a busy disk can take a hundred times longer.
BUDGET_S = {"append": 30.0, "proof": 120.0, "append_at_full": 20.0, "other_level": 10.0}
SEED = 6962
TARGETS = {"append_per_s": 5000, "proof_p99_ms_1m": 5, "tree_ratio": 1}
MODES = {"append": CALLERS, "single": 1, "batched": BATCH}  # mode -> peer rows per transaction

Item = tuple[RequestContext, AuditEvent]


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


def runner() -> tuple[asyncio.Runner, str]:
    """One event loop for every turn (the hub and its group-commit flusher live on it).

    uvicorn serves the hub on uvloop when it is installed; measure on the same loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner(), "asyncio"
    return asyncio.Runner(loop_factory=uvloop.new_event_loop), f"uvloop {uvloop.__version__}"


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


async def concurrent_rate(hub: Hub, log_id: str, count: int, callers: int, budget_s: float) -> Rate:
    """record_now from `callers` producers at once, as a busy hub calls it (group commit);
    the producers stop taking entries at the time budget."""
    batch = items(count)
    await hub.audit.record_now([log_id], *batch[0])  # warm-up
    queue = iter(batch[1:])
    start = time.perf_counter()
    deadline = start + budget_s
    done = 0

    async def producer() -> None:
        nonlocal done
        for ctx, event in queue:
            await hub.audit.record_now([log_id], ctx, event)
            done += 1
            if time.perf_counter() > deadline:
                return

    await asyncio.gather(*(producer() for _ in range(callers)))
    return Rate(done / (time.perf_counter() - start), done, done < count - 1)


async def batched_rate(hub: Hub, log_id: str, count: int, size: int) -> float:
    await append_many(hub, log_id, items(size))  # warm-up batch
    batches = [items(size, start) for start in range(size, size + count, size)]
    start = time.perf_counter()
    for batch in batches:
        await append_many(hub, log_id, batch)
    return count / (time.perf_counter() - start)


# --- the peer: the same rows, stored plainly ---

PEER_COLUMNS = "log_id, seq, ts, actor, action, resource_type, resource_id, outcome, body, leaf"


def peer_ddl(table: str, blob: str) -> list[str]:
    """The hub's audit_entries columns and indexes, plus the leaf hash."""
    return [
        f"CREATE TABLE {table} (log_id TEXT NOT NULL, seq BIGINT NOT NULL, ts TEXT NOT NULL, "
        "actor TEXT NOT NULL, action TEXT NOT NULL, resource_type TEXT NOT NULL, "
        "resource_id TEXT NOT NULL, outcome TEXT NOT NULL, body TEXT NOT NULL, "
        f"leaf {blob} NOT NULL, PRIMARY KEY (log_id, seq))",
        f"CREATE INDEX {table}_ts ON {table} (log_id, ts)",
        f"CREATE INDEX {table}_actor ON {table} (log_id, actor)",
        f"CREATE INDEX {table}_resource ON {table} (log_id, resource_type, resource_id)",
    ]


def peer_rows(log_id: str, first: int, batch: Sequence[Item]) -> list[tuple[Any, ...]]:
    """The rows the hub would write for `batch`, body and leaf made the hub's way."""
    now = datetime.now(UTC)
    rows = []
    for offset, (ctx, event) in enumerate(batch):
        seq = first + offset
        entry = entry_object(seq, now, ctx, event)
        body = canonical(entry)
        rows.append(
            (
                log_id,
                seq,
                entry["ts"],
                ctx.actor,
                event.action,
                event.resource_type,
                event.resource_id,
                event.outcome.value,
                body.decode(),
                leaf_hash(body),
            )
        )
    return rows


class Peer(Protocol):
    name: str

    async def settings(self) -> dict[str, Any]: ...

    async def write(self, rows: list[tuple[Any, ...]]) -> None: ...

    async def close(self) -> None: ...


class SqlitePeer:
    """sqlite3 on its own file, set to the durability the hub's connection reports."""

    name = f"sqlite3 (SQLite {sqlite3.sqlite_version}), plain rows, no Merkle nodes"

    def __init__(self, path: Path, hub: dict[str, Any]) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute(f"PRAGMA journal_mode={hub['journal_mode']}")
        self._db.execute(f"PRAGMA synchronous={hub['synchronous']}")
        for statement in peer_ddl("peer_entries", "BLOB"):
            self._db.execute(statement)
        self._insert = f"INSERT INTO peer_entries ({PEER_COLUMNS}) VALUES ({', '.join('?' * 10)})"

    async def settings(self) -> dict[str, Any]:
        return {"database": "sqlite", **sqlite_settings(self._db)}

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")  # as the hub's writers take the lock
        self._db.executemany(self._insert, rows)
        self._db.execute("COMMIT")

    async def close(self) -> None:
        self._db.close()


class PostgresPeer:
    """asyncpg on the hub's PostgreSQL database, in a table of its own (dropped after)."""

    name = "asyncpg, plain rows, no Merkle nodes"

    def __init__(self, connection: Any, table: str) -> None:
        self._db = connection
        self._table = table
        values = ", ".join(f"${i}" for i in range(1, 11))
        self._insert = f"INSERT INTO {table} ({PEER_COLUMNS}) VALUES ({values})"

    @classmethod
    async def open(cls, url: str) -> PostgresPeer:
        import asyncpg

        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        table = f"bench_audit_peer_{secrets.token_hex(4)}"
        for statement in peer_ddl(table, "BYTEA"):
            await connection.execute(statement)
        return cls(connection, table)

    async def settings(self) -> dict[str, Any]:
        shown = {n: await self._db.fetchval(f"SHOW {n}") for n in ("synchronous_commit", "fsync")}
        return {"database": "postgresql", **shown}

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        async with self._db.transaction():
            await self._db.executemany(self._insert, rows)

    async def close(self) -> None:
        await self._db.execute(f"DROP TABLE {self._table}")
        await self._db.close()


async def open_peer(hub_settings: dict[str, Any], data_dir: Path) -> Peer:
    if hub_settings["database"] == "sqlite":
        return SqlitePeer(data_dir / "peer.sqlite", hub_settings)
    return await PostgresPeer.open(os.environ["HUB_BENCH_DATABASE_URL"])


async def peer_rate(peer: Peer, count: int, group: int, budget_s: float) -> Rate:
    """`count` entries in transactions of `group` rows, bodies built inside the timing;
    stops early at the same time budget as the hub's loops."""
    log_id = fresh_log("peer").log_id
    await peer.write(peer_rows(log_id, 1, items(group)))  # warm-up
    start = time.perf_counter()
    done = 0
    while done < count and time.perf_counter() - start < budget_s:
        size = min(group, count - done)
        await peer.write(peer_rows(log_id, group + 1 + done, items(size, done)))
        done += size
    return Rate(done / (time.perf_counter() - start), done, done < count)


# --- turns ---


async def hub_turn(hub: Hub) -> dict[str, Rate]:
    single = await record_rate(hub, fresh_log("single").log_id, SINGLE_APPENDS, BUDGET_S["append"])
    log_rate("hub record_now, 1 entry per transaction, fresh log", single)
    concurrent = await headline_turn(hub, BUDGET_S["append"])
    batched = await batched_rate(hub, fresh_log("batched").log_id, BATCHED_APPENDS, BATCH)
    log(f"hub append_many, {BATCH} entries per transaction: {batched:,.0f} entries/s")
    return {
        "append": concurrent,
        "single": single,
        "batched": Rate(batched, BATCHED_APPENDS, False),
    }


async def peer_turn(peer: Peer) -> dict[str, Rate]:
    counts = {"append": CONCURRENT_APPENDS, "single": SINGLE_APPENDS, "batched": BATCHED_APPENDS}
    rates = {}
    for mode, group in MODES.items():
        rates[mode] = await peer_rate(peer, counts[mode], group, BUDGET_S["append"])
        log_rate(f"peer, {group} rows per transaction", rates[mode])
    return rates


def append_turns(
    loop: asyncio.Runner, hub: Hub, peer: Peer, count: int
) -> dict[str, list[dict[str, Rate]]]:
    sides: dict[str, Callable[[int], dict[str, Rate]]] = {
        "hub": lambda _: loop.run(hub_turn(hub)),
        "peer": lambda _: loop.run(peer_turn(peer)),
    }
    return alternate(sides, count, log=log)


def append_summary(runs: dict[str, list[dict[str, Rate]]]) -> dict[str, Any]:
    """Medians and spreads of the two secondary modes (the headline goes to comparison())."""
    out: dict[str, Any] = {}
    for mode in ("single", "batched"):
        hub = summary([r[mode].per_s for r in runs["hub"]], 1)
        peer = summary([r[mode].per_s for r in runs["peer"]], 1)
        key = f"append_{mode}"
        out |= {
            f"{key}_per_s": hub["median"],
            f"{key}_spread": [hub["min"], hub["max"]],
            f"{key}_peer_per_s": peer["median"],
            f"{key}_peer_spread": [peer["min"], peer["max"]],
            f"{key}_ratio": round(hub["median"] / peer["median"], 4),
        }
    single = [r["single"] for r in runs["hub"]]
    out["single_appends"] = [r.count for r in single]
    out["single_appends_capped"] = any(r.capped for r in single)
    headline = [r["append"] for side in ("hub", "peer") for r in runs[side]]
    out["append_capped"] = any(r.capped for r in headline)
    out["batched_appends"] = BATCHED_APPENDS
    return out


# --- the full log ---


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


@dataclass(frozen=True)
class ProofTurn:
    p50: float
    tail_name: str
    tail: float
    max: float
    count: int
    loadavg: float


async def proof_turn(hub: Hub, ref: AuditLogRef, size: int, rng: random.Random) -> ProofTurn:
    await timed_proofs(hub, ref, [rng.randint(1, size) for _ in range(WARMUP)], BUDGET_S["proof"])
    seqs = [rng.randint(1, size) for _ in range(PROOFS)]
    times, proofs = await timed_proofs(hub, ref, seqs, BUDGET_S["proof"])
    load = os.getloadavg()[0]
    check_proofs(seqs, proofs, size)
    if load > (os.cpu_count() or 1) - 1:
        # A proof takes about a millisecond; when other processes want every core, the
        # scheduler's time slices (several ms) land inside proofs and set the p99.
        log(f"warning: load average {load:.1f} on {os.cpu_count()} cores during the proofs")
    name, value = tail(times)
    turn = ProofTurn(
        statistics.median(times), name, float(value or 0), max(times), len(times), load
    )
    capped = ", stopped at the time budget" if turn.count < PROOFS else ""
    log(
        f"proof at {size:,} entries: p50 {turn.p50:.3f} ms, {name} {turn.tail:.3f} ms, "
        f"max {turn.max:.3f} ms ({turn.count} random seqs{capped}, all verified)"
    )
    return turn


async def proof_latency(hub: Hub, ref: AuditLogRef, size: int, count: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    # The first call signs the head for the new size: a one-off, reported on its own.
    start = time.perf_counter()
    await hub.audit.proof(ref, rng.randint(1, size), None)
    first_ms = (time.perf_counter() - start) * 1000
    runs = [await proof_turn(hub, ref, size, rng) for _ in range(count)]
    names = {r.tail_name for r in runs}
    name = "p99" if names == {"p99"} else "max"  # p99 only when every turn had 100 proofs
    p50 = summary([r.p50 for r in runs], 3)
    tails = summary([r.tail if name == "p99" else r.max for r in runs], 3)
    return {
        # Named for the default size; "entries" says what this run had.
        f"proof_{name}_ms_1m": tails["median"],
        f"proof_{name}_spread": [tails["min"], tails["max"]],
        "proof_p50_ms_1m": p50["median"],
        "proof_p50_spread": [p50["min"], p50["max"]],
        "proof_max_ms": round(max(r.max for r in runs), 3),
        "proof_first_ms": round(first_ms, 2),
        "proofs": [r.count for r in runs],
        "proof_loadavg_1m": round(max(r.loadavg for r in runs), 2),
        "proofs_capped": any(r.count < PROOFS for r in runs),
    }


def log_rate(what: str, rate: Rate) -> None:
    note = ", stopped at the time budget" if rate.capped else ""
    log(f"{what}: {rate.per_s:,.0f} entries/s ({rate.count} entries{note})")


async def full_log(hub: Hub, entries: int, count: int) -> dict[str, Any]:
    ref = fresh_log("full")
    log(f"fill: {entries:,} entries, {FILL_BATCH} per transaction")
    fill_s = await fill(hub, ref.log_id, entries)
    # Proofs first: an append grows the log, and the next proof would sign a new head.
    proofs = await proof_latency(hub, ref, entries, count)
    at_full = []
    for _ in range(count):
        rate = await record_rate(hub, ref.log_id, APPENDS_AT_FULL, BUDGET_S["append_at_full"])
        log_rate(f"record_now on the log of {entries:,}+ entries", rate)
        at_full.append(rate)
    full = summary([r.per_s for r in at_full], 1)
    return {
        "fill_s": round(fill_s, 1),
        "fill_per_s": round(entries / fill_s, 1),
        **proofs,
        # Named for the default size, as the proofs are ("entries" says what this run had).
        "append_per_s_1m": full["median"],
        "append_per_s_1m_spread": [full["min"], full["max"]],
        "appends_1m": [r.count for r in at_full],
        "appends_1m_capped": any(r.capped for r in at_full),
    }


def tree_comparison() -> dict[str, Any]:
    """bench/audit_tree.py's result, every key prefixed `tree_` (its ratio is `tree_ratio`).

    Its main() checks roots and paths, runs its own alternating turns, then prints JSON."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = audit_tree.main()
    if code != 0:
        raise BenchError(f"audit_tree failed with exit code {code}")
    result: dict[str, Any] = json.loads(out.getvalue().strip().splitlines()[-1])
    keep = ("metric", "hub", "peer", "peer_name", "ratio", "runs", "hub_spread", "peer_spread")
    keep += ("hub_extend", "hub_extend_ratio")
    return {f"tree_{key}": result[key] for key in keep}


def settings_env(data_dir: Path, synchronous: str | None = None) -> dict[str, str]:
    env = hub_env(str(data_dir), synchronous, HUB_LOG_LEVEL="WARNING")
    if os.environ.get("HUB_BENCH_DATABASE_URL"):
        env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
    return env


def durability(settings: dict[str, Any]) -> dict[str, Any]:
    """Read-back settings plus what an append that has returned has survived."""
    return {**settings, "append_returns": "after its transaction commits", **commit_facts(settings)}


@contextlib.contextmanager
def hub_and_peer(
    loop: asyncio.Runner, env: dict[str, str], data_dir: Path
) -> Iterator[tuple[Hub, Peer, dict[str, Any], dict[str, Any]]]:
    """A started hub, a peer at the durability the hub's connections report, both settings."""
    hub = build(load_settings(env))
    loop.run(hub.start())
    peer: Peer | None = None
    try:
        hub_settings = loop.run(database_settings(hub))
        peer = loop.run(open_peer(hub_settings, data_dir))
        peer_settings = loop.run(peer.settings())
        log(f"hub settings {hub_settings}; peer settings {peer_settings}")
        yield hub, peer, durability(hub_settings), durability(peer_settings)
    finally:
        if peer is not None:
            loop.run(peer.close())
        loop.run(hub.close())


def service_bench(
    loop: asyncio.Runner, env: dict[str, str], data_dir: Path, entries: int, count: int
) -> dict[str, Any]:
    with hub_and_peer(loop, env, data_dir) as (hub, peer, hub_settings, peer_settings):
        runs = append_turns(loop, hub, peer, count)
        full = loop.run(full_log(hub, entries, count))
    return comparison(
        bench="audit",
        metric="append_per_s",
        unit="entries/s",
        hub=[r["append"].per_s for r in runs["hub"]],
        peer=[r["append"].per_s for r in runs["peer"]],
        peer_name=f"{peer.name}, {CALLERS} rows per transaction",
        hub_settings=hub_settings,
        peer_settings=peer_settings,
        digits=1,
        append_mode=f"record_now, {CALLERS} concurrent callers, group commit",
        **append_summary(runs),
        **full,
    )


async def headline_turn(hub: Hub, budget_s: float) -> Rate:
    log_id = fresh_log("concurrent").log_id
    rate = await concurrent_rate(hub, log_id, CONCURRENT_APPENDS, CALLERS, budget_s)
    log_rate(f"hub record_now from {CALLERS} concurrent callers", rate)
    return rate


async def peer_headline_turn(peer: Peer, budget_s: float) -> Rate:
    rate = await peer_rate(peer, CONCURRENT_APPENDS, CALLERS, budget_s)
    log_rate(f"peer, {CALLERS} rows per transaction", rate)
    return rate


def other_level(loop: asyncio.Runner, data_dir: Path, level: str, count: int) -> dict[str, Any]:
    """The headline comparison again at the other SQLite level a user can choose, both
    sides at it (read back): `hub_full`, `peer_full`, `ratio_full` and their spreads, runs
    and settings (`_normal` instead when the main pass ran at full)."""
    data_dir.mkdir()
    env = settings_env(data_dir, level)
    with hub_and_peer(loop, env, data_dir) as (hub, peer, hub_settings, peer_settings):
        budget = BUDGET_S["other_level"]
        sides: dict[str, Callable[[int], Rate]] = {
            "hub": lambda _: loop.run(headline_turn(hub, budget)),
            "peer": lambda _: loop.run(peer_headline_turn(peer, budget)),
        }
        log(f"synchronous={level}: {count} turns per side, {CALLERS} callers / rows")
        runs = alternate(sides, count, log=log)
    other = comparison(
        bench="audit",
        metric="append_per_s",
        unit="entries/s",
        hub=[r.per_s for r in runs["hub"]],
        peer=[r.per_s for r in runs["peer"]],
        peer_name=peer.name,
        hub_settings=hub_settings,
        peer_settings=peer_settings,
        digits=1,
    )
    named = {f"{side}_{level}": other[side] for side in ("hub", "peer", "ratio")}
    for side in ("hub", "peer"):
        for what in ("spread", "runs", "settings"):
            named[f"{side}_{level}_{what}"] = other[f"{side}_{what}"]
        named[f"{side}_{level}_capped"] = any(r.capped for r in runs[side])
    return named


def run(entries: int) -> dict[str, Any]:
    started = time.perf_counter()
    count = turns()
    loop, loop_name = runner()
    with tempfile.TemporaryDirectory(prefix="hub-bench-audit-") as data_dir, loop:
        env = settings_env(Path(data_dir))
        database = "sqlite" if load_settings(env).is_sqlite else "postgresql"
        log(f"database {database}; {count} turns per side; the full log gets {entries:,} entries")
        result = service_bench(loop, env, Path(data_dir), entries, count)
        level = sqlite_synchronous()
        other = {}
        if database == "sqlite" and level in SQLITE_LEVELS:
            level = SQLITE_LEVELS[1 - SQLITE_LEVELS.index(level)]
            other = other_level(loop, Path(data_dir) / f"sync-{level}", level, count)
    return {
        **result,
        **other,
        "targets": TARGETS,
        **tree_comparison(),
        "database": database,
        "entries": entries,
        "batch": BATCH,
        "fill_batch": FILL_BATCH,
        "loop": loop_name,
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
