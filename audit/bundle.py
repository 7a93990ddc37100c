"""Offline verification of an audit export bundle: no database, no hub, no network.

Everything is recomputed from the entries' content; the bundle's own "leaf_hash" fields
are only compared against, never trusted. The leaf for seq s is leaf s - 1 of the tree,
whatever the order of the entries in the file, so a reordered file is reported as such
rather than as a cascade of root mismatches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.canonical import CanonicalizationError, entry_leaf
from audit.signing import key_id, load_public_key_document, verify_tree_head
from audit.tree import MerkleTree
from audit.verify import verify_consistency

__all__ = ["FORMAT", "BundleReport", "verify_bundle"]

FORMAT = "industrial-hub-audit-export/1"
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass
class BundleReport:
    ok: bool
    entries: int
    heads_checked: int
    first_bad_seq: int | None
    problems: list[str] = field(default_factory=list)
    # Highest tree size vouched for by a good signed head: later entries are intact as far
    # as the file shows, but no signature covers them yet.
    covered: int = 0


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    suspects: list[int] = field(default_factory=list)

    def add(self, text: str, seq: int | None = None) -> None:
        self.problems.append(text)
        if seq is not None:
            self.suspects.append(seq)


@dataclass
class _Log:
    leaves: dict[int, bytes]  # seq -> leaf hash recomputed from content (first copy)
    pinned: list[int]  # seqs with a problem of their own, ascending
    top: int  # highest seq present


def _is_hex_hash(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _plural(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seqs {first}-{last}"


def _check_order(seqs: list[int], found: _Findings) -> None:
    counts = Counter(seqs)
    for seq in sorted(s for s, n in counts.items() if n > 1):
        times = "twice" if counts[seq] == 2 else f"{counts[seq]} times"
        found.add(f"seq {seq} appears {times}", seq)
    highest = 0
    seen: set[int] = set()
    for seq in seqs:
        if seq < highest and seq not in seen:
            found.add(f"seq {seq} out of order (it comes after seq {highest})", seq)
        seen.add(seq)
        highest = max(highest, seq)
    # Gaps from the sorted distinct seqs, not range(1, max): a forged seq of 10**12
    # must not cost a loop of that length.
    previous = 0
    for seq in sorted(seen):
        if seq > previous + 1:
            gap = _plural(previous + 1, seq - 1)
            where = (
                f"entries jump from {previous} to {seq}"
                if previous
                else f"entries start at seq {seq}"
            )
            found.add(f"{gap} missing ({where})", previous + 1)
        previous = seq


def _leaf_of(seq: int, entry: Mapping[str, Any], found: _Findings) -> bytes | None:
    try:
        recomputed = entry_leaf(entry)
    except (CanonicalizationError, TypeError, ValueError) as exc:
        found.add(f"seq {seq}: content cannot be canonicalised ({exc})", seq)
        return None
    claimed = entry.get("leaf_hash")
    if not _is_hex_hash(claimed):
        found.add(f"seq {seq}: leaf_hash is missing or not 64 hex digits", seq)
    elif bytes.fromhex(claimed) != recomputed:
        found.add(f"seq {seq}: content does not match its leaf_hash", seq)
    return recomputed


def _check_entries(entries: Sequence[Any], found: _Findings) -> _Log:
    seqs: list[int] = []
    leaves: dict[int, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            found.add(f"entry #{position} is not a JSON object", position)
            continue
        seq = entry.get("seq")
        if type(seq) is not int or seq < 1:
            found.add(f"entry #{position} has no valid seq ({seq!r})", position)
            continue
        seqs.append(seq)
        leaf = _leaf_of(seq, entry, found)
        if leaf is not None:
            leaves.setdefault(seq, leaf)
    _check_order(seqs, found)
    return _Log(leaves=leaves, pinned=sorted(set(found.suspects)), top=max(seqs, default=0))


def _load_key(
    bundle: Mapping[str, Any], expected_key_id: str | None, found: _Findings
) -> tuple[Ed25519PublicKey | None, str]:
    """The bundle's key, or None and the reason no head can be trusted."""
    try:
        key = load_public_key_document(bundle.get("public_key"))
    except ValueError as exc:
        reason = f"public key unusable ({exc})"
        found.add(reason)
        return None, reason
    if expected_key_id is not None and key_id(key) != expected_key_id.lower():
        reason = f"bundle key {key_id(key)} is not the expected key {expected_key_id}"
        found.add(reason)
        return None, reason
    tenant = bundle.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        reason = "bundle names no tenant, so no head signature can be checked"
        found.add(reason)
        return None, reason
    return key, ""


def _parse_head(head: object) -> tuple[int, bytes] | str:
    if not isinstance(head, Mapping):
        return "not a JSON object"
    size = head.get("tree_size")
    if type(size) is not int or size < 0:
        return f"tree_size {size!r} is not a non-negative integer"
    if not _is_hex_hash(head.get("root_hash")):
        return f"at tree_size {size}: root_hash is not 64 hex digits"
    return size, bytes.fromhex(head["root_hash"])


def _check_heads(
    heads: Sequence[Any],
    log: _Log,
    key: Ed25519PublicKey | None,
    key_problem: str,
    tenant: str,
    found: _Findings,
) -> tuple[int, int]:
    """Check every head; returns (heads checked, highest good tree size)."""
    complete = 0
    while complete + 1 in log.leaves:
        complete += 1
    tree = MerkleTree(log.leaves[seq] for seq in range(1, complete + 1))
    parsed: list[tuple[int, bytes, Mapping[str, Any]]] = []
    for number, head in enumerate(heads, start=1):
        result = _parse_head(head)
        if isinstance(result, str):
            # Unplaced, so anything could be what it was meant to vouch for.
            found.add(f"signed head #{number}: malformed, {result}", 1)
        else:
            parsed.append((result[0], result[1], head))
    parsed.sort(key=lambda item: item[0])
    good_size, good_root = 0, None
    for size, root, head in parsed:
        label = f"signed head at tree_size {size}"
        # Nothing below the last good head can be blamed on this one.
        lowest = max(1, min(good_size + 1, size))
        affected = f"seq {lowest}-{size} could be affected" if size > good_size else "no new seq"
        if key is None:
            found.add(f"{label}: not checked, {key_problem} ({affected})", lowest)
            continue
        if not verify_tree_head(key, tenant, head):
            why = "bad signature"
            claimed = head.get("key_id")
            if claimed is not None and claimed != key_id(key):
                why = f"signed by key {claimed!r}, not the bundle key {key_id(key)}"
            found.add(f"{label}: {why} ({affected})", lowest)
            continue
        if size > log.top:
            found.add(f"{label}: the bundle ends at seq {log.top} (entries truncated)", log.top + 1)
            continue
        if size > complete:
            found.add(
                f"{label}: root cannot be recomputed, seq {complete + 1} is missing or unreadable",
                complete + 1,
            )
            continue
        if tree.root(size) != root:
            explained = [seq for seq in log.pinned if good_size < seq <= size]
            if explained:
                found.add(f"{label}: root does not match the entries (see seq {explained[0]})")
            else:
                found.add(f"{label}: root does not match the entries ({affected})", lowest)
            continue
        if good_root is not None:
            # Implied by recomputation; checked through the proof API so the two agree.
            proof = tree.consistency_proof(good_size, size)
            if not verify_consistency(good_size, size, proof, good_root, root):
                found.add(f"{label}: not consistent with the head at {good_size}", lowest)
                continue
        good_size, good_root = size, root
    return len(parsed), good_size


def verify_bundle(bundle: Mapping[str, Any], *, expected_key_id: str | None = None) -> BundleReport:
    """Check an export bundle; `expected_key_id` pins the key the caller trusts.

    Without it the bundle's own public key is used, which proves integrity against that
    key only: compare the reported key id with one obtained independently.
    """
    found = _Findings()
    if not isinstance(bundle, Mapping):
        found.add("bundle is not a JSON object")
        return BundleReport(False, 0, 0, None, found.problems)
    if bundle.get("format") != FORMAT:
        found.add(f"format is {bundle.get('format')!r}, expected {FORMAT!r}")
        return BundleReport(False, 0, 0, None, found.problems)
    entries = bundle.get("entries")
    if not isinstance(entries, list):
        found.add("entries is not a list")
        return BundleReport(False, 0, 0, None, found.problems)
    heads = bundle.get("signed_heads", [])
    if not isinstance(heads, list):
        found.add("signed_heads is not a list")
        heads = []
    log = _check_entries(entries, found)
    key, key_problem = _load_key(bundle, expected_key_id, found)
    tenant = bundle.get("tenant")
    checked, covered = _check_heads(
        heads, log, key, key_problem, tenant if isinstance(tenant, str) else "", found
    )
    return BundleReport(
        ok=not found.problems,
        entries=len(entries),
        heads_checked=checked,
        first_bad_seq=min(found.suspects, default=None),
        problems=found.problems,
        covered=covered,
    )
