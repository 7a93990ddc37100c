"""Export a log as a self-contained bundle, and verify a stored log through that bundle.

Verification runs the same offline checks a third party runs on an exported file
(audit.bundle), plus what only the database can tell: entries missing at the tail.
"""

from __future__ import annotations

import json
from typing import Any

from audit.bundle import BundleReport, verify_bundle
from hub.domain.audit import StoredEntry
from hub.ports import UnitOfWorkFactory
from hub.services.audit.log import AuditLog, AuditLogRef

BUNDLE_FORMAT = "industrial-hub-audit-export/1"
BATCH = 5000


async def export_bundle(
    uow_factory: UnitOfWorkFactory, audit_log: AuditLog, ref: AuditLogRef
) -> dict[str, Any]:
    bundle, _ = await _collect(uow_factory, audit_log, ref)
    return bundle


async def _collect(
    uow_factory: UnitOfWorkFactory, audit_log: AuditLog, ref: AuditLogRef
) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """The bundle, and (seq, problem) for each filter column that disagrees with its body."""
    entries: list[dict[str, Any]] = []
    columns: list[tuple[int, str]] = []
    async with uow_factory() as uow:
        size = await uow.audit.size(ref.log_id)
        after = 0
        while True:
            rows = await uow.audit.scan(ref.log_id, after, BATCH)
            if not rows:
                break
            leaves = await uow.audit.stored_leaves(ref.log_id, rows[0].seq, rows[-1].seq)
            for row in rows:
                entry = json.loads(row.body)
                columns.extend(_column_problems(row, entry))
                stored = leaves.get(row.seq)
                entry["leaf_hash"] = stored.hex() if stored else ""
                entries.append(entry)
            after = rows[-1].seq
        heads = [h.as_dict() for h in await uow.audit.heads(ref.log_id)]
    bundle = {
        "format": BUNDLE_FORMAT,
        "tenant": ref.name,
        "log_size": size,
        "public_key": audit_log.public_key(),
        "entries": entries,
        "signed_heads": heads,
    }
    return bundle, columns


def _column_problems(row: StoredEntry, entry: dict[str, Any]) -> list[tuple[int, str]]:
    """The filter columns are not in the signed leaf, so the bundle check cannot see an
    edited one; it would silently change what `?action=` or `?actor=` finds."""
    return [
        (
            row.seq,
            f"seq {row.seq}: column {name} is {_short(stored)} "
            f"but the signed body says {_short(signed)}",
        )
        for name, stored, signed in row.mismatches(entry)
    ]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def verify_log(
    uow_factory: UnitOfWorkFactory, audit_log: AuditLog, ref: AuditLogRef
) -> BundleReport:
    bundle, columns = await _collect(uow_factory, audit_log, ref)
    # Pin the hub's own key: a log re-signed with some other key is not intact.
    report = verify_bundle(bundle, expected_key_id=bundle["public_key"]["key_id"])
    for seq, problem in columns:
        _fail(report, seq, problem)
    count, size = len(bundle["entries"]), bundle["log_size"]
    if count < size:
        first_missing = count + 1
        _fail(
            report,
            first_missing,
            f"the log holds {size} entries but only {count} are stored "
            f"(seq {first_missing}..{size} missing)",
        )
    return report


def _fail(report: BundleReport, seq: int, problem: str) -> None:
    report.ok = False
    report.problems.append(problem)
    if report.first_bad_seq is None or seq < report.first_bad_seq:
        report.first_bad_seq = seq
