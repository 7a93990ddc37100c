"""The audit library's Merkle tree against pymerkle: append 100,000 leaves one at a time,
then 1,000 inclusion proofs, both in memory.

- hub (the headline): the path the product takes, `hub/services/audit/log.py` `append_many`:
  each entry is hashed (`leaf_hash`) and appended on its own with `append_nodes`, whose
  completed nodes go into a dict (the service writes the same pairs to its node table);
  proofs are `inclusion_proof(index, size, nodes)` read from those nodes, as the service
  answers them. Nothing is stored on disk.
- hub batch `extend` (a second, labelled figure): `MerkleTree.extend` over all leaf
  hashes at once, then `MerkleTree.inclusion_proof`; the product does not build trees
  this way, so it is not the headline.
- peer: pymerkle's InmemoryTree, `append_entry` per entry (it hashes the entry itself,
  SHA-256 with the 0x00 leaf prefix, its default "security" mode), proofs with
  `prove_inclusion` (pymerkle counts leaves from 1). In memory, nothing stored.

Both sides get the same random 32-byte entries, must end with the same RFC 6962 root,
and every hub proof must equal pymerkle's audit path (which pymerkle prefixes with the
leaf's own hash) and verify. Durability: none on either side (both trees live in memory).

Method (bench/_method.py): hub and peer run in alternating turns, `turns()` of each
(at least 3, HUB_BENCH_TURNS; AUDIT_BENCH_REPEATS is read as the same), and each figure is
the median of the runs, with the min-max spread and every run in the JSON. No periodic
process is involved, so there is no phase to randomise. About 10 s in all.
Prints progress on stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

from _method import alternate, comparison, summary, turns

from audit.merkle import (
    MerkleTree,
    NodeKey,
    append_nodes,
    inclusion_proof,
    leaf_hash,
    root_from_nodes,
    verify_inclusion,
)

LEAVES = 100_000
PROOFS = 1_000
SEED = 6962
METRIC = "append_100k_one_at_a_time_plus_1k_proofs_per_s"


@dataclass(frozen=True)
class Run:
    build_s: float
    proofs_s: float
    root: bytes
    paths: list[list[bytes]]

    @property
    def per_s(self) -> float:
        return 1 / (self.build_s + self.proofs_s)


def _log(message: str) -> None:
    print(f"audit_tree: {message}", file=sys.stderr, flush=True)


def hub_per_leaf(entries: list[bytes], indices: list[int]) -> Run:
    """The service's path: one leaf at a time into a node store, proofs from its nodes."""
    start = time.perf_counter()
    nodes: dict[NodeKey, bytes] = {}
    for index, entry in enumerate(entries):
        for key, digest in append_nodes(index, leaf_hash(entry), nodes):
            nodes[key] = digest
    built = time.perf_counter()
    size = len(entries)
    paths = [inclusion_proof(index, size, nodes) for index in indices]
    done = time.perf_counter()
    return Run(built - start, done - built, root_from_nodes(size, nodes), paths)


def hub_extend(entries: list[bytes], indices: list[int]) -> Run:
    """MerkleTree.extend over every leaf hash at once: a batch build the product never does."""
    start = time.perf_counter()
    tree = MerkleTree()
    tree.extend([leaf_hash(entry) for entry in entries])
    built = time.perf_counter()
    paths = [tree.inclusion_proof(index) for index in indices]
    done = time.perf_counter()
    return Run(built - start, done - built, tree.root(), paths)


def peer(entries: list[bytes], indices: list[int]) -> Run:
    from pymerkle import InmemoryTree

    start = time.perf_counter()
    tree = InmemoryTree(algorithm="sha256")
    for entry in entries:
        tree.append_entry(entry)
    built = time.perf_counter()
    proofs = [tree.prove_inclusion(index + 1) for index in indices]
    done = time.perf_counter()
    return Run(built - start, done - built, tree.get_root(), [list(p.path[1:]) for p in proofs])


def mismatch(entries: list[bytes], indices: list[int], hub: Run, other: Run) -> str | None:
    """Why two runs disagree (root, a path, or a proof that does not verify), or None."""
    if hub.root != other.root:
        return f"roots differ: {hub.root.hex()} vs {other.root.hex()}"
    for index, path, theirs in zip(indices, hub.paths, other.paths, strict=True):
        if path != theirs:
            return f"proof for leaf {index} differs"
        if not verify_inclusion(leaf_hash(entries[index]), index, len(entries), path, hub.root):
            return f"proof for leaf {index} does not verify"
    return None


def _count() -> int:
    legacy = os.environ.get("AUDIT_BENCH_REPEATS", "").strip()
    if legacy and not os.environ.get("HUB_BENCH_TURNS"):
        return turns(int(legacy))
    return turns()


def _timed(name: str, run: Callable[[], Run]) -> Callable[[int], Run]:
    def side(turn: int) -> Run:
        result = run()
        _log(
            f"{name} turn {turn + 1}: build {result.build_s:.3f} s, proofs {result.proofs_s:.3f} s"
        )
        return result

    return side


def _median_s(runs: list[Run], field: str) -> float:
    return float(summary([getattr(r, field) for r in runs], 4)["median"])


def main() -> int:
    count = _count()
    rng = random.Random(SEED)
    entries = [rng.randbytes(32) for _ in range(LEAVES)]
    indices = [rng.randrange(LEAVES) for _ in range(PROOFS)]
    peer_name = f"pymerkle {version('pymerkle')} InmemoryTree, append_entry per entry"
    _log(f"{count} alternating turns of {LEAVES:,} leaves + {PROOFS:,} proofs per side")
    runs = alternate(
        {
            "hub": _timed("hub per leaf", lambda: hub_per_leaf(entries, indices)),
            "peer": _timed(peer_name, lambda: peer(entries, indices)),
            "hub_extend": _timed("hub extend", lambda: hub_extend(entries, indices)),
        },
        count,
    )
    for name in ("peer", "hub_extend"):
        for hub_run, other in zip(runs["hub"], runs[name], strict=True):
            problem = mismatch(entries, indices, hub_run, other)
            if problem:
                _log(f"hub per leaf vs {name}: {problem}")
                return 1
    _log(f"same root {runs['hub'][0].root.hex()} and same {PROOFS} audit paths everywhere")
    extend = summary([r.per_s for r in runs["hub_extend"]], 4)
    peer_median = summary([r.per_s for r in runs["peer"]], 4)["median"]
    result = comparison(
        bench="audit_tree",
        metric=METRIC,
        unit="runs/s",
        hub=[r.per_s for r in runs["hub"]],
        peer=[r.per_s for r in runs["peer"]],
        peer_name=peer_name,
        hub_settings={"storage": "memory (dict of nodes)", "durable": False},
        peer_settings={"storage": "memory (InmemoryTree)", "durable": False, "algorithm": "sha256"},
        digits=4,
        hub_mode="append_nodes per leaf, proofs from the node dict (the service's path)",
        leaves=LEAVES,
        proofs=PROOFS,
        hub_build_s=_median_s(runs["hub"], "build_s"),
        hub_proofs_s=_median_s(runs["hub"], "proofs_s"),
        peer_build_s=_median_s(runs["peer"], "build_s"),
        peer_proofs_s=_median_s(runs["peer"], "proofs_s"),
        hub_extend=extend["median"],
        hub_extend_spread=[extend["min"], extend["max"]],
        hub_extend_runs=extend["values"],
        hub_extend_ratio=round(extend["median"] / peer_median, 4),
        hub_extend_mode="MerkleTree.extend over all leaf hashes at once (batch, not the product's)",
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
