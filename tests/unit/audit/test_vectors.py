"""Known-answer tests: the RFC 6962 vectors of the certificate-transparency test suite.

Expected values are copied from transparency-dev/merkle, proof/verify_test.go (which
carries the C++ certificate-transparency suite's vectors), not produced by this code.
Leaf numbers in its inclusion vectors are 1-based; they are converted below.
"""

from __future__ import annotations

import pytest

from audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_nodes,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.audit import rfc6962_reference as ref

LEAF_DATA = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# ROOTS[n - 1] is the root of the first n leaves.
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (0-based leaf index, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (first size, second size, consistency proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    return MerkleTree(leaf_hash(data) for data in LEAF_DATA)


def _hex(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def test_empty_root() -> None:
    assert EMPTY_ROOT.hex() == EMPTY_ROOT_HEX
    assert MerkleTree().root() == EMPTY_ROOT
    assert root_from_nodes(0, {}) == EMPTY_ROOT


def test_first_leaf_hash_is_the_size_one_root() -> None:
    assert leaf_hash(b"").hex() == ROOTS[0]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots(tree: MerkleTree, size: int) -> None:
    assert tree.root(size).hex() == ROOTS[size - 1]
    assert root_from_nodes(size, tree.nodes).hex() == ROOTS[size - 1]
    assert ref.mth(LEAF_DATA[:size]).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_vectors(tree: MerkleTree, index: int, size: int, expected: list[str]) -> None:
    assert _hex(tree.inclusion_proof(index, size)) == expected
    assert _hex(inclusion_proof(index, size, tree.nodes)) == expected
    assert _hex(ref.path(index, LEAF_DATA[:size])) == expected
    path = [bytes.fromhex(h) for h in expected]
    root = bytes.fromhex(ROOTS[size - 1])
    assert verify_inclusion(leaf_hash(LEAF_DATA[index]), index, size, path, root)


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY)
def test_consistency_vectors(
    tree: MerkleTree, first: int, second: int, expected: list[str]
) -> None:
    assert _hex(tree.consistency_proof(first, second)) == expected
    assert _hex(consistency_proof(first, second, tree.nodes)) == expected
    assert _hex(ref.proof(first, LEAF_DATA[:second])) == expected
    proof = [bytes.fromhex(h) for h in expected]
    first_root = bytes.fromhex(ROOTS[first - 1])
    second_root = bytes.fromhex(ROOTS[second - 1])
    assert verify_consistency(first, second, proof, first_root, second_root)
