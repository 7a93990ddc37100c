"""The embedded chain lives as long as the process: a restarted hub finds its confirmed
anchors gone from the new chain and sends them again."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.bootstrap import Hub, build
from hub.domain.audit import SYSTEM, AuditFilter
from hub.services.audit.log import AuditLogRef
from hub.settings import Settings
from tests.conftest import FAST_HASHER


async def _anchor_then_restart(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    first: Hub = build(settings, hasher=FAST_HASHER)
    await first.start()
    try:
        tenant = await first.tenants.create("acme", "Acme", SYSTEM)
        anchor, created = await first.anchors.anchor_now(tenant, SYSTEM)
        assert created and anchor.status.value == "confirmed"
        before = anchor.as_dict()
    finally:
        await first.close()
    second: Hub = build(settings, hasher=FAST_HASHER)  # a new process: a new embedded chain
    await second.start()
    try:
        await second.anchors.tick()  # finds the transaction gone, sends it again
        await second.anchors.process_due()
        after = (await second.anchors.get(tenant, anchor.id)).as_dict()
        ref = AuditLogRef(tenant.id, tenant.slug)
        log = await second.audit.search(ref, AuditFilter(action="audit.anchor.resubmit"), None, 9)
        assert [e["details"]["previous_tx_hash"] for e in log.items] == [before["tx_hash"]]
    finally:
        await second.close()
    return before, after


def test_restarted_embedded_chain_gets_the_anchors_again(settings: Settings) -> None:
    before, after = asyncio.run(_anchor_then_restart(settings))
    assert after["status"] == "confirmed" and after["resubmissions"] == 1
    assert after["tree_size"] == before["tree_size"] and after["contract"] == before["contract"]
