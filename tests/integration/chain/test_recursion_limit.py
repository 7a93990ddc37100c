"""Building the embedded chain leaves the interpreter's recursion limit as it found it
(issue 12, item 2): py-evm and py_ecc raise it to 100,000 at import, and with that limit a
deeply nested body overflowed msgspec's C stack and killed the process.

A fresh interpreter, because this test process has imported web3 already (other chain
tests import connectors.ledger.ethereum at collection)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import asyncio, json, sys
import msgspec
from connectors.ledger.deferred import ledger_for

# importing connectors.ledger.ethereum would load py-evm here
EMBEDDED_KEY = "0x" + "00" * 31 + "01"

async def main():
    before = sys.getrecursionlimit()
    ledger = ledger_for("", EMBEDDED_KEY, None, 1)
    try:
        health = await ledger.health()  # what the anchoring loop's first cycle does
        after_build = sys.getrecursionlimit()
        # py-evm at the normal limit: anchor, look the anchor up, read the chain.
        root = "ab" * 32
        sent = await ledger.anchor("acme", root, 5)
        found = await ledger.lookup(sent.tx_hash, "acme", root, 5)
        block = await ledger.rpc("eth_blockNumber", [])
    finally:
        await ledger.close()
    try:
        msgspec.json.decode(b"[" * 100_000)
        deep = "decoded"
    except RecursionError:
        deep = "RecursionError"
    except msgspec.DecodeError as exc:
        deep = f"DecodeError: {exc}"
    print(json.dumps({
        "before": before, "after_build": after_build, "after_use": sys.getrecursionlimit(),
        "loaded": "eth" in sys.modules and "py_ecc" in sys.modules, "ok": health.ok,
        "state": found.state.value, "block": block, "deep": deep,
    }))

asyncio.run(main())
"""


def test_building_the_embedded_chain_restores_the_recursion_limit() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    # A C stack overflow would end the process with SIGSEGV (-11) and no output.
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["loaded"] and seen["ok"]
    assert seen["after_build"] == seen["before"] == seen["after_use"]
    assert seen["state"] == "mined" and seen["block"]
    assert seen["deep"] != "decoded"  # refused by the decoder, not a crash
