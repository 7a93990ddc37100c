"""The node-keyed API a database store relies on: what to save, and what each answer reads."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import pytest

from audit.merkle import (
    MerkleTree,
    NodeKey,
    append_keys,
    append_nodes,
    consistency_keys,
    consistency_proof,
    inclusion_keys,
    inclusion_proof,
    leaf_hash,
    range_hash,
    range_keys,
    root_from_nodes,
    root_keys,
)
from tests.unit.audit import rfc6962_reference as ref

MAX = 64
DATA = [f"row {i}".encode() for i in range(MAX)]
LEAVES = [leaf_hash(d) for d in DATA]


class Recording(Mapping[NodeKey, bytes]):
    """Wraps a store and remembers which keys were read."""

    def __init__(self, nodes: Mapping[NodeKey, bytes]) -> None:
        self.nodes = nodes
        self.read: set[NodeKey] = set()

    def __getitem__(self, key: NodeKey) -> bytes:
        self.read.add(key)
        return self.nodes[key]

    def __iter__(self) -> Iterator[NodeKey]:
        raise AssertionError("a proof must not scan the store")

    def __len__(self) -> int:
        raise AssertionError("a proof must not scan the store")


def _build_store() -> list[dict[NodeKey, bytes]]:
    """Snapshots of a dict store after each append, built only through the public API."""
    store: dict[NodeKey, bytes] = {}
    snapshots = [dict(store)]
    for index, leaf in enumerate(LEAVES):
        needed = Recording(store)
        created = append_nodes(index, leaf, needed)
        assert needed.read == set(append_keys(index))
        assert created[0] == ((0, index), leaf)
        store.update(created)
        snapshots.append(dict(store))
    return snapshots


SNAPSHOTS = _build_store()


def _limit(n: int) -> float:
    return 2 * math.log2(n) + 2


def test_store_holds_exactly_the_trees_nodes() -> None:
    tree = MerkleTree()
    for n, leaf in enumerate(LEAVES, start=1):
        tree.append(leaf)
        assert SNAPSHOTS[n] == dict(tree.nodes)
        assert len(tree.nodes) == len(SNAPSHOTS[n])


def test_append_keys() -> None:
    assert append_keys(0) == []
    assert append_keys(1) == [(0, 0)]
    assert append_keys(2) == []
    assert append_keys(3) == [(0, 2), (1, 0)]
    assert append_keys(7) == [(0, 6), (1, 2), (2, 0)]
    created = append_nodes(7, LEAVES[7], SNAPSHOTS[7])
    assert [key for key, _ in created] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert created[-1][1] == ref.mth(DATA[:8])


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_keys_are_stored_few_and_sufficient(size: int) -> None:
    store = SNAPSHOTS[size]
    limit = _limit(size)

    keys = root_keys(size)
    assert set(keys) <= store.keys() and len(keys) <= limit
    recording = Recording(store)
    assert root_from_nodes(size, recording) == ref.mth(DATA[:size])
    assert recording.read == set(keys)

    for index in range(size):
        keys = inclusion_keys(index, size)
        assert set(keys) <= store.keys() and len(keys) <= limit, (index, size, keys)
        recording = Recording(store)
        assert inclusion_proof(index, size, recording) == ref.path(index, DATA[:size])
        assert recording.read == set(keys)

    for first in range(0, size + 1):
        keys = consistency_keys(first, size)
        assert set(keys) <= store.keys() and len(keys) <= limit, (first, size, keys)
        recording = Recording(store)
        proof = consistency_proof(first, size, recording)
        assert proof == (ref.proof(first, DATA[:size]) if first else [])
        assert recording.read == set(keys)


def test_range_hash_of_aligned_ranges() -> None:
    store = SNAPSHOTS[MAX]
    for start, end in [(0, 64), (32, 64), (32, 45), (40, 47), (16, 31), (5, 6), (7, 7)]:
        assert range_hash(start, end, store) == ref.mth(DATA[start:end]), (start, end)
    assert range_keys(32, 45) == [(3, 4), (2, 10), (0, 44)]


@pytest.mark.parametrize(
    "call",
    [
        lambda: range_keys(1, 3),  # a 2-leaf subtree starting at an odd leaf is not stored
        lambda: range_keys(4, 2),
        lambda: range_keys(-1, 2),
        lambda: inclusion_keys(3, 3),
        lambda: inclusion_keys(0, 0),
        lambda: consistency_keys(4, 3),
        lambda: consistency_keys(True, 3),
        lambda: append_keys(-1),
        lambda: append_nodes(0, b"short", {}),
    ],
)
def test_bad_arguments_raise(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_node_view_behaves_like_a_mapping() -> None:
    tree = MerkleTree(LEAVES[:5])
    view = tree.nodes
    assert (0, 4) in view and (2, 0) in view
    assert (1, 2) not in view and (3, 0) not in view
    for bad in [(0, -1), (-1, 0), (0,), "x", None]:
        assert bad not in view
        with pytest.raises(KeyError):
            view[bad]  # type: ignore[index]
    assert len(view) == 5 + 2 + 1
    assert sorted(view) == sorted(dict(view))
