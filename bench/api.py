"""Hub vs. bare Litestar: an authenticated, RBAC-checked tenant user list against a handler
that returns the same bytes, on the same server, under the same client, in one run.

Hub and peer take ROUNDS turns each, alternating, and each side's figure is over all its
turns, so a change in the machine's load mid-run does not favour one side.
The ratio says what share of the framework's ceiling the hub keeps on a typical read:
token check, casbin decision, a read transaction (tenant, then a page of members) and
serialisation of 50 users.
Set HUB_BENCH_DATABASE_URL to run the hub on PostgreSQL (use a scratch database: the
seed is idempotent but reuses what it finds), HUB_BENCH_DURATION for seconds per side.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import httpx
from _load import LoadResult, client_name, effective_duration, load
from _serve import SETTINGS_ENV, BenchError, running

from hub.bootstrap import build, ensure_platform_admin
from hub.domain.audit import SYSTEM
from hub.domain.errors import Conflict
from hub.domain.tenancy import Principal
from hub.security.passwords import Argon2Hasher
from hub.services.tenants import NewMember
from hub.settings import Settings, load_settings

TENANT = "acme"
USERS = 60
PASSWORD = "bench-password-1234"
# An operator: the role the RBAC policy grants GET on users with the fewest other rights.
LOGIN_USER = "user000"
REQUEST_PATH = f"/api/v1/tenants/{TENANT}/users?limit=50"
CONNECTIONS = 64
WARMUP_S = 2.0
ROUNDS = 2  # hub and peer alternate; each turn gets duration / ROUNDS
DEFAULT_DURATION_S = 10.0
PEER_NAME = "bare litestar handler"


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
    }
    if os.environ.get("HUB_BENCH_DATABASE_URL"):
        env["HUB_DATABASE_URL"] = os.environ["HUB_BENCH_DATABASE_URL"]
    return env


async def seed(settings: Settings) -> None:
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
    finally:
        await hub.close()


def login(client: httpx.Client, base: str) -> str:
    response = client.post(
        base + "/api/v1/auth/login", json={"username": LOGIN_USER, "password": PASSWORD}
    )
    if response.status_code != 200:
        raise BenchError(f"login answered {response.status_code}: {response.text}")
    return str(response.json()["access_token"])


def fetch(client: httpx.Client, url: str, headers: dict[str, str]) -> bytes:
    response = client.get(url, headers=headers)
    if response.status_code != 200:
        raise BenchError(f"GET {url} answered {response.status_code}: {response.text}")
    return response.content


def check_same(hub_body: bytes, peer_body: bytes) -> None:
    if json.loads(hub_body) != json.loads(peer_body):
        raise BenchError("the peer's JSON differs from the hub's")
    users = json.loads(hub_body)["items"]
    if len(users) != 50:
        raise BenchError(f"expected a page of 50 users, the hub returned {len(users)}")


def measure(side: str, url: str, headers: dict[str, str], duration: float) -> LoadResult:
    log(f"{side}: warm-up {WARMUP_S:.0f} s")
    load(url, headers, CONNECTIONS, WARMUP_S)
    log(f"{side}: measuring {duration:g} s with {CONNECTIONS} connections")
    result = load(url, headers, CONNECTIONS, duration)
    log(
        f"{side}: {result.requests_per_second:.1f} req/s, p99 {result.p99_ms:.2f} ms "
        f"({result.requests} requests)"
    )
    return result


def combined(results: list[LoadResult]) -> LoadResult:
    """Turns taken together: all their requests over all their time; the worst p99."""
    requests = sum(r.requests for r in results)
    elapsed = sum(r.elapsed_s for r in results)
    return LoadResult(requests, elapsed, requests / elapsed, max(r.p99_ms for r in results))


def run(duration: float) -> dict[str, Any]:
    duration = effective_duration(duration)
    with ExitStack() as stack:
        # Entered first so it is removed last, after both servers have stopped.
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-")))
        env = settings_env(data_dir)
        settings = load_settings(env)
        database = "sqlite" if settings.is_sqlite else "postgresql"
        log(f"seeding {database}: tenant {TENANT!r} with {USERS} users")
        asyncio.run(seed(settings))

        hub_env = {SETTINGS_ENV: json.dumps(env)}
        hub_base = stack.enter_context(running(["hub"], "/health/ready", env=hub_env))
        log(f"hub up at {hub_base}")
        # The same hub with its versioned read cache off: every request reads the database.
        uncached_env = {SETTINGS_ENV: json.dumps({**env, "HUB_READ_CACHE": "off"})}
        uncached_base = stack.enter_context(running(["hub"], "/health/ready", env=uncached_env))
        client = stack.enter_context(httpx.Client(timeout=30.0))
        headers = {"Authorization": f"Bearer {login(client, hub_base)}"}
        body = fetch(client, hub_base + REQUEST_PATH, headers)
        body_file = data_dir / "users.json"
        body_file.write_bytes(body)

        peer_base = stack.enter_context(running(["peer", str(body_file)], REQUEST_PATH))
        log(f"peer up at {peer_base}")
        check_same(body, fetch(client, peer_base + REQUEST_PATH, headers))
        log(f"both answer 200 with the same {len(body)}-byte JSON; client {client_name()}")

        # Hub and peer take turns, so a change in the machine's load hits both alike.
        hubs, peers = [], []
        for turn in range(1, ROUNDS + 1):
            hubs.append(
                measure(
                    f"hub ({turn}/{ROUNDS})", hub_base + REQUEST_PATH, headers, duration / ROUNDS
                )
            )
            peers.append(
                measure(
                    f"peer ({turn}/{ROUNDS})", peer_base + REQUEST_PATH, headers, duration / ROUNDS
                )
            )
        hub, peer = combined(hubs), combined(peers)
        uncached = measure(
            "hub without read cache", uncached_base + REQUEST_PATH, headers, duration
        )
    return {
        "bench": "api",
        "metric": "requests_per_second",
        "hub": round(hub.requests_per_second, 1),
        "peer": round(peer.requests_per_second, 1),
        "peer_name": PEER_NAME,
        "ratio": round(hub.requests_per_second / peer.requests_per_second, 4),
        "unit": "req/s",
        "hub_p99_ms": round(hub.p99_ms, 2),
        "peer_p99_ms": round(peer.p99_ms, 2),
        "hub_uncached": round(uncached.requests_per_second, 1),
        "hub_uncached_p99_ms": round(uncached.p99_ms, 2),
        "ratio_uncached": round(uncached.requests_per_second / peer.requests_per_second, 4),
        "hub_turns_rps": [round(r.requests_per_second, 1) for r in hubs],
        "peer_turns_rps": [round(r.requests_per_second, 1) for r in peers],
        "connections": CONNECTIONS,
        "duration_s": duration,
        "client": client_name(),
        "database": database,
    }


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
