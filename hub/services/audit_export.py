"""Export a log as a self-contained bundle, and verify a stored log through that bundle.

Verification runs the same offline checks a third party runs on an exported file
(audit.bundle), plus what only the database can tell: entries missing at the tail.
"""

from __future__ import annotations

import json
from typing import Any

from audit.bundle import BundleReport, verify_bundle
from hub.ports import UnitOfWorkFactory
from hub.services.audit import AuditLog, AuditLogRef

BUNDLE_FORMAT = "industrial-hub-audit-export/1"
BATCH = 5000


async def export_bundle(
    uow_factory: UnitOfWorkFactory, audit_log: AuditLog, ref: AuditLogRef
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    async with uow_factory() as uow:
        size = await uow.audit.size(ref.log_id)
        after = 0
        while True:
            rows = await uow.audit.scan(ref.log_id, after, BATCH)
            if not rows:
                break
            leaves = await uow.audit.stored_leaves(ref.log_id, rows[0][0], rows[-1][0])
            for seq, body in rows:
                entry = json.loads(body)
                stored = leaves.get(seq)
                entry["leaf_hash"] = stored.hex() if stored else ""
                entries.append(entry)
            after = rows[-1][0]
        heads = [h.as_dict() for h in await uow.audit.heads(ref.log_id)]
    return {
        "format": BUNDLE_FORMAT,
        "tenant": ref.name,
        "log_size": size,
        "public_key": audit_log.public_key(),
        "entries": entries,
        "signed_heads": heads,
    }


async def verify_log(
    uow_factory: UnitOfWorkFactory, audit_log: AuditLog, ref: AuditLogRef
) -> BundleReport:
    bundle = await export_bundle(uow_factory, audit_log, ref)
    # Pin the hub's own key: a log re-signed with some other key is not intact.
    report = verify_bundle(bundle, expected_key_id=bundle["public_key"]["key_id"])
    count, size = len(bundle["entries"]), bundle["log_size"]
    if count < size:
        first_missing = count + 1
        report.ok = False
        report.problems.append(
            f"the log holds {size} entries but only {count} are stored "
            f"(seq {first_missing}..{size} missing)"
        )
        if report.first_bad_seq is None or first_missing < report.first_bad_seq:
            report.first_bad_seq = first_missing
    return report
