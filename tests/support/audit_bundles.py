"""Builds export bundles the way the hub serves them, for the bundle and CLI tests."""

from __future__ import annotations

import copy
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.bundle import FORMAT
from audit.canonical import entry_leaf
from audit.merkle import MerkleTree
from audit.signing import public_key_document, sign_tree_head

TENANT = "acme"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def seal(entry: dict[str, Any]) -> dict[str, Any]:
    """Set an entry's leaf_hash from its content, as the hub (or a careful forger) would."""
    entry["leaf_hash"] = entry_leaf(entry).hex()
    return entry


def make_entry(seq: int, action: str = "write") -> dict[str, Any]:
    return seal(
        {
            "seq": seq,
            "at": f"2025-01-01T00:00:{seq % 60:02d}Z",
            "actor": "engineer@acme",
            "action": action,
            "detail": {"tag": f"plc-{seq}", "value": seq * 1.5, "unit": "°C"},
        }
    )


def sign_heads(bundle: dict[str, Any], sizes: list[int], key: Ed25519PrivateKey = KEY) -> None:
    """Replace the bundle's heads with heads over its current entries (in seq order)."""
    entries = sorted(bundle["entries"], key=lambda e: e["seq"])
    tree = MerkleTree(entry_leaf(e) for e in entries)
    bundle["signed_heads"] = [
        sign_tree_head(key, bundle["tenant"], n, tree.root(n).hex(), f"2025-01-02T00:{n:02d}:00Z")
        for n in sizes
    ]


def make_bundle(count: int = 30, heads: tuple[int, ...] = (10, 20, 30)) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "tenant": TENANT,
        "public_key": public_key_document(KEY.public_key()),
        "entries": [make_entry(seq) for seq in range(1, count + 1)],
    }
    sign_heads(bundle, list(heads))
    return copy.deepcopy(bundle)
