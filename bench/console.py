"""The operator console's pages against the JSON API calls giving the same data: server
time of the overview and the alarms page with 1,000 tags and 1,000 active alarms.

Set-up, untimed: a Modbus TCP server (bench/_ingest_servers.py, 1,001 holding registers
set once) and one hub served by uvicorn in a process of its own (bench/_serve.py, SQLite,
WAL + synchronous NORMAL as `hub serve`), seeded through its API: 10 devices of 100 tags
each, polled every second, and one alarm rule per tag (`hi` below every value the server
holds, four priorities, five areas), so 1,000 alarms are active, unacknowledged. The
operator signs in to the console through its form (the session cookie); the API client
signs in to the API (a bearer token).

Measured, one request at a time over loopback (httpx, keep-alive), from request to the
last byte of the answer:

- hub (the console): `GET /ui/t/acme/` (the overview: alarms per area and priority, open
  tasks, runs by state, devices with their connection state) and `GET /ui/t/acme/alarms/`
  (the ISA-18.2 list of every active alarm), each a whole HTML page.
- peer (the API): the calls that return the same data as JSON: for the overview, the
  active alarms (every page), the open tasks, the running, waiting, queued and failed
  runs, the devices and each device's status; for the alarms page, the active alarms
  (every page).
  A "view" is the calls in sequence, as a client would have to make them.

Method (bench/_method.py): one untimed warm-up turn per side, then `turns()` alternating
turns of VIEWS views of each page; per turn each page's p50 and p95 on each side; medians
over the turns with the min-max spread. The headline (`hub`, `peer`, `ratio`) is the page
whose ratio is the lower of the two; `ratio_by_page` gives both.
The two sides hit the same process, one after the other, so the PLC polling (1,000 tags a
second) and its alarm evaluation load both the same way. Ratio: peer/hub (the API's p95
over the page's), which the issue wants at 0.3 or more.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from _hub_settings import hub_env
from _method import alternate, comparison, percentile, summary, turns
from _serve import SETTINGS_ENV, BenchError, free_port, running

BENCH_DIR = Path(__file__).resolve().parent
TENANT = "acme"
OPERATOR, ADMIN, PASSWORD = "op", "root", "a-long-bench-password"
DEVICES, TAGS_PER_DEVICE = 10, 100
PRIORITIES = ("critical", "high", "medium", "low")
AREAS = 5
VIEWS = int(os.environ.get("HUB_BENCH_CONSOLE_VIEWS", "30"))
WARMUP_VIEWS = 5
PAGE_LIMIT = 500  # the API's largest page (hub/domain/paging.py MAX_LIMIT)
TARGET_RATIO = 0.3
PAGES = {"overview": f"/ui/t/{TENANT}/", "alarms": f"/ui/t/{TENANT}/alarms/"}
_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- peers and set-up --------------------------------------------------------------------


@contextlib.contextmanager
def modbus_server() -> Iterator[int]:
    """Registers 1..1000 hold 2..999, 0, 1 (set once: the period is an hour)."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "_ingest_servers.py"), "modbus", str(port),
         str(DEVICES * TAGS_PER_DEVICE + 1), "3600000"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise BenchError("the Modbus server did not start")
        yield port
    finally:
        child.terminate()
        child.wait(10)


def seed_env(data_dir: Path) -> dict[str, str]:
    env = hub_env(str(data_dir), HUB_LOG_LEVEL="WARNING", HUB_ANCHOR_INTERVAL="3600")
    env["HUB_ACCESS_TOKEN_TTL"] = str(24 * 3600)
    env["HUB_EGRESS_ALLOW"] = "127.0.0.1"
    return env


def seed_users(env: dict[str, str]) -> None:
    """The platform admin, the tenant and its operator, before the server starts."""
    import asyncio

    from hub.bootstrap import build, ensure_platform_admin
    from hub.domain.audit import SYSTEM
    from hub.domain.tenancy import Principal
    from hub.security.passwords import Argon2Hasher
    from hub.services.tenancy.tenants import NewMember
    from hub.settings import load_settings

    async def seed() -> None:
        hub = build(load_settings(env), hasher=Argon2Hasher(fast=True))
        await hub.start()
        try:
            await ensure_platform_admin(hub, ADMIN, PASSWORD)
            await hub.tenants.create(TENANT, "Acme", SYSTEM)
            seeder = Principal("seed", True, frozenset())
            member = NewMember(OPERATOR, "operator", PASSWORD)
            await hub.tenants.add_member(TENANT, member, seeder, SYSTEM)
        finally:
            await hub.close()

    asyncio.run(seed())


def api_client(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60.0)
    login = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    if login.status_code != 200:
        raise BenchError(f"login of {username}: {login.status_code} {login.text}")
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return client


def console_client(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60.0)
    form = client.get("/ui/login")
    token = _CSRF.search(form.text)
    if token is None:
        raise BenchError("the console's sign-in form has no CSRF token")
    signed = client.post(
        "/ui/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token[1]},
    )
    if signed.status_code != 303:
        raise BenchError(f"console sign-in: {signed.status_code}")
    return client


def plant(admin: httpx.Client, port: int) -> None:
    """10 devices of 100 uint16 tags on the server's registers 1..1000, and a rule per tag
    whose `hi` limit is below every value there."""
    api = f"/api/v1/tenants/{TENANT}"
    for d in range(DEVICES):
        tags = [
            {"name": f"t{i:03d}", "register": "holding", "address": d * TAGS_PER_DEVICE + i + 1,
             "datatype": "uint16", "unit": "kPa"}
            for i in range(TAGS_PER_DEVICE)
        ]  # fmt: skip
        device = {"name": f"dev-{d:02d}", "protocol": "modbus",
                  "endpoint": f"modbus-tcp://127.0.0.1:{port}", "poll_interval_ms": 1000,
                  "tags": tags}  # fmt: skip
        _ok(admin.post(f"{api}/devices", json=device), "device")
        for i in range(TAGS_PER_DEVICE):
            n = d * TAGS_PER_DEVICE + i
            rule = {"device": f"dev-{d:02d}", "tag": f"t{i:03d}",
                    "priority": PRIORITIES[n % len(PRIORITIES)], "area": f"area-{n % AREAS}",
                    "hi": -1.0}  # fmt: skip
            _ok(admin.post(f"{api}/alarm-rules", json=rule), "alarm rule")


def _ok(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise BenchError(f"{what}: {response.status_code} {response.text[:300]}")


def active_alarms(client: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"state": "active", "limit": PAGE_LIMIT}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"/api/v1/tenants/{TENANT}/alarms", params=params)
        _ok(page, "alarms")
        body = page.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def wait_for_alarms(client: httpx.Client, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while (count := len(active_alarms(client))) < DEVICES * TAGS_PER_DEVICE:
        if time.monotonic() > deadline:
            raise BenchError(f"only {count} alarms active after {timeout:.0f} s")
        time.sleep(0.5)


# --- the views -----------------------------------------------------------------------------


def api_overview(client: httpx.Client) -> int:
    """The overview's data through the API; the bytes received."""
    api = f"/api/v1/tenants/{TENANT}"
    size = sum(len(json.dumps(a)) for a in active_alarms(client))
    size += _get(client, f"{api}/tasks", {"status": "open", "limit": PAGE_LIMIT})
    for status in ("running", "waiting", "queued", "failed"):
        size += _get(client, f"{api}/runs", {"status": status, "limit": PAGE_LIMIT})
    devices = client.get(f"{api}/devices", params={"limit": PAGE_LIMIT})
    _ok(devices, "devices")
    size += len(devices.content)
    for device in devices.json()["items"]:
        size += _get(client, f"{api}/devices/{device['id']}/status", {})
    return size


def api_alarms(client: httpx.Client) -> int:
    return sum(len(json.dumps(a)) for a in active_alarms(client))


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> int:
    response = client.get(path, params=params)
    _ok(response, path)
    return len(response.content)


def page_view(client: httpx.Client, path: str) -> Callable[[], int]:
    def view() -> int:
        response = client.get(path)
        _ok(response, path)
        if "text/html" not in response.headers.get("content-type", ""):
            raise BenchError(f"{path} answered {response.headers.get('content-type')}")
        return len(response.content)

    return view


def timed(views: dict[str, Callable[[], int]], count: int) -> dict[str, list[float]]:
    """`count` rounds of every view in turn; ms per view, by page."""
    times: dict[str, list[float]] = {name: [] for name in views}
    for _ in range(count):
        for name, view in views.items():
            began = time.perf_counter()
            view()
            times[name].append((time.perf_counter() - began) * 1000)
    return times


def figures(times: dict[str, list[float]]) -> dict[str, Any]:
    every = [t for values in times.values() for t in values]
    return {
        "p95": percentile(every, 95),
        **{f"{name}_p50": percentile(v, 50) for name, v in times.items()},
        **{f"{name}_p95": percentile(v, 95) for name, v in times.items()},
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp, modbus_server() as port:
        env = seed_env(Path(tmp) / "hub")
        seed_users(env)
        with running(["hub"], "/health/live", env={SETTINGS_ENV: json.dumps(env)}) as base:
            admin, api = api_client(base, ADMIN), api_client(base, OPERATOR)
            log(f"console: seeding {DEVICES * TAGS_PER_DEVICE} tags and alarm rules")
            plant(admin, port)
            wait_for_alarms(api)
            console = console_client(base, OPERATOR)
            pages = {name: page_view(console, path) for name, path in PAGES.items()}
            sizes = {name: view() for name, view in pages.items()}
            calls = {"overview": lambda: api_overview(api), "alarms": lambda: api_alarms(api)}
            log(f"console: page bytes {sizes}; {VIEWS} views of each page a turn")
            timed(pages, WARMUP_VIEWS)
            timed(calls, WARMUP_VIEWS)

            def hub_turn(_turn: int) -> dict[str, Any]:
                result = figures(timed(pages, VIEWS))
                log(f"  console pages: p95 {result['p95']:.1f} ms {result}")
                return result

            def peer_turn(_turn: int) -> dict[str, Any]:
                result = figures(timed(calls, VIEWS))
                log(f"  API calls:     p95 {result['p95']:.1f} ms {result}")
                return result

            results = alternate({"hub": hub_turn, "peer": peer_turn}, turns(), log=log)
            for client in (admin, api, console):
                client.close()

    # The headline is the page whose API calls it loses most to (the lower ratio); the
    # other page's figures are beside it.
    def ratio_of(page: str) -> float:
        hub_median = statistics.median(r[f"{page}_p95"] for r in results["hub"])
        peer_median = statistics.median(r[f"{page}_p95"] for r in results["peer"])
        return peer_median / hub_median

    ratios = {page: round(ratio_of(page), 4) for page in PAGES}
    headline = min(ratios, key=lambda page: ratios[page])
    hub_p95 = [r[f"{headline}_p95"] for r in results["hub"]]
    peer_p95 = [r[f"{headline}_p95"] for r in results["peer"]]
    settings = {
        "tags": DEVICES * TAGS_PER_DEVICE,
        "active_alarms": DEVICES * TAGS_PER_DEVICE,
        "poll_interval_ms": 1000,
        "views_per_turn": VIEWS,
        "client": "httpx, one request at a time, keep-alive, loopback",
        "database": "sqlite (WAL, synchronous as hub serve)",
    }
    out = comparison(
        bench="console",
        metric=f"server time of the console's {headline} page (HTML; the page of the two "
        "that loses most to the API) against the JSON API calls giving the same data, "
        "1,000 tags and 1,000 active alarms, p95",
        unit="ms (p95)",
        hub=hub_p95,
        peer=peer_p95,
        peer_name="the JSON API calls giving each page's data, made in sequence",
        hub_settings={**settings, "pages": PAGES},
        peer_settings={
            **settings,
            "calls": "active alarms (every page); overview also "
            "open tasks, running/waiting/failed runs, devices, each status",
        },
        higher_is_better=False,
        digits=1,
    )
    out["per_page"] = {
        side: {
            key: summary([r[key] for r in results[side]])
            for key in results[side][0]
            if key != "p95"
        }
        for side in ("hub", "peer")
    }
    out["headline_page"] = headline
    out["ratio_by_page"] = ratios
    out["page_bytes"] = sizes
    out["target_ratio"] = TARGET_RATIO
    out["meets_target"] = out["ratio"] >= TARGET_RATIO
    print(json.dumps(out))
    return 0
