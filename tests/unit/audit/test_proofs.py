"""Every inclusion and consistency proof of every tree up to 64 leaves, and their forgeries."""

from __future__ import annotations

import pytest

from audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.audit import rfc6962_reference as ref

MAX = 64
DATA = [f"entry {i}".encode() for i in range(MAX)]
LEAVES = [leaf_hash(d) for d in DATA]
TREE = MerkleTree(LEAVES)
ROOTS = [TREE.root(n) for n in range(MAX + 1)]
OTHER = bytes(range(32))


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 0x10]) + h[1:]


def test_roots_match_reference() -> None:
    for n in range(MAX + 1):
        assert ROOTS[n] == ref.mth(DATA[:n]), n


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_inclusion(size: int) -> None:
    root = ROOTS[size]
    for index in range(size):
        path = TREE.inclusion_proof(index, size)
        assert path == inclusion_proof(index, size, TREE.nodes)
        assert path == ref.path(index, DATA[:size])
        leaf = LEAVES[index]
        assert verify_inclusion(leaf, index, size, path, root)

        assert not verify_inclusion(OTHER, index, size, path, root)
        if size > 1:
            assert not verify_inclusion(LEAVES[(index + 1) % size], index, size, path, root)
        for other_index in range(size):
            if other_index != index:
                assert not verify_inclusion(leaf, other_index, size, path, root)
        assert not verify_inclusion(leaf, size, size, path, root)
        assert not verify_inclusion(leaf, index, size, path, _flip(root))
        assert not verify_inclusion(leaf, index, size, path, EMPTY_ROOT)
        for i in range(len(path)):
            forged = [*path[:i], _flip(path[i]), *path[i + 1 :]]
            assert not verify_inclusion(leaf, index, size, forged, root)
        assert not verify_inclusion(leaf, index, size, [*path, root], root)
        assert not verify_inclusion(leaf, index, size, [root, *path], root)
        if path:
            assert not verify_inclusion(leaf, index, size, path[:-1], root)


@pytest.mark.parametrize("second", range(1, MAX + 1))
def test_consistency(second: int) -> None:
    second_root = ROOTS[second]
    for first in range(1, second + 1):
        first_root = ROOTS[first]
        proof = TREE.consistency_proof(first, second)
        assert proof == consistency_proof(first, second, TREE.nodes)
        assert proof == ref.proof(first, DATA[:second])
        assert verify_consistency(first, second, proof, first_root, second_root)

        assert not verify_consistency(first, second, [*proof, first_root], first_root, second_root)
        assert not verify_consistency(first, second, [second_root, *proof], first_root, second_root)
        assert not verify_consistency(first, second, proof, _flip(first_root), second_root)
        assert not verify_consistency(first, second, proof, first_root, _flip(second_root))
        if first == second:
            assert proof == []
            continue
        assert not verify_consistency(first, second, proof, second_root, first_root)
        assert not verify_consistency(first, second, [], first_root, second_root)
        assert not verify_consistency(first, second, proof[:-1], first_root, second_root)
        assert not verify_consistency(second, first, proof, second_root, first_root)
        for i in range(len(proof)):
            forged = [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]
            assert not verify_consistency(first, second, forged, first_root, second_root)


def test_consistency_from_the_empty_tree() -> None:
    assert TREE.consistency_proof(0, 5) == []
    assert verify_consistency(0, 5, [], EMPTY_ROOT, ROOTS[5])
    assert verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    assert not verify_consistency(0, 5, [], ROOTS[1], ROOTS[5])
    assert not verify_consistency(0, 5, [ROOTS[5]], EMPTY_ROOT, ROOTS[5])


def _gen() -> object:
    yield from TREE.inclusion_proof(3, 8)


@pytest.mark.parametrize(
    ("leaf", "index", "size", "path", "root"),
    [
        (LEAVES[0], 0, 0, [], EMPTY_ROOT),
        (LEAVES[0], 1, 1, [], LEAVES[0]),
        (LEAVES[0], -1, 1, [], LEAVES[0]),
        (LEAVES[0], True, 2, [LEAVES[1]], ROOTS[2]),
        (LEAVES[0], 0, 1.0, [], LEAVES[0]),
        (LEAVES[0][:31], 0, 1, [], LEAVES[0]),
        (LEAVES[0], 0, 1, [], LEAVES[0] + b"\x00"),
        (LEAVES[0], 0, 2, [LEAVES[1][:16]], ROOTS[2]),
        (LEAVES[0], 0, 2, LEAVES[1], ROOTS[2]),
        (LEAVES[0], 0, 2, None, ROOTS[2]),
        (LEAVES[0], 0, 2, "ab", ROOTS[2]),
        (None, 0, 1, [], LEAVES[0]),
        ("00" * 32, 0, 1, [], LEAVES[0]),
    ],
)
def test_inclusion_rejects_bad_arguments(
    leaf: object, index: object, size: object, path: object, root: object
) -> None:
    assert verify_inclusion(leaf, index, size, path, root) is False  # type: ignore[arg-type]


def test_inclusion_accepts_any_iterable_path() -> None:
    assert verify_inclusion(LEAVES[3], 3, 8, _gen(), ROOTS[8])  # type: ignore[arg-type]
    assert verify_inclusion(LEAVES[3], 3, 8, tuple(_gen()), ROOTS[8])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second", "proof", "first_root", "second_root"),
    [
        (2, 1, [], ROOTS[2], ROOTS[1]),
        (-1, 2, [], ROOTS[1], ROOTS[2]),
        (1, 2, None, ROOTS[1], ROOTS[2]),
        (1, 2, [LEAVES[1][:31]], ROOTS[1], ROOTS[2]),
        (1, 2, [LEAVES[1]], ROOTS[1][:31], ROOTS[2]),
        (1, 2, [LEAVES[1]], ROOTS[1], None),
        (1, 2.0, [LEAVES[1]], ROOTS[1], ROOTS[2]),
        (False, 2, [], EMPTY_ROOT, ROOTS[2]),
        (1, 1, [], ROOTS[1], ROOTS[2]),
        (1, 1, [ROOTS[1]], ROOTS[1], ROOTS[1]),
    ],
)
def test_consistency_rejects_bad_arguments(
    first: object, second: object, proof: object, first_root: object, second_root: object
) -> None:
    assert verify_consistency(first, second, proof, first_root, second_root) is False  # type: ignore[arg-type]


def test_append_and_extend_agree() -> None:
    one_by_one = MerkleTree()
    chunked = MerkleTree()
    chunks = [1, 2, 3, 5, 8, 13, 32]
    position = 0
    for n, leaf in enumerate(LEAVES, start=1):
        assert one_by_one.append(leaf) == n - 1
        assert one_by_one.root() == ROOTS[n]
    for chunk in chunks:
        chunked.extend(LEAVES[position : position + chunk])
        position += chunk
        assert chunked.root() == ROOTS[min(position, MAX)]
    assert dict(one_by_one.nodes) == dict(chunked.nodes) == dict(TREE.nodes)
    assert len(TREE) == TREE.size == MAX


def test_tree_rejects_bad_input() -> None:
    tree = MerkleTree(LEAVES[:4])
    with pytest.raises(ValueError):
        tree.append(b"short")
    with pytest.raises(ValueError):
        tree.extend([LEAVES[0], "not bytes"])  # type: ignore[list-item]
    assert tree.size == 4
    for call in (
        lambda: tree.root(5),
        lambda: tree.root(-1),
        lambda: tree.inclusion_proof(4),
        lambda: tree.inclusion_proof(0, 5),
        lambda: tree.consistency_proof(3, 5),
        lambda: tree.consistency_proof(4, 3),
    ):
        with pytest.raises(ValueError):
            call()


SMALL = 20


def test_inclusion_proofs_of_other_trees_have_the_wrong_shape() -> None:
    # Tree sizes are bound by signed heads, not by proofs, so a proof can legitimately
    # verify for a size it was not made for. What RFC 9162's size bookkeeping does
    # guarantee is that an accepted path has exactly as many elements as PATH(m, D[n]).
    honest = [(i, n, TREE.inclusion_proof(i, n)) for n in range(1, SMALL + 1) for i in range(n)]
    for index, size, _ in honest:
        expected_length = len(ref.path(index, DATA[:size]))
        for other_index, other_size, path in honest:
            if verify_inclusion(LEAVES[other_index], index, size, path, ROOTS[other_size]):
                assert len(path) == expected_length, (index, size, other_index, other_size)


def test_consistency_proofs_of_other_trees_have_the_wrong_shape() -> None:
    honest = [
        (m, n, TREE.consistency_proof(m, n)) for n in range(1, SMALL + 1) for m in range(1, n)
    ]
    for first, second, _ in honest:
        expected_length = len(ref.proof(first, DATA[:second]))
        for other_first, other_second, proof in honest:
            roots = ROOTS[other_first], ROOTS[other_second]
            if verify_consistency(first, second, proof, *roots):
                assert len(proof) == expected_length, (first, second, other_first, other_second)


def test_sizes_are_checked_not_just_roots() -> None:
    # The proof for (1, 2) is [leaf 1]; offered for (1, 4) it rebuilds root(2) and
    # stops with leaves of size 4 unaccounted for, which the verifier must notice.
    assert not verify_consistency(1, 4, TREE.consistency_proof(1, 2), ROOTS[1], ROOTS[2])
    assert not verify_inclusion(LEAVES[0], 0, 4, TREE.inclusion_proof(0, 2), ROOTS[2])
