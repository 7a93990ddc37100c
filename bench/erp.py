"""The hub's OData client against a raw httpx loop, on the sample ERP (SAP CAP, OData V4).

Peer process: the sample ERP (connectors/enterprise/sample_erp, started by
connectors/enterprise/sample_server.py) with Gateway-style CSRF tokens on, as SAP Gateway
runs. Both sides talk to that one server, signed in with Basic auth as alice.

Workload per turn, the same HTTP work on both sides:
- read: all 12,000 Readings, following the server's paging (12 full pages of 1,000 and
  the empty 13th CAP links after a full page), one request after the other (each page's
  link comes in the page before);
- write: ORDERS PATCHes of ProductionOrders (created once, untimed, before the turns),
  each with If-Match of the order's current ETag and `Prefer: return=representation`,
  the new ETag taken from the answer (`@odata.etag`, else the ETag header) for the next
  turn of either side; CONCURRENCY requests in flight (that many workers taking the next
  order), a CSRF token fetched once per turn by each side before its first PATCH.

- hub: `ODataClient(connection, pin)` (connectors/enterprise/odata/client.py) on a
  `Connection` for the V4 URL, with the egress pin (StaticEgress allowing 127.0.0.1:port):
  `query(EntityQuery("Readings"))` then `update("ProductionOrders", id, body, etag=...)`.
  It also reads $metadata once per turn (its key predicates come from it): counted.
- peer (the raw limit, "raw httpx"): one `httpx.AsyncClient` with the same connection-pool
  limits (read back from the hub client's pool), timeout and headers, `response.json()`,
  following `@odata.nextLink`, building the key predicate by hand.

Each turn runs on a fresh event loop with a fresh client. Metric: entities per second over
the turn (12,000 read + ORDERS written, divided by the turn's wall time); the read
(Readings/s) and write (PATCHes/s) phases are reported apart. Both sides' requests, as the
server counted them (its /-/stats), are in the JSON for the last turn of each.

Method (bench/_method.py): hub and peer in alternating turns after one untimed warm-up of
each (the node process's JIT), `turns(5)` of each (HUB_BENCH_TURNS, at least 3), medians
with the min-max spread and every run. HUB_BENCH_ERP_ORDERS and HUB_BENCH_ERP_CONCURRENCY
change the write count and the requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from _method import alternate, comparison, summary, turns

from connectors.enterprise.odata.client import ODataClient
from connectors.enterprise.sample_server import (
    PAGE_SIZE,
    READINGS,
    SampleErp,
    SampleErpUnavailable,
    running_sample_erp,
)
from connectors.outbound.pinned import Pin, SystemResolver, tenant_pin
from hub.domain.egress import EgressPolicy, parse_allow_list
from hub.domain.enterprise import Connection, ConnectionAuth, ConnectionSecrets
from hub.ports.enterprise import EntityQuery
from hub.services.egress.rules import StaticEgress

ORDERS = int(os.environ.get("HUB_BENCH_ERP_ORDERS") or 1_000)
CONCURRENCY = int(os.environ.get("HUB_BENCH_ERP_CONCURRENCY") or 16)
DEFAULT_TURNS = 5
ENTITY_SET = "ProductionOrders"
ETAG = "@etag"  # where the hub's client puts an item's ETag
PEER_NAME = "raw httpx"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def order_ids() -> list[str]:
    return [f"BENCH{i:05d}" for i in range(ORDERS)]  # String(12) keys


@dataclass
class Turn:
    read_s: float
    write_s: float
    cpu_s: float  # this process's CPU time over the turn: what the client side costs
    stats: dict[str, Any]

    @property
    def entities_per_s(self) -> float:
        return (READINGS + ORDERS) / (self.read_s + self.write_s)

    @property
    def reads_per_s(self) -> float:
        return READINGS / self.read_s

    @property
    def writes_per_s(self) -> float:
        return ORDERS / self.write_s


async def workers(ids: list[str], one: Callable[[str], Awaitable[None]]) -> None:
    """CONCURRENCY workers, each taking the next id until none is left: the same shape on
    both sides (no task per request on either)."""
    pending: Iterator[str] = iter(ids)

    async def worker() -> None:
        for order_id in pending:
            await one(order_id)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


# --- the hub: ODataClient ---------------------------------------------------------------


def hub_connection(erp: SampleErp) -> Connection:
    return Connection(
        tenant_id="bench",
        name="sample-erp",
        url=erp.v4_url + "/",
        version="v4",
        auth=ConnectionAuth(type="basic", username=erp.user),
        secrets=ConnectionSecrets(password=erp.password),
    )


def hub_pin(erp: SampleErp) -> Pin:
    port = httpx.URL(erp.base_url).port
    policy = EgressPolicy(parse_allow_list(f"127.0.0.1:{port}"))
    return tenant_pin(StaticEgress(policy, SystemResolver()).destination, "bench")


def pool_limits(client: ODataClient) -> dict[str, Any]:
    """The connection-pool limits the hub's client really runs with (httpcore's pool
    inside connectors/outbound/pinned.py), so the raw side gets the same."""
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    return {
        "max_connections": pool._max_connections,
        "max_keepalive_connections": pool._max_keepalive_connections,
        "keepalive_expiry": pool._keepalive_expiry,
        "http2": bool(pool._http2),
    }


async def hub_turn(erp: SampleErp, etags: dict[str, str], quantity: int) -> Turn:
    client = ODataClient(hub_connection(erp), hub_pin(erp))
    try:
        cpu, start = time.process_time(), time.perf_counter()
        page = await client.query(EntityQuery(entity_set="Readings"))
        read_done = time.perf_counter()
        if len(page.items) != READINGS:
            raise RuntimeError(f"the hub read {len(page.items)} Readings, not {READINGS}")

        async def one(order_id: str) -> None:
            item = await client.update(
                ENTITY_SET, order_id, {"Quantity": quantity}, etag=etags[order_id]
            )
            if not item or not item.get(ETAG):
                raise RuntimeError(f"no ETag in the answer for {order_id}")
            etags[order_id] = item[ETAG]

        await workers(order_ids(), one)
        end, cpu = time.perf_counter(), time.process_time() - cpu
    finally:
        await client.close()
    return Turn(read_done - start, end - read_done, cpu, erp.stats())


# --- the peer: a raw httpx loop ---------------------------------------------------------


def raw_client(erp: SampleErp, limits: dict[str, Any], timeout: float) -> httpx.AsyncClient:
    token = httpx.BasicAuth(erp.user, erp.password)._auth_header
    return httpx.AsyncClient(
        headers={"Authorization": token, "Accept": "application/json"},
        limits=httpx.Limits(
            max_connections=limits["max_connections"],
            max_keepalive_connections=limits["max_keepalive_connections"],
            keepalive_expiry=limits["keepalive_expiry"],
        ),
        timeout=timeout,
        trust_env=False,
    )


async def raw_turn(
    erp: SampleErp, etags: dict[str, str], quantity: int, limits: dict[str, Any], timeout: float
) -> Turn:
    root = erp.v4_url + "/"
    async with raw_client(erp, limits, timeout) as http:
        cpu, start = time.process_time(), time.perf_counter()
        items: list[dict[str, Any]] = []
        url: str | None = root + "Readings"
        while url is not None:
            response = await http.get(url)
            response.raise_for_status()
            data = response.json()
            items += data["value"]
            link = data.get("@odata.nextLink")
            url = urljoin(url, link) if link else None
        read_done = time.perf_counter()
        if len(items) != READINGS:
            raise RuntimeError(f"the raw loop read {len(items)} Readings, not {READINGS}")

        fetched = await http.get(root, headers={"x-csrf-token": "Fetch"})
        fetched.raise_for_status()
        token = fetched.headers["x-csrf-token"]
        body = {"Quantity": quantity}

        async def one(order_id: str) -> None:
            response = await http.patch(
                f"{root}{ENTITY_SET}('{order_id}')",
                json=body,
                headers={
                    "If-Match": etags[order_id],
                    "Prefer": "return=representation",
                    "x-csrf-token": token,
                },
            )
            if response.status_code != 200:
                raise RuntimeError(f"PATCH {order_id}: {response.status_code} {response.text}")
            etag = response.json().get("@odata.etag") or response.headers.get("etag")
            if not etag:
                raise RuntimeError(f"no ETag in the answer for {order_id}")
            etags[order_id] = etag

        await workers(order_ids(), one)
        end, cpu = time.perf_counter(), time.process_time() - cpu
    return Turn(read_done - start, end - read_done, cpu, erp.stats())


# --- setup --------------------------------------------------------------------------------


async def create_orders(erp: SampleErp) -> dict[str, str]:
    """ORDERS production orders, once, untimed; their ETags by ID."""
    etags: dict[str, str] = {}
    root = erp.v4_url + "/"
    async with httpx.AsyncClient(auth=erp.auth, timeout=30, trust_env=False) as http:
        token = ""
        if erp.csrf:
            fetched = await http.get(root, headers={"x-csrf-token": "Fetch"})
            token = fetched.headers["x-csrf-token"]

        async def one(order_id: str) -> None:
            response = await http.post(
                root + ENTITY_SET,
                json={"ID": order_id, "Material": "M1", "Plant": "1000", "Quantity": 1},
                headers={"x-csrf-token": token, "Prefer": "return=representation"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"creating {order_id}: {response.status_code} {response.text}")
            etags[order_id] = response.json().get("@odata.etag") or response.headers["etag"]

        await workers(order_ids(), one)
    return etags


def node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def compare(metric: str, unit: str, hub: list[float], peer: list[float]) -> dict[str, Any]:
    h, p = summary(hub, 1), summary(peer, 1)
    return {
        "metric": metric,
        "unit": unit,
        "hub": h["median"],
        "peer": p["median"],
        "ratio": round(h["median"] / p["median"], 4) if p["median"] else None,
        "hub_spread": [h["min"], h["max"]],
        "peer_spread": [p["min"], p["max"]],
        "hub_runs": h["values"],
        "peer_runs": p["values"],
    }


def run(erp: SampleErp) -> dict[str, Any]:
    log(f"sample ERP at {erp.base_url} (CSRF {'on' if erp.csrf else 'off'}); creating {ORDERS}")
    etags = asyncio.run(create_orders(erp))
    probe = ODataClient(hub_connection(erp), hub_pin(erp))
    limits = pool_limits(probe)
    asyncio.run(probe.close())
    timeout = hub_connection(erp).timeout_s
    quantity = iter(range(2, 1_000_000))

    def hub_side(_turn: int) -> Turn:
        erp.reset()
        result = asyncio.run(hub_turn(erp, etags, next(quantity)))
        log(
            f"  hub: {result.entities_per_s:,.0f} entities/s "
            f"(read {result.reads_per_s:,.0f}/s, write {result.writes_per_s:,.1f}/s, "
            f"CPU {result.cpu_s * 1000:,.0f} ms)"
        )
        return result

    def peer_side(_turn: int) -> Turn:
        erp.reset()
        result = asyncio.run(raw_turn(erp, etags, next(quantity), limits, timeout))
        log(
            f"  raw: {result.entities_per_s:,.0f} entities/s "
            f"(read {result.reads_per_s:,.0f}/s, write {result.writes_per_s:,.1f}/s, "
            f"CPU {result.cpu_s * 1000:,.0f} ms)"
        )
        return result

    log("warm-up: one untimed turn of each side")
    hub_side(-1)
    peer_side(-1)
    count = turns(DEFAULT_TURNS)
    results = alternate({"hub": hub_side, "peer": peer_side}, count, log=log)
    hub, peer = results["hub"], results["peer"]
    common = {
        "concurrency": CONCURRENCY,
        "pool": limits,
        "timeout_s": timeout,
        "csrf": "on: a token fetched once per turn, sent on every PATCH",
        "odata": "v4, Basic auth",
    }
    return comparison(
        bench="erp",
        metric=(
            f"entities per second over a turn: {READINGS:,} Readings read (paged by "
            f"{PAGE_SIZE:,}) + {ORDERS:,} ProductionOrders PATCHed with If-Match, "
            f"{CONCURRENCY} in flight"
        ),
        unit="entities/s",
        hub=[t.entities_per_s for t in hub],
        peer=[t.entities_per_s for t in peer],
        peer_name=PEER_NAME,
        hub_settings={
            **common,
            "client": "ODataClient (connectors/enterprise/odata/client.py), egress-pinned",
            "metadata": "$metadata read once per turn (key predicates), counted",
            "etag": "@etag from @odata.etag (Prefer: return=representation)",
        },
        peer_settings={
            **common,
            "client": f"httpx {httpx.__version__} AsyncClient, response.json()",
            "etag": "@odata.etag, else the ETag header (Prefer: return=representation)",
        },
        digits=1,
        read=compare(
            f"Readings per second ({READINGS:,}, sequential pages)",
            "entities/s",
            [t.reads_per_s for t in hub],
            [t.reads_per_s for t in peer],
        ),
        write=compare(
            f"PATCHes per second ({ORDERS:,}, {CONCURRENCY} in flight)",
            "requests/s",
            [t.writes_per_s for t in hub],
            [t.writes_per_s for t in peer],
        ),
        client_cpu_ms_per_turn={
            "hub": summary([t.cpu_s * 1000 for t in hub], 1),
            "peer": summary([t.cpu_s * 1000 for t in peer], 1),
            "note": "the bench process's CPU time over a turn (the server's is not in it)",
        },
        server_requests={"hub": hub[-1].stats, "peer": peer[-1].stats},
        server=f"sample ERP (SAP CAP, @sap/cds 9) on node {node_version()}",
        load_average=[round(x, 2) for x in os.getloadavg()],
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-erp-") as tmp:
        try:
            with running_sample_erp(Path(tmp) / "sample_erp.log", csrf=True) as erp:
                result = run(erp)
        except SampleErpUnavailable as exc:
            log(f"FAILED: {exc}")
            return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
