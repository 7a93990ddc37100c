"""RFC 6962 / RFC 9162 Merkle tree: hashes, node-keyed proofs, verification, in-memory log.

The single import point for the tree. The code lives in small modules: `audit.hashing`
(primitives), `audit.nodes` (roots and proofs from stored subtree hashes), `audit.verify`
(RFC 9162 verifiers, independent of the generators) and `audit.tree` (`MerkleTree`).
"""

from __future__ import annotations

from audit.hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from audit.nodes import (
    NodeKey,
    append_keys,
    append_nodes,
    consistency_keys,
    consistency_proof,
    inclusion_keys,
    inclusion_proof,
    range_hash,
    range_keys,
    root_from_nodes,
    root_keys,
)
from audit.tree import MerkleTree
from audit.verify import verify_consistency, verify_inclusion

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "NodeKey",
    "append_keys",
    "append_nodes",
    "consistency_keys",
    "consistency_proof",
    "inclusion_keys",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "range_keys",
    "root_from_nodes",
    "root_keys",
    "verify_consistency",
    "verify_inclusion",
]
