"""How anchors change state: each change and its audit entry in one transaction."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from hub.domain.anchors import (
    ANCHOR_CONFIRM,
    ANCHOR_FAIL,
    ANCHOR_RESUBMIT,
    Anchor,
    AnchorStatus,
    ChainRef,
    TxLookup,
    retry_delay,
)
from hub.domain.audit import SYSTEM, AuditEvent, Outcome, RequestContext
from hub.ports import Clock, UnitOfWorkFactory
from hub.services.audit.log import AuditLog

log = logging.getLogger("hub.anchoring")


class AnchorTransitions:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, audit: AuditLog, settings: Any
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self.settings = settings

    async def confirm(self, anchor: Anchor, found: TxLookup) -> None:
        values = {
            "status": AnchorStatus.CONFIRMED.value,
            "block_number": found.block_number,
            "block_hash": found.block_hash,
            "log_index": found.log_index,
            "confirmed_at": self._clock.now(),
            "last_error": None,
        }
        details = {
            "tx_hash": anchor.tx_hash,
            "chain_id": anchor.chain_id,
            "contract": anchor.contract,
            "block_number": found.block_number,
            "log_index": found.log_index,
        }
        await self.change(anchor, values, ANCHOR_CONFIRM, details)

    async def vanished(self, anchor: Anchor, why: str) -> None:
        log.warning(
            "anchor %s: transaction %s vanished (%s); sending it again",
            anchor.id,
            anchor.tx_hash,
            why,
        )
        await self._again(anchor, why, f"transaction {anchor.tx_hash} vanished: {why}")

    async def moved(self, anchor: Anchor, chain: ChainRef) -> None:
        """Sent to a chain the hub no longer anchors on and not confirmed there: send it
        again on the configured chain."""
        why = f"the hub moved to chain {chain.chain_id} contract {chain.contract}"
        log.warning("anchor %s: %s; sending it again there", anchor.id, why)
        await self._again(anchor, why, why)

    async def _again(self, anchor: Anchor, why: str, error: str) -> None:
        now = self._clock.now()
        values = {
            "status": AnchorStatus.PENDING.value,
            "tx_hash": None,
            "nonce": None,
            "block_number": None,
            "block_hash": None,
            "log_index": None,
            "confirmed_at": None,
            "resubmissions": anchor.resubmissions + 1,
            "next_attempt_at": now,
            "last_error": error,
        }
        details = {"previous_tx_hash": anchor.tx_hash, "reason": why or "vanished"}
        await self.change(anchor, values, ANCHOR_RESUBMIT, details)

    async def fail(self, anchor: Anchor, attempts: int, why: str) -> None:
        log.error("anchor %s failed: %s", anchor.id, why)
        values = {"status": AnchorStatus.FAILED.value, "attempts": attempts, "last_error": why}
        await self.change(anchor, values, ANCHOR_FAIL, {"error": why[:500]}, Outcome.FAILURE)

    async def retry_later(self, anchor: Anchor, attempts: int, why: str) -> None:
        """The chain is not usable: keep the anchor as it is and try again after a backoff.
        Not audited: nothing changed, and a long outage would flood the log."""
        delay = retry_delay(attempts, self.settings.retry_max)
        log.warning("anchor %s: %s; next try in %.0f s", anchor.id, why, delay)
        await self.later(anchor, delay, attempts=attempts, last_error=why[:1000])

    async def later(self, anchor: Anchor, delay: float, **values: Any) -> None:
        at = self._clock.now() + timedelta(seconds=delay)
        async with self._uow(write=True) as uow:
            await uow.anchors.update(anchor.id, next_attempt_at=at, **values)
            await uow.commit()

    async def change(
        self,
        anchor: Anchor,
        values: dict[str, Any],
        action: str,
        details: dict[str, Any],
        outcome: Outcome = Outcome.SUCCESS,
    ) -> None:
        async with self._uow(write=True) as uow:
            await uow.anchors.update(anchor.id, **values)
            full = {"tree_size": anchor.tree_size, **details}
            await self.record(uow, anchor, SYSTEM, action, full, outcome)
            await uow.commit()

    async def record(
        self,
        uow: Any,
        anchor: Anchor,
        ctx: RequestContext,
        action: str,
        details: dict[str, Any],
        outcome: Outcome = Outcome.SUCCESS,
    ) -> None:
        event = AuditEvent(action, "audit_anchor", anchor.id, outcome, details)
        await self._audit.record(uow, [anchor.log_id], ctx, event)
