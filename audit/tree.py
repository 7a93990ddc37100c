"""An in-memory append-only Merkle tree that keeps every complete subtree hash.

Hashes live in one flat list per level rather than in node objects or a tuple-keyed
dict, so building a large tree costs one list slot and one SHA-256 per node and nothing
else. The node-keyed functions in `audit.nodes` read it through a Mapping view, so the
in-memory tree and a database-backed store share one implementation of every proof.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from hashlib import sha256

from audit.hashing import HASH_SIZE, NODE_PREFIX
from audit.nodes import (
    NodeKey,
    consistency_proof,
    inclusion_proof,
    root_from_nodes,
)

__all__ = ["MerkleTree", "NodeView"]


class NodeView(Mapping[NodeKey, bytes]):
    """Read-only (level, index) -> hash view of a tree's per-level lists."""

    __slots__ = ("_levels",)

    def __init__(self, levels: list[list[bytes]]) -> None:
        self._levels = levels

    def __getitem__(self, key: NodeKey) -> bytes:
        try:
            level, index = key
            # Negative indexes would silently read from the end of a level.
            if level < 0 or index < 0:
                raise KeyError(key)
            return self._levels[level][index]
        except (IndexError, TypeError, ValueError):
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[NodeKey]:
        for level, row in enumerate(self._levels):
            for index in range(len(row)):
                yield (level, index)

    def __len__(self) -> int:
        return sum(len(row) for row in self._levels)


class MerkleTree:
    """RFC 6962 log over leaf hashes (callers hash entries with `leaf_hash` first)."""

    __slots__ = ("_levels", "_view")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        # Invariant: len(self._levels[level]) == size >> level for every level kept.
        self._levels: list[list[bytes]] = [[]]
        self._view = NodeView(self._levels)
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def nodes(self) -> Mapping[NodeKey, bytes]:
        """Every complete subtree hash, keyed (level, index); `dict(tree.nodes)` copies it."""
        return self._view

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns its 0-based index."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            raise ValueError("a leaf must be a 32-byte leaf hash")
        levels = self._levels
        index = len(levels[0])
        levels[0].append(leaf_hash)
        acc, level, pos = leaf_hash, 0, index
        while pos & 1:
            acc = sha256(NODE_PREFIX + levels[level][pos - 1] + acc).digest()
            level += 1
            pos >>= 1
            if level == len(levels):
                levels.append([])
            levels[level].append(acc)
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add many leaf hashes, level by level (faster than repeated `append`)."""
        new = list(leaf_hashes)
        for leaf in new:
            if type(leaf) is not bytes or len(leaf) != HASH_SIZE:
                raise ValueError("a leaf must be a 32-byte leaf hash")
        levels = self._levels
        levels[0].extend(new)
        level = 0
        while True:
            lower = levels[level]
            want = len(lower) >> 1
            if level + 1 == len(levels):
                if want == 0:
                    return
                levels.append([])
            upper = levels[level + 1]
            have = len(upper)
            if have == want:
                # Nothing completed here, so nothing above can have completed either.
                return
            pending = lower[2 * have : 2 * want]
            upper.extend(
                [
                    sha256(NODE_PREFIX + left + right).digest()
                    for left, right in zip(pending[0::2], pending[1::2], strict=True)
                ]
            )
            level += 1

    def _size_or_current(self, size: int | None, name: str) -> int:
        if size is None:
            return self.size
        if type(size) is not int or not 0 <= size <= self.size:
            raise ValueError(f"{name} {size!r} is outside the tree (size {self.size})")
        return size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all of them)."""
        return root_from_nodes(self._size_or_current(size, "size"), self._view)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[size])."""
        return inclusion_proof(index, self._size_or_current(size, "size"), self._view)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(first, D[second])."""
        return consistency_proof(first, self._size_or_current(second, "second"), self._view)

    def __len__(self) -> int:
        return self.size
