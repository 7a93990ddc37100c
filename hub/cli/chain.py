"""`hub chain deploy`, `hub audit anchor --tenant T`, `hub audit verify-receipt FILE`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from audit.collaboration import verify_collaboration_receipt
from audit.receipt import RpcError, http_rpc, verify_receipt
from hub.bootstrap import build
from hub.domain.anchors import AnchorStatus
from hub.domain.audit import SYSTEM
from hub.settings import Settings

ANCHOR_WAIT = 120.0  # seconds `hub audit anchor` waits for the confirmation


class ChainCliError(Exception):
    """A user's mistake: printed as one line, exit 2."""


def add_chain_parser(sub: Any) -> None:
    chain = sub.add_parser("chain", help="the EVM chain that anchors the audit log")
    actions = chain.add_subparsers(dest="chain_command", metavar="ACTION", required=True)
    actions.add_parser(
        "deploy",
        help="deploy the AuditAnchor contract to HUB_CHAIN_URL, owned by "
        "HUB_CHAIN_PRIVATE_KEY; prints its address last",
    )


def add_audit_actions(actions: Any) -> None:
    anchor = actions.add_parser("anchor", help="anchor a tenant's current signed head now")
    anchor.add_argument("--tenant", required=True, help="tenant slug")
    check = actions.add_parser(
        "verify-receipt", help="verify a receipt: leaf, proof, head signature, chain event"
    )
    check.add_argument("file", type=Path, help="the receipt (JSON, from .../receipt)")
    check.add_argument(
        "--chain-url",
        help="JSON-RPC URL of the chain (an entry receipt needs it; a collaboration receipt "
        "is checked offline without it, and its anchors on the chain with it)",
    )
    check.add_argument(
        "--require-delivered",
        action="store_true",
        help="collaboration receipts: every message sent must be in its receiver's log",
    )
    check.add_argument("--key-id", help="the hub's key id to pin (GET /api/v1/audit/public-key)")
    check.add_argument("--contract", help="the AuditAnchor address to pin")
    check.add_argument("--chain-id", type=int, help="the chain id to pin")
    check.add_argument("--confirmations", type=int, default=1, help="at least (default 1)")


def run_chain(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.chain_url or not settings.chain_private_key:
        raise ChainCliError("set HUB_CHAIN_URL and HUB_CHAIN_PRIVATE_KEY to deploy")
    from connectors.ledger.ethereum import account_of, connect, deploy_contract
    from hub.domain.anchors import LedgerRejected

    w3 = connect(settings.chain_url)
    try:
        chain_id = w3.eth.chain_id
        address, tx_hash = deploy_contract(w3, account_of(settings.chain_private_key))
    except LedgerRejected as exc:
        raise ChainCliError(str(exc)) from None
    except Exception as exc:  # an unreachable node, a broke account: one line, not a trace
        print(f"hub: error: cannot deploy on {settings.chain_url}: {exc}", file=sys.stderr)
        return 1
    print(f"deployed AuditAnchor on chain {chain_id} in {tx_hash}", file=sys.stderr)
    print("set HUB_ANCHOR_CONTRACT to this address:", file=sys.stderr)
    print(address)
    return 0


async def anchor_tenant(settings: Settings, slug: str) -> int:
    hub = build(settings)
    try:
        await hub.start()
        tenant = await hub.tenants.get(slug)
        anchor, created = await hub.anchors.anchor_now(tenant, SYSTEM)
        waited = 0.0
        while anchor.status in (AnchorStatus.PENDING, AnchorStatus.SUBMITTED):
            if waited >= ANCHOR_WAIT or (anchor.status is AnchorStatus.PENDING and waited > 0):
                break  # pending after a try: the chain is not usable now; the service retries
            await asyncio.sleep(1.0)
            waited += 1.0
            await hub.anchors.process_due()
            anchor = await hub.anchors.get(tenant, anchor.id)
        state = "new anchor" if created else "latest anchor (the log did not grow)"
        print(f"{state}: {json.dumps(anchor.as_dict(), default=str)}")
        if hub.anchors.ledger.kind == "embedded":
            print("note: the embedded chain lives only as long as this process", file=sys.stderr)
        return 0 if anchor.status is AnchorStatus.CONFIRMED else 1
    finally:
        await hub.close()


def _verify_collaboration(args: argparse.Namespace, bundle: dict[str, Any]) -> int:
    try:
        report = verify_collaboration_receipt(
            bundle,
            rpc=http_rpc(args.chain_url) if args.chain_url else None,
            require_delivered=args.require_delivered,
            min_confirmations=args.confirmations,
        )
    except RpcError as exc:
        print(f"hub: error: chain: {exc}", file=sys.stderr)
        return 1
    collab = bundle.get("collaboration", {})
    where = "and on the chain" if args.chain_url else "offline (no --chain-url: anchors not read)"
    if report.ok:
        orgs = len(bundle.get("organisations", []))
        print(
            f"{args.file}: valid {where}: collaboration {collab.get('id')} "
            f"({collab.get('status')}): {report.entries} entries of {orgs} organisations, "
            f"{report.messages} messages in both logs, {len(report.in_flight)} in flight"
        )
        return 0
    print(f"{args.file}: INVALID", file=sys.stderr)
    for problem in report.problems[:50]:
        print(f"  {problem}", file=sys.stderr)
    return 1


def verify_receipt_file(args: argparse.Namespace) -> int:
    try:
        receipt = json.loads(args.file.read_text())
    except (OSError, ValueError) as exc:
        raise ChainCliError(f"cannot read {args.file}: {exc}") from None
    if not isinstance(receipt, dict):
        raise ChainCliError(f"{args.file} is not a receipt")
    if receipt.get("kind") == "collaboration-receipt":
        return _verify_collaboration(args, receipt)
    if not args.chain_url:
        raise ChainCliError("an entry receipt is checked against the chain: give --chain-url")
    try:
        report = verify_receipt(
            receipt,
            http_rpc(args.chain_url),
            expected_key_id=args.key_id,
            expected_chain_id=args.chain_id,
            expected_contract=args.contract,
            min_confirmations=args.confirmations,
        )
    except RpcError as exc:
        print(f"hub: error: chain: {exc}", file=sys.stderr)
        return 1
    entry = receipt.get("entry", {})
    if report.ok:
        anchor = receipt["anchor"]
        print(
            f"{args.file}: valid: entry {entry.get('seq')} of {receipt.get('tenant')} is in the "
            f"tree of {receipt['proof']['tree_size']} anchored in block {anchor['block_number']} "
            f"of chain {anchor['chain_id']} (block time {report.block_timestamp})"
        )
        return 0
    print(f"{args.file}: INVALID", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1
