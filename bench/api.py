"""The hub's HTTP API against peers in the same framework, under two workloads.

- **Mixed (the headline):** 51 users in three tenants and five roles, each with their own
  JWT, cycling through 2,000 requests: 90% reads over users, runs (first page, deep
  cursors, a status filter), devices, one device and audit entries at cursors, each a real
  database read on the hub except the users page and the tenant lookup (its read cache);
  10% writes, audited device changes and member role changes, the latter moving the
  authorization version, which expires the read cache, the decision cache and the casbin
  enforcer (bench/_api_mixed.py). The peer is the same routes written plainly in the same
  framework (bench/_api_peer.py): PyJWT verification, a role SELECT and the page's SELECT
  per request, writes as one transaction with an audit row, on a copy of the same seeded
  SQLite file with the same durability (WAL, synchronous=NORMAL). The ratio is hub/peer:
  what the hub's auth, RBAC, audit chain and service layers cost against hand-written
  handlers doing the same reads and writes.
- **Hot cache:** one user, one URL (`GET .../users?limit=50`, 50 users): every request hits
  the token, decision and page caches and reads nothing from the database. The peer is a
  bare Litestar handler returning the same bytes, so this ratio is the share of the
  framework's ceiling the hub keeps when nothing is read. The same hub with
  HUB_READ_CACHE=off runs beside it (`hub_uncached`).

Method (bench/_method.py): hub and peer in alternating turns, at least three runs each
(HUB_BENCH_TURNS), medians with min-max spreads, both sides' settings read back from the
running processes, p99 only over 100 requests or more. Servers run pinned to one CPU and
the load client (wrk when installed, else bench/_load.py's asyncio client; named in
`load_client`) to the other(s) (`cpu_pinning`; HUB_BENCH_PIN=0 turns it off).
HUB_BENCH_DURATION sets the seconds per run. HUB_BENCH_DATABASE_URL runs the hub on
PostgreSQL (a scratch database): the hot-cache comparison only, as the plain peer reads
SQLite.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import _api_mixed as mixed
import httpx
from _load import LoadResult, Request, announce_client, client_label, effective_duration, load
from _method import SYNCHRONOUS, alternate, comparison, summary, turns
from _serve import SETTINGS_ENV, BenchError, CpuPlan, cpu_plan, running, settle
from sqlalchemy import make_url

from hub.bootstrap import build, ensure_platform_admin
from hub.domain.audit import SYSTEM
from hub.domain.errors import Conflict
from hub.domain.tenancy import Principal
from hub.security.passwords import Argon2Hasher
from hub.services.tenancy.tenants import NewMember
from hub.settings import Settings, load_settings

TENANT = "acme"
USERS = 60
PASSWORD = "bench-password-1234"
# An operator: the role the RBAC policy grants GET on users with the fewest other rights.
LOGIN_USER = "user000"
REQUEST_PATH = f"/api/v1/tenants/{TENANT}/users?limit=50"
CONNECTIONS = 64
ANCHOR_INTERVAL_S = 3600
WARMUP_S = 2.0
DEFAULT_DURATION_S = 10.0
HOT_PEER_NAME = "bare litestar handler returning the same bytes (the framework's ceiling)"
MIXED_PEER_NAME = (
    "plain litestar handlers: PyJWT + role SELECT + page SELECT per request, "
    "writes in one transaction with an audit row (bench/_api_peer.py)"
)


def log(message: str) -> None:
    print(f"[bench api] {message}", file=sys.stderr, flush=True)


def duration_s() -> float:
    raw = os.environ.get("HUB_BENCH_DURATION", "")
    try:
        value = float(raw) if raw else DEFAULT_DURATION_S
    except ValueError:
        raise BenchError(f"HUB_BENCH_DURATION={raw!r} is not a number") from None
    if value <= 0:
        raise BenchError(f"HUB_BENCH_DURATION={raw!r} must be positive")
    return value


def settings_env(data_dir: Path) -> dict[str, str]:
    env = {
        "HUB_DATA_DIR": str(data_dir),
        # Long enough that a long --duration never turns into 401s mid-run.
        "HUB_ACCESS_TOKEN_TTL": str(24 * 3600),
        "HUB_LOG_LEVEL": "WARNING",  # as uvicorn's log_level, for both sides
        # No anchoring cycle during the run (as in bench/safety.py): the default embedded
        # chain is an in-process EVM, a development stand-in for a remote node.
        "HUB_ANCHOR_INTERVAL": str(ANCHOR_INTERVAL_S),
    }
    if os.environ.get("HUB_BENCH_DATABASE_URL"):
        env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
    return env


async def seed(settings: Settings) -> mixed.MixedData | None:
    """The hot-cache tenant, and on SQLite the mixed workload's tenants."""
    # The fast hasher only makes seeding quick; login verifies with the hash's own cost.
    hub = build(settings, hasher=Argon2Hasher(fast=True))
    await hub.start()
    try:
        await ensure_platform_admin(hub, "root", PASSWORD)
        # Conflicts mean a reused PostgreSQL database already holds the seed.
        with suppress(Conflict):
            await hub.tenants.create(TENANT, "Acme", SYSTEM)
        seeder = Principal("seed", True, frozenset())
        for i in range(USERS):
            with suppress(Conflict):
                member = NewMember(f"user{i:03d}", "operator", PASSWORD)
                await hub.tenants.add_member(TENANT, member, seeder, SYSTEM)
        return await mixed.seed(hub, PASSWORD) if settings.is_sqlite else None
    finally:
        await hub.close()


async def _hub_durability(settings: Settings) -> dict[str, str]:
    """What the hub's own bootstrap gives a connection, read back from the database."""
    engine = build(settings).engine  # not started: only its engine is used
    try:
        async with engine.connect() as conn:
            if settings.is_sqlite:
                journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
                level = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
                return {
                    "journal_mode": str(journal).lower(),
                    "synchronous": SYNCHRONOUS.get(int(level or 0), str(level)),
                }
            commit = (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar()
            return {"synchronous_commit": str(commit)}
    finally:
        await engine.dispose()


def hub_settings(settings: Settings, durability: dict[str, str], cache: bool) -> dict[str, Any]:
    return {
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        **durability,
        "workers": 1,
        "db_driver": "sqlalchemy async (aiosqlite)" if settings.is_sqlite else "asyncpg",
        "read_cache": "on" if cache else "off",
        "token_cache": "on",
        "authz_decision_cache": "on",
        "anchor_interval_s": settings.anchor_interval,
    }


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the seeded SQLite file for the peer (its own WAL, no sharing)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def login(client: httpx.Client, base: str, username: str) -> str:
    response = client.post(
        base + "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    if response.status_code != 200:
        raise BenchError(f"login of {username} answered {response.status_code}: {response.text}")
    return str(response.json()["access_token"])


def fetch(client: httpx.Client, base: str, request: Request) -> Any:
    response = client.get(base + request.target, headers=request.headers)
    if response.status_code != 200:
        raise BenchError(f"GET {request.target} answered {response.status_code}: {response.text}")
    return response.json()


def check_hot(hub_body: Any, peer_body: Any) -> None:
    if hub_body != peer_body:
        raise BenchError("the peer's JSON differs from the hub's")
    if len(hub_body["items"]) != 50:
        raise BenchError(f"expected a page of 50 users, the hub returned {len(hub_body['items'])}")


def check_mixed(client: httpx.Client, hub: str, peer: str, data: mixed.MixedData) -> None:
    """Hub and peer answer every kind of read with the same rows in the same order."""
    for request in mixed.sample(data):
        hub_keys = mixed.page_keys(fetch(client, hub, request))
        peer_keys = mixed.page_keys(fetch(client, peer, request))
        if hub_keys != peer_keys:
            raise BenchError(f"hub and peer read different rows for {request.target}")
        if not hub_keys[0]:
            raise BenchError(f"{request.target} read nothing: the seed is incomplete")


def measure(
    side: str, base: str, requests: Sequence[Request], duration: float, plan: CpuPlan | None
) -> LoadResult:
    cpus = plan.client if plan else None
    load(base, requests, CONNECTIONS, WARMUP_S, cpus)  # warm-up, same for every side
    settle(base)  # each run starts on an idle server with warm caches
    result = load(base, requests, CONNECTIONS, duration, cpus)
    waited = settle(base)  # nothing of this run spills into the next
    log(
        f"{side}: {result.requests_per_second:.1f} req/s, {result.tail_name} "
        f"{result.tail_ms:.2f} ms ({result.requests} requests; idle {waited:.1f} s after)"
    )
    return result


def tails(side: str, results: Sequence[LoadResult]) -> dict[str, Any]:
    """Each run's tail latency under its honest name (p99 only if every run had 100+)."""
    name = "p99" if all(r.tail_name == "p99" for r in results) else "max"
    values = summary([r.tail_ms for r in results])
    return {
        f"{side}_{name}_ms": values["median"],
        f"{side}_{name}_ms_spread": [values["min"], values["max"]],
    }


def compare(results: dict[str, list[LoadResult]], peer_name: str, **extra: Any) -> dict[str, Any]:
    rps = {side: [r.requests_per_second for r in runs] for side, runs in results.items()}
    out = comparison(
        bench="api",
        metric="requests_per_second",
        unit="req/s",
        hub=rps["hub"],
        peer=rps["peer"],
        peer_name=peer_name,
        digits=1,
        **extra,
    )
    out.update(tails("hub", results["hub"]))
    out.update(tails("peer", results["peer"]))
    return out


def run_turns(
    sides: dict[str, tuple[str, Sequence[Request]]], duration: float, plan: CpuPlan | None
) -> dict[str, list[LoadResult]]:
    def side(name: str) -> Callable[[int], LoadResult]:
        base, requests = sides[name]
        return lambda turn: measure(f"{name} ({turn + 1})", base, requests, duration, plan)

    return alternate({name: side(name) for name in sides}, turns(), log=log)


def run(duration: float) -> dict[str, Any]:
    plan = cpu_plan()
    announce_client(log)
    duration = effective_duration(duration)
    log(f"cpu pinning: {plan.as_json() if plan else 'none'}")
    with ExitStack() as stack:
        # Entered first so it is removed last, after every server has stopped.
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-")))
        env = settings_env(data_dir)
        settings = load_settings(env)
        database = "sqlite" if settings.is_sqlite else "postgresql"
        log(f"seeding {database}")
        data = asyncio.run(seed(settings))
        durability = asyncio.run(_hub_durability(settings))
        peer_db = data_dir / "peer.db"
        if data is not None:
            copy_database(Path(make_url(settings.database_url).database or ""), peer_db)

        servers = plan.servers if plan else None
        hub_base = stack.enter_context(
            running(["hub"], "/health/ready", {SETTINGS_ENV: json.dumps(env)}, servers)
        )
        # The same hub with its versioned read cache off: the users page read every time.
        uncached_env = {SETTINGS_ENV: json.dumps({**env, "HUB_READ_CACHE": "off"})}
        uncached_base = stack.enter_context(
            running(["hub"], "/health/ready", uncached_env, servers)
        )
        client = stack.enter_context(httpx.Client(timeout=30.0))
        hot = [
            Request(
                REQUEST_PATH, {"Authorization": f"Bearer {login(client, hub_base, LOGIN_USER)}"}
            )
        ]
        body = fetch(client, hub_base, hot[0])
        body_file = data_dir / "users.json"
        body_file.write_bytes(client.get(hub_base + REQUEST_PATH, headers=hot[0].headers).content)
        peer_base = stack.enter_context(
            running(["peer", str(body_file)], REQUEST_PATH, cpus=servers)
        )
        check_hot(body, fetch(client, peer_base, hot[0]))
        log("hot cache: hub and peer answer the same JSON")

        mixed_sides = {}
        if data is not None:
            for username in mixed.senders(data):
                data.tokens[username] = login(client, hub_base, username)
            jwt = {
                "jwt_secret": settings.jwt_secret,
                "jwt_issuer": settings.jwt_issuer,
                "jwt_audience": settings.jwt_audience,
            }
            db_peer = stack.enter_context(
                running(
                    ["dbpeer", str(peer_db)], "/_settings", {SETTINGS_ENV: json.dumps(jwt)}, servers
                )
            )
            peer_durability = client.get(db_peer + "/_settings").json()
            check_mixed(client, hub_base, db_peer, data)
            workload = mixed.requests(data)
            log(
                f"mixed: {len(data.tokens)} users, {len(workload)} requests in the cycle, "
                f"{mixed.write_share(workload):.0%} writes; hub and peer read the same rows"
            )
            mixed_sides = {"hub": (hub_base, workload), "peer": (db_peer, workload)}

        common = {
            "load_client": client_label(),
            "cpu_pinning": plan.as_json() if plan else None,
            "connections": CONNECTIONS,
            "duration_s": duration,
            "warmup_s": WARMUP_S,
            "settle": "each run starts once the server it loads uses < 10% CPU",
            "database": database,
        }
        log("hot cache: one user, one URL")
        hot_results = run_turns(
            {
                "hub": (hub_base, hot),
                "peer": (peer_base, hot),
                "hub_uncached": (uncached_base, hot),
            },
            duration,
            plan,
        )
        uncached = [r.requests_per_second for r in hot_results.pop("hub_uncached")]
        hot_json = compare(
            hot_results,
            HOT_PEER_NAME,
            workload="hot_cache: one user, one URL, every request served from caches",
            hub_settings=hub_settings(settings, durability, cache=True),
            peer_settings={"workers": 1, "database": None, "auth": None, "caches": None},
            ratio_is="share of the framework's ceiling",
            hub_uncached=summary(uncached, 1),
            hub_uncached_settings=hub_settings(settings, durability, cache=False),
            **common,
        )
        if not mixed_sides:
            log("mixed workload skipped: the plain peer reads SQLite only")
            return {**hot_json, "mixed": None}
        log("mixed workload: many users, pages, cursors and 10% writes")
        mixed_results = run_turns(mixed_sides, duration, plan)
    mixed_json = compare(
        mixed_results,
        MIXED_PEER_NAME,
        workload=(
            f"mixed: {len(data.tokens)} users in {len(data.tenants)} tenants, "
            f"{len(workload)} requests cycled, {mixed.write_share(workload):.0%} writes"
        ),
        hub_settings=hub_settings(settings, durability, cache=True),
        peer_settings={
            "database": "sqlite",
            **peer_durability,
            "workers": 1,
            "db_driver": "sqlite3 (stdlib, on the event loop)",
            "read_cache": "none",
            "token_cache": "none",
            "authz_decision_cache": "none",
        },
        ratio_is="hub/peer on the same reads and writes",
        mix={kind: share for kind, (share, _) in mixed.MIX.items()},
        write_share=round(mixed.write_share(workload), 3),
        **common,
    )
    return {**mixed_json, "hot_cache": hot_json}


def main() -> int:
    try:
        result = run(duration_s())
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
