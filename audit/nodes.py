"""Roots and proofs computed from stored complete-subtree hashes.

A log that keeps the hash of every complete, aligned subtree (a "node") can answer any
root, inclusion or consistency question by reading O(log n) of them. Each question is
answered in two steps: a `*_keys` function names the nodes it will read, so a database can
fetch exactly those rows in one query, and the matching function reads only those keys
from whatever mapping it is given.

A node is addressed as (level, index): the subtree of 2**level leaves covering leaves
[index * 2**level, (index + 1) * 2**level). Level 0, index i is leaf i's hash.
"""

from __future__ import annotations

from collections.abc import Mapping

from audit.hashing import EMPTY_ROOT, is_hash, node_hash

NodeKey = tuple[int, int]

__all__ = [
    "NodeKey",
    "append_keys",
    "append_nodes",
    "consistency_keys",
    "consistency_proof",
    "inclusion_keys",
    "inclusion_proof",
    "range_hash",
    "range_keys",
    "root_from_nodes",
    "root_keys",
]


def _split(n: int) -> int:
    """RFC 6962's k: the largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_count(name: str, value: int) -> None:
    # bool is an int subclass; True as a tree size is always a caller bug.
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative int, not {value!r}")


def range_keys(start: int, end: int) -> list[NodeKey]:
    """The nodes whose hashes give MTH(D[start:end]), largest (leftmost) first.

    RFC 6962 splits n leaves at the largest power of two k < n, and splits the right part
    again the same way, so the complete subtrees are the set bits of n from the highest
    down. They are stored nodes only when start is a multiple of the largest of them,
    which holds for every range that the RFC recursion visits from 0.
    """
    _check_count("start", start)
    _check_count("end", end)
    if end < start:
        raise ValueError(f"range [{start}, {end}) is reversed")
    n = end - start
    if n and start % (1 << (n.bit_length() - 1)):
        raise ValueError(f"range [{start}, {end}) is not aligned to stored subtrees")
    keys: list[NodeKey] = []
    pos = start
    while n:
        level = n.bit_length() - 1
        keys.append((level, pos >> level))
        pos += 1 << level
        n -= 1 << level
    return keys


def _fold(keys: list[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    # MTH(D[0:n]) = HASH(MTH(D[0:k]) || MTH(D[k:n])): fold from the right-hand end.
    if not keys:
        return EMPTY_ROOT
    acc = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        acc = node_hash(nodes[key], acc)
    return acc


def range_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH(D[start:end]) from stored nodes; EMPTY_ROOT for an empty range."""
    return _fold(range_keys(start, end), nodes)


def root_keys(size: int) -> list[NodeKey]:
    return range_keys(0, size)


def root_from_nodes(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """The tree head hash for the first `size` leaves (EMPTY_ROOT for size 0)."""
    return range_hash(0, size, nodes)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(m, D[n]) as leaf ranges, nearest sibling first.

    Walks the RFC recursion from the top; each step appends the sibling range, so the
    collected list is reversed to get the RFC's deepest-first order.
    """
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) as leaf ranges, in RFC order."""
    _check_count("first", first)
    _check_count("second", second)
    if first > second:
        raise ValueError(f"first size {first} is larger than second size {second}")
    if first == 0 or first == second:
        # RFC 6962 defines proofs for 0 < m < n; an empty tree or the same tree needs none.
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, second
    # `whole` is the RFC's b flag: still on the path of subtrees that end exactly at
    # `first`, whose hash the verifier already holds as the old root.
    whole = True
    while hi != first:
        mid = lo + _split(hi - lo)
        if first <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _keys_of(ranges: list[tuple[int, int]]) -> list[NodeKey]:
    return [key for start, end in ranges for key in range_keys(start, end)]


def inclusion_keys(index: int, size: int) -> list[NodeKey]:
    """Every node `inclusion_proof(index, size, nodes)` reads."""
    return _keys_of(_inclusion_ranges(index, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]): the audit path, nearest sibling first."""
    return [range_hash(start, end, nodes) for start, end in _inclusion_ranges(index, size)]


def consistency_keys(first: int, second: int) -> list[NodeKey]:
    """Every node `consistency_proof(first, second, nodes)` reads."""
    return _keys_of(_consistency_ranges(first, second))


def consistency_proof(first: int, second: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """RFC 6962 PROOF(first, D[second]); empty when first is 0 or equals second."""
    return [range_hash(start, end, nodes) for start, end in _consistency_ranges(first, second)]


def append_keys(index: int) -> list[NodeKey]:
    """The stored nodes that appending leaf `index` (0-based) combines with.

    Each trailing 1 bit of the index is a level where the new leaf's subtree becomes the
    right half of a complete subtree, whose left half is already stored.
    """
    _check_count("index", index)
    keys: list[NodeKey] = []
    level, pos = 0, index
    while pos & 1:
        keys.append((level, pos - 1))
        level += 1
        pos >>= 1
    return keys


def append_nodes(
    index: int, leaf: bytes, nodes: Mapping[NodeKey, bytes]
) -> list[tuple[NodeKey, bytes]]:
    """The nodes completed by appending leaf hash `leaf` as leaf `index`, (0, index) first.

    A store that saves every returned pair holds every complete subtree, so any later
    root or proof needs only O(log n) reads.
    """
    if not is_hash(leaf):
        raise ValueError("leaf must be a 32-byte leaf hash")
    created: list[tuple[NodeKey, bytes]] = [((0, index), bytes(leaf))]
    acc = bytes(leaf)
    for level, left in append_keys(index):
        acc = node_hash(nodes[(level, left)], acc)
        created.append(((level + 1, left >> 1), acc))
    return created
