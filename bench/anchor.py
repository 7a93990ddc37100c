"""Benchmark `anchor`: gas per anchor for audit logs of 1, 1,000 and 100,000 entries, and
offline receipt verification latency (no chain call).

What is measured, on the embedded chain (eth-tester, py-evm, the Prague fork), through the
hub's services:

- for three tenants whose logs hold exactly 1, 1,000 and 100,000 entries, the gas used by
  the anchoring transaction of each log's signed head (`AnchorService.anchor_now`). The
  contract stores nothing, so the EVM work is the same whatever the size; `gas_by_entries`
  differs only by calldata pricing, and `execution_gas_by_entries` (gas used minus 21,000
  and the standard calldata price) is identical.
- the raw limit for gas (the peer): the same 100 bytes of calldata sent in a plain
  transaction to an account with no code (no contract, no event): the cheapest way to put
  those bytes on the chain.
- `verify_p99_ms`: `audit.receipt.verify_receipt_offline` on a receipt from the 100,000-entry
  log (leaf from RFC 8785, 17-hash audit path, Ed25519 head signature), p99 of VERIFY_RUNS
  runs. Its raw limit: the same leaf and path hashed with hashlib alone (no JSON, no
  signature).

The calldata floor (EIP-7623, in force since Prague, which eth-tester runs): calldata is
counted in tokens (1 per zero byte, 4 per non-zero byte); a transaction pays
21,000 + max(4 x tokens + execution gas, 10 x tokens). The standard price, 4 gas per token,
is EIP-2028's 4 per zero and 16 per non-zero byte; the floor, 10 per token, applies when a
transaction carries much data and does little work. The anchor's 100 bytes make 313
tokens: the standard price is 1,252 gas, the floor 3,130. The hub's transaction runs the
contract (about 4,400 gas of execution), so 1,252 + 4,400 is above the floor and it pays
the standard price plus its execution. The peer executes nothing, so it pays the floor:
its 24,130 gas include 1,878 gas of floor beyond the 22,252 it would have paid before
Prague. So the gap between the two (ratio = peer/hub, lower gas is better) is the
contract's execution less the floor the peer pays anyway; `peer_gas_without_floor` and
`ratio_without_floor` give the comparison under the older pricing. Every one of these
figures is computed from the calldata and checked against the gas the chain reported.

Method (bench/_method.py): gas depends on the bytes, not on timing or order, so each of
`turns()` turns (at least 3, HUB_BENCH_TURNS) anchors three fresh logs and then sends the
largest one's calldata in the peer's plain transaction on a fresh chain; the figures are
the medians of the turns, with spreads (equal when the bytes' zero count is). The
verification latency runs hub and hashlib in alternating turns, each figure the median of
the turns' p99. Nothing here is periodic, so there is no phase to randomise.
What is durable: the audit entries and anchor rows are committed with the hub's SQLite
settings (WAL + synchronous=NORMAL by default: not fsynced on return; HUB_SQLITE_SYNCHRONOUS
is passed on; see `hub_settings`); the chain is in memory on both sides.
About 1-2 minutes, most of it filling the logs.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from _hub_settings import commit_facts, database_settings, hub_env
from _method import alternate, comparison, summary, tail, turns
from web3 import EthereumTesterProvider, Web3

from audit.receipt import verify_receipt_offline
from connectors.ledger.ethereum import artifact, tenant_key
from hub.bootstrap import Hub, build
from hub.domain.audit import SYSTEM, AuditEvent, RequestContext
from hub.settings import load_settings

SIZES = (1, 1_000, 100_000)
FILL_BATCH = 2_000
VERIFY_RUNS = 2_000
TARGET_VERIFY_P99_MS = 10.0
TX_GAS = 21_000
STANDARD_PER_TOKEN = 4  # EIP-2028 prices, in tokens: 4 per zero byte, 16 per non-zero
FLOOR_PER_TOKEN = 10  # EIP-7623


def log(message: str) -> None:
    print(f"bench anchor: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Calldata:
    """The gas a transaction carrying `data` pays for it (EIP-2028 and EIP-7623)."""

    data: bytes

    @property
    def tokens(self) -> int:
        return sum(4 if b else 1 for b in self.data)

    @property
    def standard(self) -> int:
        return STANDARD_PER_TOKEN * self.tokens

    @property
    def floor(self) -> int:
        return FLOOR_PER_TOKEN * self.tokens

    def gas(self, execution: int) -> int:
        """Gas used by a transaction with this calldata and this much execution."""
        return TX_GAS + max(self.standard + execution, self.floor)

    def execution(self, gas_used: int) -> int:
        """The execution gas in `gas_used`, when the standard price applied."""
        return gas_used - TX_GAS - self.standard


async def fill(hub: Hub, tenant_id: str, size: int) -> None:
    ctx = RequestContext("bench-user", request_id="r1", ip="127.0.0.1")
    async with hub.uow() as uow:
        have = await uow.audit.size(tenant_id)
    while have < size:
        count = min(FILL_BATCH, size - have)
        batch = [
            (ctx, AuditEvent("device.write", "tag", f"plc{i % 16}/p", details={"new": i}))
            for i in range(have, have + count)
        ]
        async with hub.uow(write=True) as uow:
            await hub.audit.append_many(uow, tenant_id, batch)
            await uow.commit()
        have += count


def calldata(slug: str, root_hash: str, tree_size: int) -> bytes:
    contract = Web3().eth.contract(abi=artifact()["abi"])
    call = contract.functions.anchor(tenant_key(slug), bytes.fromhex(root_hash), tree_size)
    return bytes.fromhex(call._encode_transaction_data()[2:])


@dataclass(frozen=True)
class Anchored:
    gas: int
    data: Calldata

    @property
    def execution(self) -> int:
        return self.data.execution(self.gas)


async def anchor_turn(hub: Hub, turn: int) -> tuple[dict[int, Anchored], dict[str, Any]]:
    """Gas per anchor for each size on fresh logs, and a receipt from the largest log."""
    results: dict[int, Anchored] = {}
    receipt: dict[str, Any] = {}
    for size in SIZES:
        slug = f"log-{size}-t{turn}"
        tenant = await hub.tenants.create(slug, f"{size} entries, turn {turn}", SYSTEM)
        started = time.perf_counter()
        await fill(hub, tenant.id, size)
        anchor, _ = await hub.anchors.anchor_now(tenant, SYSTEM)
        assert anchor.status.value == "confirmed" and anchor.tree_size == size, anchor
        tx = await hub.anchors.ledger.rpc("eth_getTransactionReceipt", [anchor.tx_hash])
        results[size] = Anchored(
            int(tx["gasUsed"]), Calldata(calldata(slug, anchor.root_hash, anchor.tree_size))
        )
        log(
            f"turn {turn + 1}, {size:>7,} entries: {results[size].gas:,} gas (filled and "
            f"anchored in {time.perf_counter() - started:.1f} s)"
        )
        if size == SIZES[-1]:
            receipt = await hub.receipts.for_entry(tenant, size // 2)
    return results, receipt


def evm_fork(w3: Web3 | None) -> str | None:
    """The fork an eth-tester chain runs (None for another provider)."""
    tester = getattr(getattr(w3, "provider", None), "ethereum_tester", None)
    chain = getattr(getattr(tester, "backend", None), "chain", None)
    return str(chain.get_vm().fork) if chain is not None else None


def raw_gas(data: bytes) -> tuple[int, str | None]:
    """The same calldata in a plain transaction to an account without code, fresh chain."""
    w3 = Web3(EthereumTesterProvider())
    sender, target = w3.eth.accounts[:2]
    tx_hash = w3.eth.send_transaction({"from": sender, "to": target, "data": data})
    return int(w3.eth.wait_for_transaction_receipt(tx_hash)["gasUsed"]), evm_fork(w3)


async def service_part(data_dir: Path, count: int) -> dict[str, Any]:
    hub = build(load_settings(hub_env(str(data_dir), HUB_LOG_LEVEL="WARNING")))
    await hub.start()
    try:
        turns_: list[dict[int, Anchored]] = []
        receipt: dict[str, Any] = {}
        for turn in range(count):
            gas, got = await anchor_turn(hub, turn)
            turns_.append(gas)
            receipt = receipt or got
        settings = await database_settings(hub)
        # The hub's own chain: DeferredLedger -> EthereumLedger -> Web3, both private and
        # made on first use; evm_fork() says None if that ever changes.
        real = getattr(hub.anchors.ledger, "_ledger", None)
        fork = evm_fork(getattr(real, "_w3", None))
        return {"turns": turns_, "receipt": receipt, "settings": settings, "fork": fork}
    finally:
        await hub.close()


def timed(fn: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def hashlib_only(receipt: dict[str, Any]) -> Any:
    """The inner loop of RFC 9162 2.1.3.2 with nothing else: the floor of the check."""
    leaf = bytes.fromhex(receipt["entry"]["leaf_hash"])
    proof = receipt["proof"]
    path = [bytes.fromhex(p) for p in proof["audit_path"]]
    root = bytes.fromhex(proof["root_hash"])
    body = json.dumps({k: v for k, v in receipt["entry"].items() if k != "leaf_hash"}).encode()

    def check() -> None:
        sha256(b"\x00" + body).digest()
        fn, sn, node = proof["leaf_index"], proof["tree_size"] - 1, leaf
        for sibling in path:
            if fn & 1 or fn == sn:
                node = sha256(b"\x01" + sibling + node).digest()
                while not fn & 1 and fn:
                    fn, sn = fn >> 1, sn >> 1
            else:
                node = sha256(b"\x01" + node + sibling).digest()
            fn, sn = fn >> 1, sn >> 1
        assert node == root

    return check


def verify_latency(receipt: dict[str, Any], count: int) -> dict[str, Any]:
    key_id = receipt["public_key"]["key_id"]
    report = verify_receipt_offline(receipt, expected_key_id=key_id)
    assert report.ok, report.problems
    sides = {
        "hub": lambda _: timed(
            lambda: verify_receipt_offline(receipt, expected_key_id=key_id), VERIFY_RUNS
        ),
        "peer": lambda _: timed(hashlib_only(receipt), VERIFY_RUNS),
    }
    runs = alternate(sides, count, log=log)
    name = tail(runs["hub"][0])[0]  # p99: VERIFY_RUNS is well over 100
    hub_tail = summary([tail(r)[1] or 0.0 for r in runs["hub"]], 4)
    hub_p50 = summary([statistics.median(r) for r in runs["hub"]], 4)
    peer_tail = summary([tail(r)[1] or 0.0 for r in runs["peer"]], 4)
    return {
        f"verify_{name}_ms": hub_tail["median"],
        f"verify_{name}_spread": [hub_tail["min"], hub_tail["max"]],
        "verify_p50_ms": hub_p50["median"],
        "verify_p50_spread": [hub_p50["min"], hub_p50["max"]],
        f"verify_peer_{name}_ms": peer_tail["median"],
        f"verify_peer_{name}_spread": [peer_tail["min"], peer_tail["max"]],
        "verify_runs": VERIFY_RUNS,
        "audit_path_length": len(receipt["proof"]["audit_path"]),
    }


def floor_facts(largest: list[Anchored], peer: list[int]) -> dict[str, Any]:
    """The EIP-7623 arithmetic for the largest log's calldata, checked against the chain.

    Figures are those of the median turn: a turn whose root hash has a zero byte carries
    three tokens fewer (12 gas less for the hub, 30 for the peer at the floor)."""
    median = sorted(largest, key=lambda a: a.gas)[len(largest) // 2]
    data = median.data
    without_floor = TX_GAS + data.standard
    hub_pays_floor = any(a.gas == a.data.floor + TX_GAS for a in largest)
    peer_pays_floor = all(g == a.data.gas(0) for g, a in zip(peer, largest, strict=True))
    return {
        "calldata_bytes": len(data.data),
        "calldata_tokens": data.tokens,
        "calldata_standard_gas": data.standard,
        "calldata_floor_gas": data.floor,
        "floor_applies": {"hub": hub_pays_floor, "peer": peer_pays_floor},
        "peer_floor_surcharge_gas": data.floor - data.standard,
        "peer_gas_without_floor": without_floor,
        "ratio_without_floor": round(without_floor / median.gas, 4),
    }


def chain_settings(fork: str | None, **facts: Any) -> dict[str, Any]:
    return {"chain": "embedded eth-tester (py-evm)", "evm_fork": fork, **facts}


def main() -> int:
    started = time.perf_counter()
    count = turns()
    with tempfile.TemporaryDirectory(prefix="hub-bench-anchor-") as data_dir:
        service = asyncio.run(service_part(Path(data_dir), count))
    gas: list[dict[int, Anchored]] = service["turns"]
    largest = [g[SIZES[-1]] for g in gas]
    peer_runs = [raw_gas(a.data.data) for a in largest]
    peer = [g for g, _ in peer_runs]
    verify = verify_latency(service["receipt"], count)
    execution = {str(s): statistics.median(g[s].execution for g in gas) for s in SIZES}
    same = len({g[s].execution for s in SIZES for g in gas}) == 1
    log(f"raw calldata transaction: {peer} gas; execution gas the same for every size: {same}")
    log(
        f"offline receipt check p99 {verify['verify_p99_ms']} ms (hashlib floor "
        f"{verify['verify_peer_p99_ms']} ms)"
    )
    db = service["settings"]
    result = comparison(
        bench="anchor",
        metric="gas_per_anchor",
        unit="gas",
        hub=[a.gas for a in largest],
        peer=peer,
        peer_name="raw limit: a plain transaction carrying the same 100 calldata bytes "
        "to an account without code (no contract, no event); pays the EIP-7623 floor",
        hub_settings=chain_settings(
            service["fork"], contract_storage_writes=0, **db, **commit_facts(db)
        ),
        peer_settings=chain_settings(peer_runs[0][1], stores=False),
        higher_is_better=False,
        digits=0,
        gas_by_entries={str(s): statistics.median(g[s].gas for g in gas) for s in SIZES},
        execution_gas_by_entries=execution,
        execution_gas_same=same,
        **floor_facts(largest, peer),
        **verify,
        verify_peer_name="the same leaf and audit path hashed with hashlib only",
        targets={"verify_p99_ms": TARGET_VERIFY_P99_MS},
        chain="embedded eth-tester (py-evm)",
        total_s=round(time.perf_counter() - started, 1),
    )
    print(json.dumps(result))
    return 0 if same and verify["verify_p99_ms"] < TARGET_VERIFY_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())
