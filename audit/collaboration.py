"""Verify a collaboration's receipt without trusting any participant's hub.

A collaboration receipt (`GET .../collaborations/{id}/receipt`) holds, for each
participant organisation, every entry its audit log has about the collaboration, each as
an ordinary audit receipt (entry, inclusion proof, signed head, chain anchor; see
`audit.receipt`). It is valid when:

1. every entry receipt is valid (offline: leaf, proof, signed head; with `rpc`, also its
   anchor on the chain) and is about this collaboration;
2. every participant has its part, and each part's receipts are of that part's log;
3. both sides of every message agree: each `federation.message.receive` entry (in the
   receiver's log) has a `federation.message.send` entry in the sender's log with the
   same event id, addressed to the receiver, with the same body digest. A message
   received that its sender's log does not hold is a problem (forged, or a log that
   left it out). A message sent that the receiver's log does not hold is reported as
   `in_flight` (not yet delivered when the receipt was taken), and a problem only with
   `require_delivered`.

`expected_key_ids` pins each organisation's hub audit key (org_id -> key id) and
`expected_orgs` the organisations that must take part; without them a receipt's own
keys are trusted, which proves consistency, not authorship.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audit.receipt import Rpc, verify_anchor_on_chain, verify_receipt_offline

__all__ = ["CollaborationReport", "verify_collaboration_receipt"]

KIND = "collaboration-receipt"
SEND = "federation.message.send"
RECEIVE = "federation.message.receive"


@dataclass
class CollaborationReport:
    ok: bool = True
    entries: int = 0
    messages: int = 0  # messages both logs agree on
    in_flight: list[str] = field(default_factory=list)  # sent, not yet in the receiver's log
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.ok = False
        self.problems.append(text)


def _entries(part: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    receipts = part.get("receipts")
    if not isinstance(receipts, list):
        return []
    found = [r.get("entry") for r in receipts if isinstance(r, Mapping)]
    return [e for e in found if isinstance(e, Mapping)]


def _check_part(
    report: CollaborationReport,
    part: Mapping[str, Any],
    collab_id: str,
    rpc: Rpc | None,
    key_id: str | None,
    min_confirmations: int,
) -> None:
    org = str(part.get("org_id"))
    receipts = part.get("receipts")
    if not isinstance(receipts, list) or not receipts:
        report.problem(f"{org}: no entries")
        return
    public_key = part.get("audit_public_key")
    tenants = set()
    for receipt in receipts:
        if not isinstance(receipt, Mapping):
            report.problem(f"{org}: a receipt is not an object")
            continue
        got = receipt.get("entry")
        entry: Mapping[str, Any] = got if isinstance(got, Mapping) else {}
        seq = entry.get("seq")
        checked = verify_receipt_offline(
            receipt,
            public_key=public_key if isinstance(public_key, Mapping) else None,
            expected_key_id=key_id,
        )
        if rpc is not None and checked.checks.get("format") is not False:
            verify_anchor_on_chain(
                receipt, rpc, min_confirmations=min_confirmations, report=checked
            )
        for text in checked.problems:
            report.problem(f"{org}: entry {seq}: {text}")
        if entry.get("resource_type") != "collaboration" or entry.get("resource_id") != collab_id:
            report.problem(f"{org}: entry {seq} is not about collaboration {collab_id}")
        tenants.add(receipt.get("tenant"))
        report.entries += 1
    if len(tenants) > 1:
        report.problem(f"{org}: its receipts come from {len(tenants)} different logs")


def _messages(parts: Mapping[str, Mapping[str, Any]], report: CollaborationReport,
              require_delivered: bool) -> None:  # fmt: skip
    sent: dict[tuple[str, str, str], str] = {}  # (sender, receiver, event id) -> digest
    received: dict[tuple[str, str, str], str] = {}
    for org, part in parts.items():
        for entry in _entries(part):
            got = entry.get("details")
            details: Mapping[str, Any] = got if isinstance(got, Mapping) else {}
            event_id, digest = str(details.get("event_id")), str(details.get("digest"))
            if entry.get("action") == SEND:
                sent[(org, str(details.get("to")), event_id)] = digest
            elif entry.get("action") == RECEIVE:
                received[(str(details.get("from")), org, event_id)] = digest
    for key, digest in received.items():
        sender, receiver, event_id = key
        if sender not in parts:
            report.problem(f"{receiver} received {event_id} from {sender}, not a participant")
        elif key not in sent:
            report.problem(f"{receiver} received {event_id} that {sender}'s log never sent")
        elif sent[key] != digest:
            report.problem(f"{event_id}: {sender} sent and {receiver} received different bodies")
        else:
            report.messages += 1
    for key in sent.keys() - received.keys():
        sender, receiver, event_id = key
        if receiver in parts:
            report.in_flight.append(f"{event_id} ({sender} -> {receiver})")
            if require_delivered:
                report.problem(f"{event_id} sent by {sender} is not in {receiver}'s log")


def verify_collaboration_receipt(
    bundle: Any,
    *,
    rpc: Rpc | None = None,
    expected_key_ids: Mapping[str, str] | None = None,
    expected_orgs: set[str] | None = None,
    require_delivered: bool = False,
    min_confirmations: int = 1,
) -> CollaborationReport:
    report = CollaborationReport()
    collab = bundle.get("collaboration") if isinstance(bundle, Mapping) else None
    parts_list = bundle.get("organisations") if isinstance(bundle, Mapping) else None
    if (
        not isinstance(bundle, Mapping)
        or bundle.get("kind") != KIND
        or not isinstance(collab, Mapping)
        or not isinstance(parts_list, list)
    ):
        report.problem("not a collaboration receipt: needs kind, collaboration, organisations")
        return report
    collab_id = str(collab.get("id"))
    parts = {str(p.get("org_id")): p for p in parts_list if isinstance(p, Mapping)}
    named = {str(p.get("organisation")) for p in collab.get("participants") or []
             if isinstance(p, Mapping)}  # fmt: skip
    for org in sorted((expected_orgs or set()) | named):
        if org not in parts:
            report.problem(f"participant {org} has no part in the receipt")
    keys = expected_key_ids or {}
    for org, part in parts.items():
        _check_part(report, part, collab_id, rpc, keys.get(org), min_confirmations)
    _messages(parts, report, require_delivered)
    return report
