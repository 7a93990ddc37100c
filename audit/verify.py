"""Proof verification, written from RFC 9162 sections 2.1.3.2 and 2.1.4.2.

Deliberately shares nothing with the proof generation in `audit.nodes` beyond the hash
primitives, so each side checks the other. Verifiers face untrusted input: every
malformed argument makes them return False rather than raise.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from audit.hashing import EMPTY_ROOT, is_hash, node_hash

__all__ = ["verify_consistency", "verify_inclusion"]


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _hash_list(items: Any) -> list[bytes] | None:
    """The proof as a list of hashes, or None if it is anything else."""
    if isinstance(items, (bytes, bytearray, str)):
        # Iterating these would yield ints or characters, never hashes.
        return None
    try:
        hashes = list(items)
    except TypeError:
        return None
    if not all(is_hash(h) for h in hashes):
        return None
    return [bytes(h) for h in hashes]


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(bytes(a), bytes(b))


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True if `path` proves leaf hash `leaf` is leaf `index` of the tree of `size` with `root`."""
    hashes = _hash_list(path)
    if hashes is None or not (is_hash(leaf) and is_hash(root)):
        return False
    if not (_is_count(index) and _is_count(size)) or index >= size:
        return False
    fn, sn = index, size - 1
    r = bytes(leaf)
    for p in hashes:
        if sn == 0:
            # More path than tree: trailing elements would otherwise be ignored.
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # A lone rightmost node is promoted without hashing: skip those levels.
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and _same(r, root)


def verify_consistency(
    first: int,
    second: int,
    proof: Sequence[bytes],
    first_root: bytes,
    second_root: bytes,
) -> bool:
    """True if `proof` shows the tree (`second`, `second_root`) extends (`first`, `first_root`)."""
    hashes = _hash_list(proof)
    if hashes is None or not (is_hash(first_root) and is_hash(second_root)):
        return False
    if not (_is_count(first) and _is_count(second)) or first > second:
        return False
    if first == second:
        return not hashes and _same(first_root, second_root)
    if first == 0:
        # Every tree extends the empty one, whose root is fixed; no proof is needed.
        return not hashes and _same(first_root, EMPTY_ROOT)
    if not hashes:
        return False
    if first & (first - 1) == 0:
        # The old tree is a complete subtree of the new one, so the proof omits its hash.
        hashes.insert(0, bytes(first_root))
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and _same(fr, first_root) and _same(sr, second_root)
