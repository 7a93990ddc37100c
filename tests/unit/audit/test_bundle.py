"""Offline bundle verification: an intact export passes, and each kind of tampering is named.

The standard bundle has 30 entries and signed heads at tree sizes 10, 20 and 30.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.bundle import BundleReport, verify_bundle
from audit.merkle import EMPTY_ROOT
from audit.signing import key_id, public_key_document, sign_tree_head
from tests.support.audit_bundles import KEY, TENANT, make_bundle, make_entry, seal, sign_heads


def _bad(report: BundleReport, first_bad_seq: int, *fragments: str) -> None:
    assert not report.ok
    assert report.first_bad_seq == first_bad_seq, report.problems
    text = "\n".join(report.problems)
    for fragment in fragments:
        assert fragment in text, report.problems


def _entry(bundle: dict[str, Any], seq: int) -> dict[str, Any]:
    return next(e for e in bundle["entries"] if e["seq"] == seq)


def test_intact_bundle() -> None:
    report = verify_bundle(make_bundle())
    assert report == BundleReport(
        ok=True, entries=30, heads_checked=3, first_bad_seq=None, problems=[], covered=30
    )


def test_entries_after_the_last_head_are_reported_as_uncovered() -> None:
    report = verify_bundle(make_bundle(count=35))
    assert report.ok and report.covered == 30 and report.entries == 35


def test_no_heads_and_empty_head() -> None:
    report = verify_bundle(make_bundle(heads=()))
    assert report.ok and report.heads_checked == 0 and report.covered == 0
    empty = make_bundle(count=0, heads=())
    empty["signed_heads"] = [sign_tree_head(KEY, TENANT, 0, EMPTY_ROOT.hex(), "t")]
    assert verify_bundle(empty).ok


def test_edited_entry_is_pinned_by_its_leaf_hash() -> None:
    bundle = make_bundle()
    _entry(bundle, 17)["actor"] = "intruder"
    report = verify_bundle(bundle)
    _bad(report, 17, "seq 17: content does not match its leaf_hash")
    assert "signed head at tree_size 20: root does not match the entries (see seq 17)" in (
        report.problems
    )


def test_edited_and_resealed_entry_is_caught_by_the_signed_head() -> None:
    bundle = make_bundle()
    seal(_entry(bundle, 17))["detail"]["value"] = 0
    seal(_entry(bundle, 17))
    report = verify_bundle(bundle)
    _bad(
        report,
        11,
        "signed head at tree_size 20: root does not match the entries (seq 11-20 could be",
        "signed head at tree_size 30: root does not match",
    )
    assert report.covered == 10


def test_deleted_entry() -> None:
    bundle = make_bundle()
    bundle["entries"] = [e for e in bundle["entries"] if e["seq"] != 5]
    report = verify_bundle(bundle)
    _bad(report, 5, "seq 5 missing (entries jump from 4 to 6)")
    assert report.entries == 29


def test_deleted_run_and_missing_start() -> None:
    bundle = make_bundle()
    bundle["entries"] = [e for e in bundle["entries"] if e["seq"] not in (1, 2, 7, 8, 9)]
    _bad(
        verify_bundle(bundle),
        1,
        "seqs 1-2 missing (entries start at seq 3)",
        "seqs 7-9 missing (entries jump from 6 to 10)",
    )


@pytest.mark.parametrize("before", [True, False])
def test_inserted_duplicate(before: bool) -> None:
    bundle = make_bundle()
    forged = make_entry(9, action="delete")
    position = 8 if before else 9
    bundle["entries"].insert(position, forged)
    _bad(verify_bundle(bundle), 9, "seq 9 appears twice")


def test_inserted_and_renumbered() -> None:
    bundle = make_bundle()
    entries = bundle["entries"]
    entries.insert(14, make_entry(15, action="forged"))
    for entry in entries[15:]:
        entry["seq"] += 1
        seal(entry)
    report = verify_bundle(bundle)
    _bad(report, 11, "signed head at tree_size 20: root does not match the entries")
    assert report.covered == 10


def test_reordered_entries() -> None:
    bundle = make_bundle()
    entries = bundle["entries"]
    entries[11], entries[12] = entries[12], entries[11]
    report = verify_bundle(bundle)
    _bad(report, 12, "seq 12 out of order (it comes after seq 13)")
    # The tree is built by seq, so the heads still verify: only the order is wrong.
    assert len(report.problems) == 1 and report.covered == 30


def test_reordered_and_renumbered() -> None:
    bundle = make_bundle()
    entries = bundle["entries"]
    entries[11], entries[12] = entries[12], entries[11]
    entries[11]["seq"], entries[12]["seq"] = 12, 13
    seal(entries[11])
    seal(entries[12])
    _bad(verify_bundle(bundle), 11, "signed head at tree_size 20: root does not match")


def test_moved_earlier() -> None:
    bundle = make_bundle()
    entries = bundle["entries"]
    entries.insert(2, entries.pop(6))  # seq 7 now sits between 2 and 3
    _bad(verify_bundle(bundle), 3, "seq 3 out of order (it comes after seq 7)")


@pytest.mark.parametrize(("keep", "first_bad"), [(25, 26), (20, 21), (0, 1)])
def test_truncated_after_a_signed_head(keep: int, first_bad: int) -> None:
    bundle = make_bundle()
    bundle["entries"] = bundle["entries"][:keep]
    report = verify_bundle(bundle)
    _bad(report, first_bad, f"signed head at tree_size 30: the bundle ends at seq {keep}")
    assert "(entries truncated)" in report.problems[-1]


def test_forged_signature() -> None:
    bundle = make_bundle()
    head = bundle["signed_heads"][1]
    signature = bytearray(head["signature"].encode())
    signature[5] = ord("A") if signature[5] != ord("A") else ord("B")
    head["signature"] = signature.decode()
    report = verify_bundle(bundle)
    _bad(report, 11, "signed head at tree_size 20: bad signature (seq 11-20 could be affected)")
    assert len(report.problems) == 1
    assert report.covered == 30  # the head at 30 is good and consistent with the one at 10


def test_head_signed_by_another_key() -> None:
    bundle = make_bundle()
    other = Ed25519PrivateKey.generate()
    root = bundle["signed_heads"][0]["root_hash"]
    bundle["signed_heads"][0] = sign_tree_head(other, TENANT, 10, root, "t")
    _bad(verify_bundle(bundle), 1, f"signed by key '{key_id(other.public_key())}'")


@pytest.mark.parametrize(
    ("field", "value"), [("root_hash", "00" * 32), ("tree_size", 25), ("timestamp", "later")]
)
def test_altered_head_fields(field: str, value: Any) -> None:
    bundle = make_bundle()
    bundle["signed_heads"][2][field] = value
    report = verify_bundle(bundle)
    assert not report.ok and report.first_bad_seq == 21


def test_head_of_another_tenant() -> None:
    bundle = make_bundle()
    bundle["tenant"] = "other-tenant"
    report = verify_bundle(bundle)
    _bad(report, 1, "signed head at tree_size 10: bad signature")
    assert report.heads_checked == 3 and report.covered == 0


def test_replaced_key_passes_only_unpinned() -> None:
    bundle = make_bundle()
    forger = Ed25519PrivateKey.generate()
    _entry(bundle, 3)["actor"] = "someone else"
    seal(_entry(bundle, 3))
    bundle["public_key"] = public_key_document(forger.public_key())
    sign_heads(bundle, [10, 20, 30], key=forger)
    assert verify_bundle(bundle).ok
    genuine = key_id(KEY.public_key())
    report = verify_bundle(bundle, expected_key_id=genuine)
    _bad(report, 1, f"is not the expected key {genuine}")
    assert verify_bundle(make_bundle(), expected_key_id=genuine).ok


def test_entry_that_is_not_canonical_json() -> None:
    bundle = make_bundle()
    _entry(bundle, 4)["detail"]["big"] = 2**60
    _bad(verify_bundle(bundle), 4, "seq 4: content cannot be canonicalised")


@pytest.mark.parametrize(
    "bundle",
    [
        None,
        [],
        {},
        {"format": "something else"},
        {"format": "industrial-hub-audit-export/1", "entries": {}},
    ],
)
def test_not_a_bundle(bundle: Any) -> None:
    report = verify_bundle(bundle)
    assert not report.ok and report.problems and report.first_bad_seq is None


def test_malformed_parts() -> None:
    bundle = make_bundle()
    bundle["entries"][3] = "not an entry"
    bundle["entries"][4]["seq"] = "5"
    bundle["entries"][6]["leaf_hash"] = "xyz"
    bundle["signed_heads"].append({"tree_size": -1})
    bundle["signed_heads"].append([])
    _bad(
        verify_bundle(bundle),
        1,
        "entry #4 is not a JSON object",
        "entry #5 has no valid seq ('5')",
        "seq 7: leaf_hash is missing or not 64 hex digits",
        "signed head #4: malformed",
    )
    bundle = make_bundle()
    del bundle["public_key"]
    _bad(verify_bundle(bundle), 1, "public key unusable")


def test_random_garbage_never_raises() -> None:
    rng = random.Random(8785)
    junk: list[Any] = [None, -1, 0, 2**70, 1.5, "", "zz", [], {}, [1], {"a": None}, True]
    for _ in range(400):
        bundle = make_bundle(count=6, heads=(3, 6))
        target: Any = bundle
        for _ in range(rng.randrange(1, 4)):
            if isinstance(target, dict) and target:
                name = rng.choice(sorted(target))
                if rng.random() < 0.5 and isinstance(target[name], (dict, list)):
                    target = target[name]
                    continue
                target[name] = rng.choice(junk)
            elif isinstance(target, list) and target:
                index = rng.randrange(len(target))
                if rng.random() < 0.5 and isinstance(target[index], (dict, list)):
                    target = target[index]
                    continue
                target[index] = rng.choice(junk)
        report = verify_bundle(bundle)
        assert isinstance(report, BundleReport)
        assert report.ok == (not report.problems)
