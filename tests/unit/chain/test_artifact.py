"""The committed contract artifact is the compiled form of the committed source."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from audit.receipt import ANCHORED_TOPIC
from connectors.ledger.ethereum import ANCHORED, ARTIFACT, artifact

CONTRACTS = Path(ARTIFACT).parent


def test_artifact_matches_the_source() -> None:
    source = (CONTRACTS / "AuditAnchor.sol").read_bytes()
    assert artifact()["source_sha256"] == hashlib.sha256(source).hexdigest(), (
        "AuditAnchor.sol changed: run `npm run compile` in connectors/contracts and commit "
        "AuditAnchor.json"
    )


def test_artifact_was_built_by_the_pinned_compiler() -> None:
    pinned = json.loads((CONTRACTS / "package.json").read_text())["devDependencies"]["solc"]
    locked = json.loads((CONTRACTS / "package-lock.json").read_text())
    assert locked["packages"]["node_modules/solc"]["version"] == pinned
    assert artifact()["compiler"].startswith(f"solc-js {pinned}+commit.")
    pragma = f"pragma solidity {pinned};"
    assert pragma in (CONTRACTS / "AuditAnchor.sol").read_text()


def test_artifact_has_the_anchor_interface() -> None:
    spec = artifact()
    functions = {e["name"]: e for e in spec["abi"] if e["type"] == "function"}
    assert [i["type"] for i in functions["anchor"]["inputs"]] == ["bytes32", "bytes32", "uint64"]
    events = {e["name"]: e for e in spec["abi"] if e["type"] == "event"}
    anchored = events["Anchored"]["inputs"]
    assert [(i["name"], i["type"], i["indexed"]) for i in anchored] == [
        ("tenant", "bytes32", True),
        ("root", "bytes32", False),
        ("treeSize", "uint64", False),
        ("timestamp", "uint64", False),
    ]
    assert spec["bytecode"].startswith("0x") and len(spec["bytecode"]) > 100
    assert bytes(ANCHORED) == ANCHORED_TOPIC  # web3's keccak and the verifier's agree
