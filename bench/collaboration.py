"""Signed, audited messages from one hub to another (issue 18) against plain POSTs of the
same size between the same two processes.

Two `hub serve` processes on loopback, A and B (tests/support/hubs.py: each with its own
data directory, SQLite database and port), with tenants `plant` on A and `supplier` on B
made partner organisations the way their administrators do (register, signed invitation,
accept). Then, in alternating turns (bench/_method.py), each side delivers 1,000 messages
(HUB_BENCH_MESSAGES) from A's side to B:

- **hub:** 1,000 direct messages (CloudEvents, type org.industrialhub.direct_message)
  handed to A in one request (`POST .../partners/{id}/messages`). A writes each to its
  outbox with its `federation.message.send` audit entry in that request's transaction; its
  sender signs each as it sends it (RFC 9421, Ed25519), 64 in flight (messaging.BATCH),
  through its federation transport (httpx under the egress policy), and records each
  delivery. B checks the signature, the content digest, the clock skew and the replay
  nonce, takes each message once (inbox row and `federation.message.receive` audit entry
  in one transaction) and answers 202. Rate: messages / (B's last receipt - the moment the
  bench handed the batch to A). Delivery latency of a message: B's receive entry's time -
  A's send entry's time (one machine, one clock), so it includes the outbox queue.
- **peer:** the same messages as plain, unverified POSTs: the CloudEvent bytes A would send,
  with signature headers of the same size, posted by the client A sends with
  (connectors/federation/http.py, same httpx pool) with the same 64 in flight, to B's
  federation inbox for an organisation id B does not have. Why that peer: it is the same
  process, HTTP stack, route and body read as the hub's messages, answered 404 after the
  inbox's first step (finding the addressed organisation: one indexed read), so the ratio
  prices exactly what federation adds: signing, verification, replay protection, the
  outbox and the audit entries on both sides. No route of the hub takes a POST more
  cheaply (the other public POST routes are sign-ins and token refresh). The peer's
  sender is this bench process on A's CPU (A is idle then): a hub has no way to be told to
  send unsigned POSTs, and this is the same client code. Latency is measured the same way:
  from handing over the batch to each answer.

`p99_ms` is the hub's p99 delivery latency in those 1,000-message bursts (median of the
runs). `paced` adds one run of 200 messages handed to A one request at a time at 50/s,
well under capacity: the delivery latency with no queue. `cpu_ms_per_message` is the CPU
time per message of A, B and this bench (the peer's sender) in each side's runs: where the
time goes, and which process bounds the rate. With two or more CPUs, B runs on the first,
A and this process on the others (HUB_BENCH_PIN=0: no pinning).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # tests.support.hubs, when run as bench/run.py collaboration
    sys.path.insert(0, str(ROOT))

from _hub_settings import commit_facts, sqlite_synchronous  # noqa: E402
from _method import alternate, comparison, percentile, summary, tail, turns  # noqa: E402
from _serve import BenchError, CpuPlan, cpu_plan, pinned  # noqa: E402

from connectors.federation.http import HttpFederation  # noqa: E402
from hub.security.federation import (  # noqa: E402
    CLOUDEVENTS_CONTENT_TYPE,
    OrganisationKeys,
    encode_event,
    new_event,
    sign_request,
)
from hub.services.collaboration.messaging import BATCH, DIRECT_MESSAGE  # noqa: E402
from tests.support.hubs import HubProcess, Tenant, befriend, init_all, start_all  # noqa: E402

DEFAULT_MESSAGES = 1000
PACED_MESSAGES = 200  # p99 over 100 samples or more (_method.percentile_name)
PACED_RATE = 50.0  # messages per second, one request each
TEXT = "Lot 4711 released for shipment; certificate follows. " * 3  # a short business note
SETTLE_STEP_S = 0.25
SETTLED_SHARE = 0.1
RUN_TIMEOUT_S = 300.0
PEER_NAME = (
    "plain unsigned POSTs of the same CloudEvent bytes and header sizes, same client "
    "(HttpFederation/httpx) and 64 in flight, to hub B's federation inbox for an unknown "
    "organisation (answered 404 after one lookup)"
)
HUB_ENV = {
    "HUB_ANCHOR_INTERVAL": "3600",  # no anchoring cycle during a run (as bench/api.py)
    "HUB_ACCESS_TOKEN_TTL": str(24 * 3600),
    "HUB_LOG_LEVEL": "WARNING",  # no access log line per message
}


def log(message: str) -> None:
    print(f"[bench collaboration] {message}", file=sys.stderr, flush=True)


def message_count() -> int:
    raw = os.environ.get("HUB_BENCH_MESSAGES", "").strip()
    try:
        count = int(raw) if raw else DEFAULT_MESSAGES
    except ValueError:
        raise BenchError(f"HUB_BENCH_MESSAGES={raw!r} is not an integer") from None
    if not 1 <= count <= 1000:  # one request to A carries at most 1,000 (partners.py)
        raise BenchError("HUB_BENCH_MESSAGES must be 1 to 1000")
    return count


def _messages(run: str, count: int) -> list[dict[str, Any]]:
    return [{"run": run, "seq": i, "text": TEXT} for i in range(count)]


def _moment(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00")).timestamp()


# --- waiting for the processes -----------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(hubs: Sequence[HubProcess], timeout: float = 120.0) -> float:
    """Until every hub uses under 10% of a CPU for two steps in a row: a run starts on idle
    processes, and nothing of one run (A recording its last deliveries) spills into the next."""
    pids = [hub.pid for hub in hubs if hub.pid is not None]
    if not pids or not Path(f"/proc/{pids[0]}/stat").exists():
        return 0.0
    started = time.monotonic()
    quiet, used = 0, [_cpu_seconds(p) for p in pids]
    while quiet < 2:
        if time.monotonic() - started > timeout:
            raise BenchError(f"the hubs were still busy {timeout:.0f} s after a run")
        time.sleep(SETTLE_STEP_S)
        now = [_cpu_seconds(p) for p in pids]
        busy = any(n - u >= SETTLED_SHARE * SETTLE_STEP_S for n, u in zip(now, used, strict=True))
        quiet = 0 if busy else quiet + 1
        used = now
    return time.monotonic() - started


def _cpu(setup: Setup) -> dict[str, float]:
    """CPU seconds used so far by A, B and this process (the peer's sender)."""
    times = os.times()
    used = {"bench": times.user + times.system}
    for name, hub in (("A", setup.a), ("B", setup.b)):
        used[name] = _cpu_seconds(hub.pid) if hub.pid is not None else 0.0
    return used


def _per_message(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    return {k: round((after[k] - before[k]) * 1000 / count, 2) for k in before}


# --- reading the audit logs ----------------------------------------------------------------------


class Entries:
    """A tenant's audit entries of one action, read forward from where the last read ended."""

    def __init__(self, tenant: Tenant, action: str) -> None:
        self._tenant = tenant
        self._action = action
        self._cursor: str | None = None

    def new(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"action": self._action, "limit": 500}
            if self._cursor is not None:
                params["cursor"] = self._cursor
            answer = self._tenant.get("/audit", **params)
            if answer.status_code != 200:
                raise BenchError(f"audit of {self._tenant.slug}: {answer.status_code}")
            items = answer.json()["items"]
            found.extend(items)
            if items:
                self._cursor = str(items[-1]["seq"])
            if len(items) < 500:
                return found


def _receipts(receive: Entries, ids: Collection[str], hubs: Sequence[HubProcess]) -> list[Any]:
    """B's receive entries of these event ids, waited for without loading B: first until
    both hubs are idle, then (a retry may be waiting out its backoff) read every 0.2 s."""
    wanted, got = set(ids), {}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    settle(hubs)
    while True:
        for entry in receive.new():
            event_id = entry["details"]["event_id"]
            if event_id in wanted:
                if event_id in got:
                    raise BenchError(f"message {event_id} was taken twice")
                got[event_id] = entry
        if len(got) == len(wanted):
            return [got[i] for i in ids]
        if time.monotonic() > deadline:
            raise BenchError(f"only {len(got)} of {len(wanted)} messages reached B")
        time.sleep(0.2)


# --- the two sides ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    rate: float  # messages per second
    latencies_ms: list[float]
    handover_s: float = 0.0  # hub: A's answer to the batch (outbox rows + send entries)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per message, by process

    def tail_ms(self) -> float:
        return float(percentile(self.latencies_ms, 99) or 0.0)


@dataclass
class Setup:
    a: HubProcess
    b: HubProcess
    plant: Tenant
    supplier: Tenant
    partner_id: str  # the supplier, as a partner of the plant (on A)
    count: int


def hub_run(setup: Setup, turn: int) -> Run:
    sent, receive = (
        Entries(setup.plant, "federation.message.send"),
        Entries(setup.supplier, "federation.message.receive"),
    )
    sent.new()  # start after everything earlier runs left
    receive.new()
    body = {"messages": _messages(f"hub-{turn}", setup.count)}
    cpu = _cpu(setup)
    started = time.time()
    answer = setup.plant.post(f"/partners/{setup.partner_id}/messages", body)
    handover = time.time() - started
    if answer.status_code != 202:
        raise BenchError(f"A refused the messages: {answer.status_code} {answer.text[:300]}")
    ids = list(answer.json()["event_ids"])
    received = _receipts(receive, ids, [setup.a, setup.b])
    used = _per_message(cpu, _cpu(setup), setup.count)
    sent_at = {e["details"]["event_id"]: _moment(e) for e in sent.new()}
    if not set(ids) <= set(sent_at):
        raise BenchError("A's log lacks send entries of some messages")
    moments = [_moment(e) for e in received]
    latencies = [(m - sent_at[i]) * 1000 for i, m in zip(ids, moments, strict=True)]
    rate = setup.count / (max(moments) - started)
    log(
        f"hub ({turn + 1}): {rate:.0f} msg/s, p99 {percentile(latencies, 99):.0f} ms "
        f"(A took the batch in {handover:.2f} s; CPU ms/message {used})"
    )
    return Run(rate, latencies, handover, used)


def peer_requests(setup: Setup, turn: int) -> tuple[str, list[tuple[bytes, dict[str, str]]]]:
    """The bodies A would send, with signature headers of the same size (a throwaway key),
    addressed to an organisation B does not have."""
    nobody = OrganisationKeys.generate()
    url = f"{setup.b.base}/federation/v1/organisations/{nobody.public().org_id}"
    requests = []
    for message in _messages(f"peer-{turn}", setup.count):
        event = new_event(
            type=DIRECT_MESSAGE,
            source=str(setup.plant.org["endpoint_url"]),
            subject=None,
            data=message,
            extensions={"orgid": setup.plant.org_id},
        )
        body = encode_event(event)
        headers = sign_request(nobody, "POST", url, body, CLOUDEVENTS_CONTENT_TYPE, now=time.time())
        requests.append((body, headers))
    return url, requests


async def _post_all(url: str, requests: list[tuple[bytes, dict[str, str]]]) -> list[float]:
    async def anywhere(tenant: str | None, host: str, port: int) -> str:
        return host  # loopback, as B's address: the egress check is not what is measured

    transport = HttpFederation(anywhere)
    gate = asyncio.Semaphore(BATCH)
    started = time.perf_counter()
    done: list[float] = []

    async def one(body: bytes, headers: dict[str, str]) -> None:
        async with gate:
            answer = await transport.post("bench", url, headers, body)
        if answer.status != 404:
            raise BenchError(f"the peer's POST answered {answer.status} {answer.reason}")
        done.append(time.perf_counter() - started)

    try:
        await asyncio.gather(*(one(body, headers) for body, headers in requests))
    finally:
        await transport.close()
    return done


def peer_run(setup: Setup, turn: int) -> Run:
    url, requests = peer_requests(setup, turn)
    settle([setup.a, setup.b])
    cpu = _cpu(setup)
    done = asyncio.run(_post_all(url, requests))
    used = _per_message(cpu, _cpu(setup), setup.count)
    rate = setup.count / max(done)
    latencies = [d * 1000 for d in done]
    log(
        f"peer ({turn + 1}): {rate:.0f} msg/s, p99 {percentile(latencies, 99):.0f} ms "
        f"(CPU ms/message {used})"
    )
    return Run(rate, latencies, cpu_ms=used)


def paced_run(setup: Setup) -> dict[str, Any]:
    """One message per request at PACED_RATE: delivery latency with no queue in front."""
    sent, receive = (
        Entries(setup.plant, "federation.message.send"),
        Entries(setup.supplier, "federation.message.receive"),
    )
    sent.new()
    receive.new()
    ids: list[str] = []
    start = time.monotonic()
    for i, message in enumerate(_messages("paced", PACED_MESSAGES)):
        delay = start + i / PACED_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the pace of the load, not a wait for something to happen
        answer = setup.plant.post(f"/partners/{setup.partner_id}/messages", {"messages": [message]})
        if answer.status_code != 202:
            raise BenchError(f"A refused a paced message: {answer.status_code}")
        ids.extend(answer.json()["event_ids"])
    received = _receipts(receive, ids, [setup.a, setup.b])
    sent_at = {e["details"]["event_id"]: _moment(e) for e in sent.new()}
    latencies = [(_moment(e) - sent_at[i]) * 1000 for i, e in zip(ids, received, strict=True)]
    name, value = tail(latencies)
    log(f"paced: p50 {statistics.median(latencies):.1f} ms, {name} {value:.1f} ms")
    return {
        "messages": PACED_MESSAGES,
        "rate_per_s": PACED_RATE,
        "p50_ms": round(statistics.median(latencies), 1),
        f"{name}_ms": round(float(value or 0.0), 1),
    }


# --- set-up --------------------------------------------------------------------------------------


def _journal_mode(hub: HubProcess) -> str:
    with sqlite3.connect(hub.data_dir / "hub.db") as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def prepare(stack: ExitStack, count: int, plan: CpuPlan | None) -> Setup:
    root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-collab-")))
    receiver = plan.servers if plan else None
    sender = plan.client if plan else None
    log(f"cpu pinning: {_pinning(plan) or 'none'}")
    env = {**HUB_ENV, "HUB_SQLITE_SYNCHRONOUS": sqlite_synchronous()}
    a = HubProcess("hub-a", root, env=env, preexec_fn=pinned(sender))
    b = HubProcess("hub-b", root, env=env, preexec_fn=pinned(receiver))
    stack.callback(a.close)
    stack.callback(b.close)
    if sender and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sender))
    log("hub init (A and B)")
    init_all([a, b])
    start_all([a, b])
    plant = a.add_tenant("plant", "Plant", roles=("tenant_admin",))
    supplier = b.add_tenant("supplier", "Supplier", roles=("tenant_admin",))
    partner_id, _ = befriend(plant, supplier)
    log(f"A {a.base} and B {b.base} are partners (plant -> supplier)")
    return Setup(a, b, plant, supplier, partner_id, count)


def _pinning(plan: CpuPlan | None) -> dict[str, list[int]] | None:
    if plan is None:
        return None
    return {"B": sorted(plan.servers), "A_and_bench": sorted(plan.client)}


def run() -> dict[str, Any]:
    count = message_count()
    plan = cpu_plan()
    with ExitStack() as stack:
        setup = prepare(stack, count, plan)
        log("warm-up: one small run of each side")
        warm = Setup(setup.a, setup.b, setup.plant, setup.supplier, setup.partner_id, 100)
        hub_run(warm, -1)
        peer_run(warm, -1)
        sides = {"hub": lambda t: hub_run(setup, t), "peer": lambda t: peer_run(setup, t)}
        results = alternate(sides, turns(), log=log)
        paced = paced_run(setup)
        url, sample = peer_requests(setup, 0)
        body_bytes = len(sample[0][0])
        header_bytes = sum(len(k) + len(v) for k, v in sample[0][1].items())
        journal = _journal_mode(setup.b)
    level = sqlite_synchronous()
    durability = {"database": "sqlite", "journal_mode": journal, "synchronous": level}
    handover = summary([r.handover_s for r in results["hub"]], 3)
    hub_tails = summary([r.tail_ms() for r in results["hub"]], 1)
    peer_tails = summary([r.tail_ms() for r in results["peer"]], 1)
    hub_p50 = summary([statistics.median(r.latencies_ms) for r in results["hub"]], 1)
    cpu = {
        side: {
            k: round(statistics.median(r.cpu_ms[k] for r in runs), 2) for k in ("A", "B", "bench")
        }
        for side, runs in results.items()
    }
    return comparison(
        bench="collaboration",
        metric="messages_per_second",
        unit="msg/s",
        hub=[r.rate for r in results["hub"]],
        peer=[r.rate for r in results["peer"]],
        peer_name=PEER_NAME,
        hub_settings={
            **durability,
            **commit_facts(durability),
            # per connection, so not readable from outside the hub's process
            "synchronous_from": "HUB_SQLITE_SYNCHRONOUS, passed to both hubs",
            "processes": "two hub serve (A sends, B receives), one uvicorn worker each",
            "signature": "RFC 9421 HTTP Message Signatures, Ed25519, per message",
            "audit": "federation.message.send on A, federation.message.receive on B",
            "outbox_in_flight": BATCH,
            "anchor_interval_s": float(HUB_ENV["HUB_ANCHOR_INTERVAL"]),
        },
        peer_settings={
            "route": "B: POST /federation/v1/organisations/{unknown org} (404)",
            "signature": "headers of the same size, not verified",
            "audit": None,
            "in_flight": BATCH,
            "client": "connectors.federation.http.HttpFederation (httpx, httpcore pool)",
        },
        digits=1,
        messages=count,
        p99_ms=hub_tails["median"],
        p99_ms_spread=[hub_tails["min"], hub_tails["max"]],
        p99_means=f"A's send audit entry to B's receive entry, in bursts of {count} messages",
        p50_ms=hub_p50["median"],
        peer_p99_ms=peer_tails["median"],
        peer_p99_ms_spread=[peer_tails["min"], peer_tails["max"]],
        paced=paced,
        handover_s=handover["median"],
        cpu_ms_per_message=cpu,
        cpu_means="CPU time per message of hub A, hub B and this bench (the peer's sender)",
        body_bytes=body_bytes,
        signature_header_bytes=header_bytes,
        peer_url_shape=url.rsplit("/", 1)[0] + "/{unknown}",
        cpu_pinning=_pinning(plan),
    )


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
