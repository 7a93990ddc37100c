"""audit.merkle.MerkleTree against pymerkle: build 100,000 leaves, then 1,000 inclusion proofs.

Both sides get the same random 32-byte entries and must end with the same RFC 6962 root.
pymerkle's InmemoryTree hashes each entry itself (SHA-256 with the 0x00 leaf prefix, its
default "security" mode), so it is fed the raw entries, and the hub side's time includes
calling `leaf_hash` on each entry: both times cover hashing the entries. Proofs are asked
for at the same random indices (pymerkle counts leaves from 1), and every hub proof is
checked to equal pymerkle's audit path, which pymerkle prefixes with the leaf's own hash.

Each side runs AUDIT_BENCH_REPEATS times (default 3); the best time of each phase counts.
Prints progress on stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from audit.merkle import MerkleTree, leaf_hash, verify_inclusion

LEAVES = 100_000
PROOFS = 1_000
SEED = 6962


def _log(message: str) -> None:
    print(f"audit_tree: {message}", file=sys.stderr, flush=True)


def _best(repeats: int, run: Callable[[], tuple[float, float, Any]]) -> tuple[float, float, Any]:
    builds, proofs, result = [], [], None
    for _ in range(repeats):
        build_s, proofs_s, result = run()
        builds.append(build_s)
        proofs.append(proofs_s)
    return min(builds), min(proofs), result


def _hub(entries: list[bytes], indices: list[int]) -> tuple[float, float, Any]:
    start = time.perf_counter()
    tree = MerkleTree()
    tree.extend([leaf_hash(entry) for entry in entries])
    built = time.perf_counter()
    paths = [tree.inclusion_proof(index) for index in indices]
    done = time.perf_counter()
    return built - start, done - built, (tree.root(), paths)


def _peer(entries: list[bytes], indices: list[int]) -> tuple[float, float, Any]:
    from pymerkle import InmemoryTree

    start = time.perf_counter()
    tree = InmemoryTree(algorithm="sha256")
    for entry in entries:
        tree.append_entry(entry)
    built = time.perf_counter()
    proofs = [tree.prove_inclusion(index + 1) for index in indices]
    done = time.perf_counter()
    return built - start, done - built, (tree.get_root(), proofs)


def main() -> int:
    repeats = int(os.environ.get("AUDIT_BENCH_REPEATS", "3"))
    rng = random.Random(SEED)
    entries = [rng.randbytes(32) for _ in range(LEAVES)]
    indices = [rng.randrange(LEAVES) for _ in range(PROOFS)]

    _log(f"hub: {repeats} x build {LEAVES} leaves + {PROOFS} proofs")
    hub_build, hub_proofs, (hub_root, hub_paths) = _best(repeats, lambda: _hub(entries, indices))
    _log(f"hub: build {hub_build:.3f}s, proofs {hub_proofs:.3f}s")

    peer_name = f"pymerkle {version('pymerkle')}"
    _log(f"{peer_name}: {repeats} x the same")
    peer_build, peer_proofs, (peer_root, peer_proofs_list) = _best(
        repeats, lambda: _peer(entries, indices)
    )
    _log(f"{peer_name}: build {peer_build:.3f}s, proofs {peer_proofs:.3f}s")

    if hub_root != peer_root:
        _log(f"roots differ: hub {hub_root.hex()} vs peer {peer_root.hex()}")
        return 1
    for index, path, proof in zip(indices, hub_paths, peer_proofs_list, strict=True):
        if list(proof.path[1:]) != path:
            _log(f"proof for leaf {index} differs from pymerkle's")
            return 1
        if not verify_inclusion(leaf_hash(entries[index]), index, LEAVES, path, hub_root):
            _log(f"proof for leaf {index} does not verify")
            return 1
    _log(f"same root {hub_root.hex()} and same {PROOFS} audit paths on both sides")

    hub = 1 / (hub_build + hub_proofs)
    peer = 1 / (peer_build + peer_proofs)
    result = {
        "bench": "audit_tree",
        "metric": "build_100k_plus_1k_proofs_per_s",
        "hub": round(hub, 4),
        "peer": round(peer, 4),
        "peer_name": peer_name,
        "ratio": round(hub / peer, 3),
        "unit": "runs/s",
        "hub_build_s": round(hub_build, 4),
        "hub_proofs_s": round(hub_proofs, 4),
        "peer_build_s": round(peer_build, 4),
        "peer_proofs_s": round(peer_proofs, 4),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
