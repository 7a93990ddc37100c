"""`hub audit verify | export | verify-file`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from audit.bundle import BundleReport, verify_bundle
from hub.bootstrap import Hub, build
from hub.cli.chain import add_audit_actions, anchor_tenant, verify_receipt_file
from hub.domain.audit import PLATFORM_LOG
from hub.domain.errors import NotFound
from hub.services.audit.export import export_bundle, verify_log
from hub.services.audit.log import AuditLogRef
from hub.settings import Settings


class AuditCliError(Exception):
    """Printed as one line; exit 2."""


def add_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="verify and export the tamper-evident audit log")
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    for name, text in (
        ("verify", "recompute every leaf, the tree and every signed head"),
        ("export", "write entries, signed heads and the public key to a file"),
    ):
        cmd = actions.add_parser(name, help=text)
        which = cmd.add_mutually_exclusive_group(required=True)
        which.add_argument("--tenant", help="tenant slug")
        which.add_argument("--platform", action="store_true", help="the platform's own log")
        if name == "export":
            cmd.add_argument("--out", required=True, type=Path, help="file to write")
    check = actions.add_parser("verify-file", help="verify an exported file, offline")
    check.add_argument("file", type=Path)
    add_audit_actions(actions)  # anchor, verify-receipt (hub/cli/chain.py)


async def _ref(hub: Hub, args: argparse.Namespace) -> AuditLogRef:
    if args.platform:
        return AuditLogRef(PLATFORM_LOG, PLATFORM_LOG)
    try:
        tenant = await hub.tenants.get(args.tenant)
    except NotFound:
        raise AuditCliError(f"no tenant {args.tenant!r}") from None
    return AuditLogRef(tenant.id, tenant.slug)


def _report(report: BundleReport, what: str) -> int:
    if report.ok:
        print(f"{what}: intact: {report.entries} entries, {report.heads_checked} signed heads")
        return 0
    print(f"{what}: TAMPERED: first bad seq {report.first_bad_seq}", file=sys.stderr)
    for problem in report.problems[:20]:
        print(f"  {problem}", file=sys.stderr)
    if len(report.problems) > 20:
        print(f"  ... and {len(report.problems) - 20} more", file=sys.stderr)
    return 1


async def run_audit(settings: Settings, args: argparse.Namespace) -> int:
    if args.audit_command == "verify-file":
        return verify_file(args.file)
    if args.audit_command == "verify-receipt":
        return verify_receipt_file(args)
    if args.audit_command == "anchor":
        return await anchor_tenant(settings, args.tenant)
    hub = build(settings)
    try:
        await hub.start()
        ref = await _ref(hub, args)
        if args.audit_command == "verify":
            print(f"verifying the audit log of {ref.name} ...", file=sys.stderr, flush=True)
            return _report(await verify_log(hub.uow, hub.audit, ref), f"audit log {ref.name}")
        bundle = await export_bundle(hub.uow, hub.audit, ref)
        args.out.write_text(json.dumps(bundle, indent=1, ensure_ascii=False))
        print(
            f"wrote {len(bundle['entries'])} entries and {len(bundle['signed_heads'])} "
            f"signed heads of {ref.name} to {args.out}"
        )
        return 0
    finally:
        await hub.close()


def verify_file(path: Path) -> int:
    try:
        bundle = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AuditCliError(f"cannot read {path}: {exc}") from None
    if not isinstance(bundle, dict):
        raise AuditCliError(f"{path} is not an audit export")
    return _report(verify_bundle(bundle), str(path))
