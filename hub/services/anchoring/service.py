"""Anchoring: each tenant's latest signed tree head, published on a chain through LedgerPort.

Every HUB_ANCHOR_INTERVAL seconds (and on demand) a tenant whose log grew gets a new
anchor at its current signed head. An anchor is sent, looked up until it has enough
confirmations, and kept looked at afterwards: a transaction that vanishes (a reorg, a dev
chain restarted) goes back to pending and is sent again. An unreachable chain leaves
anchors pending, retried with backoff; nothing is dropped. Each state change is audited in
the tenant's log in the same transaction; those entries do not count as growth.

Receipts use anchors on the configured chain (chain id and contract). When the hub finds
itself on another chain (at start-up, in each cycle, on demand), each log whose anchors
elsewhere cover more than the configured chain will gets its current head anchored there
at once; anchors on the old chain stay as history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from hub.domain.anchors import (
    ANCHOR_CREATE,
    ANCHOR_RESUBMIT,
    ANCHOR_SUBMIT,
    CHAIN_CHANGE,
    Anchor,
    AnchorStatus,
    ChainRef,
    LedgerRejected,
    LedgerUnavailable,
    TxState,
)
from hub.domain.audit import PLATFORM_LOG, SYSTEM, AuditEvent, RequestContext
from hub.domain.errors import Conflict, DuplicateKey, NotFound
from hub.domain.ids import new_id
from hub.domain.tenancy import Tenant
from hub.ports import Clock, LedgerPort, UnitOfWorkFactory
from hub.services.anchoring.transitions import AnchorTransitions
from hub.services.audit.log import AuditLog, AuditLogRef

log = logging.getLogger("hub.anchoring")
DUE_BATCH = 100
RECHECK_LIMIT = 500  # confirmed anchors looked up again per tenant per cycle, at most


@dataclass(frozen=True)
class AnchorSettings:
    interval: float = 60.0
    retry_max: float = 300.0
    lease_seconds: float = 60.0

    @property
    def poll(self) -> float:
        """How often submitted anchors are looked up."""
        return min(self.interval, 2.0)

    @property
    def vanish_grace(self) -> float:
        """How long a just-sent transaction may be unknown to the node before it counts as
        vanished (a node behind a load balancer may not have it yet)."""
        return min(15.0, 2 * self.interval)


class AnchorService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        ledger: LedgerPort,
        settings: AnchorSettings,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self.ledger = ledger
        self.settings = settings
        self._slugs: dict[str, str] = {}
        self._to = AnchorTransitions(uow_factory, clock, audit, settings)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._chain: ChainRef | None = None  # as last recorded by this process
        self._moved_to: ChainRef | None = None  # every log brought onto this chain

    # --- use cases ---

    async def anchor_now(self, tenant: Tenant, ctx: RequestContext) -> tuple[Anchor, bool]:
        """Anchor the tenant's current head if the log grew, and send it now.
        Returns the anchor (new or the latest) and whether it was created."""
        ref = AuditLogRef(tenant.id, tenant.slug)
        chain = await self._observe_chain()
        moved = await self._move(ref, chain, ctx) if chain is not None else None
        anchor: Anchor | None
        if moved is not None:
            anchor, created = moved, True
        else:
            anchor, created = await self._create(ref, ctx, rearm=True)
        if anchor is None:
            raise Conflict(f"the audit log of {tenant.slug!r} is empty: nothing to anchor")
        for _ in range(2):  # send, then look it up at once: an automining chain has it
            if anchor.status not in (AnchorStatus.PENDING, AnchorStatus.SUBMITTED):
                break
            before = anchor.status
            await self._process(anchor, force=True)
            anchor = await self.get(tenant, anchor.id)
            if anchor.status is before:
                break  # the chain is not usable now, or the anchor waits for confirmations
        return anchor, created

    async def get(self, tenant: Tenant, anchor_id: str) -> Anchor:
        async with self._uow() as uow:
            found = await uow.anchors.get(tenant.id, anchor_id)
        if found is None:
            raise NotFound(f"anchor {anchor_id!r} not found")
        return found

    async def configured_chain(self) -> ChainRef | None:
        """The chain receipts use: the configured chain as this process saw it (asked now
        if it has not yet), else as last recorded while its node cannot be asked; None
        before it was ever reached."""
        if self._chain is None:
            await self._observe_chain()
        if self._chain is not None:
            return self._chain
        async with self._uow() as uow:
            return await uow.anchors.chain()

    async def page(
        self, tenant: Tenant, status: str | None, before_size: int | None, limit: int
    ) -> tuple[list[Anchor], int | None]:
        async with self._uow() as uow:
            rows = await uow.anchors.page(tenant.id, status, before_size, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].tree_size if more and rows else None)

    async def tick(self, *, create: bool = True) -> None:
        """One cycle: new anchors for grown logs, then every due send or look-up."""
        if create:
            tenants = await self._tenants()
            chain = await self._observe_chain()
            if chain is not None and chain != self._moved_to:
                await self._move_all(tenants, chain)
            for tenant in tenants:
                ref = AuditLogRef(tenant.id, tenant.slug)
                try:
                    await self._recheck(ref, chain)
                    await self._create(ref, SYSTEM, rearm=False)
                except Exception:
                    log.exception("anchoring the audit log of %s failed", tenant.slug)
        await self.process_due()

    async def move_at_start(self) -> bool:
        """Bring every log onto the configured chain if anchors were ever sent; False when
        the chain cannot be asked now (the loop tries again). A hub that never anchored
        does not load the chain for this."""
        async with self._uow() as uow:
            if not await uow.anchors.any_sent():
                return True
        chain = await self._observe_chain()
        if chain is None:
            return False
        return await self._move_all(await self._tenants(), chain)

    async def process_due(self) -> None:
        async with self._uow() as uow:
            due = await uow.anchors.due(self._clock.now(), DUE_BATCH)
        for anchor in due:
            try:
                await self._process(anchor)
            except Exception:
                log.exception("anchor %s failed to progress", anchor.id)

    # --- the worker ---

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="anchoring")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        next_cycle = time.monotonic() + self.settings.interval  # the first after one interval
        moved = False
        while True:
            if not moved:  # at start-up: a chain change is acted on at once
                try:
                    moved = await self.move_at_start()
                except Exception:
                    log.exception("moving the anchors to the configured chain failed; retrying")
            create = time.monotonic() >= next_cycle
            if create:
                next_cycle = time.monotonic() + self.settings.interval
            try:
                await self.tick(create=create)
            except Exception:
                log.exception("anchoring cycle failed; retrying")
            wait = max(0.0, min(self.settings.poll, next_cycle - time.monotonic()))
            await asyncio.sleep(wait)

    # --- creating ---

    async def _create(
        self,
        ref: AuditLogRef,
        ctx: RequestContext,
        *,
        rearm: bool,
        moving_to: ChainRef | None = None,
    ) -> tuple[Anchor | None, bool]:
        """A new anchor at the current head when the log grew (or, `moving_to`, always)."""
        async with self._uow() as uow:
            latest = await uow.anchors.latest(ref.log_id)
            size = await uow.audit.size(ref.log_id)
            grown = latest is None or await uow.anchors.grown_since(ref.log_id, latest.tree_size)
        if latest is not None and not grown and moving_to is None:
            if rearm and latest.status is AnchorStatus.FAILED:
                return await self._rearm(ref, latest, ctx), False
            return latest, False
        if size == 0:
            return None, False
        head = await self._audit.head(ref)
        now = self._clock.now()
        anchor = Anchor(
            new_id(),
            ref.log_id,
            head.tree_size,
            head.root_hash,
            AnchorStatus.PENDING,
            now,
            next_attempt_at=now,
        )
        row = {**anchor.as_dict(), "log_id": ref.log_id, "next_attempt_at": now}
        for key in ("nonce", "block_hash"):
            row[key] = None
        try:
            async with self._uow(write=True) as uow:
                await uow.anchors.add(row)
                details = {"tree_size": head.tree_size, "root_hash": head.root_hash}
                if moving_to is not None:
                    details["reason"] = "the hub moved to another chain"
                    details["chain"] = moving_to.as_dict()
                await self._to.record(uow, anchor, ctx, ANCHOR_CREATE, details)
                await uow.commit()
        except DuplicateKey:  # another process anchored this tree size first
            async with self._uow() as uow:
                return await uow.anchors.latest(ref.log_id), False
        return anchor, True

    async def _rearm(self, ref: AuditLogRef, anchor: Anchor, ctx: RequestContext) -> Anchor:
        now = self._clock.now()
        async with self._uow(write=True) as uow:
            await uow.anchors.update(
                anchor.id, status=AnchorStatus.PENDING.value, attempts=0, next_attempt_at=now
            )
            details = {"tree_size": anchor.tree_size, "reason": "retry after failure"}
            await self._to.record(uow, anchor, ctx, ANCHOR_RESUBMIT, details)
            await uow.commit()
            found = await uow.anchors.get(ref.log_id, anchor.id)
        assert found is not None
        return found

    # --- sending and looking up ---

    async def _process(self, anchor: Anchor, *, force: bool = False) -> None:
        now = self._clock.now()
        until = now + timedelta(seconds=self.settings.lease_seconds)
        async with self._uow(write=True) as uow:
            current = await uow.anchors.get(anchor.log_id, anchor.id)
            if current is None or current.status not in (
                AnchorStatus.PENDING,
                AnchorStatus.SUBMITTED,
            ):
                return
            if not force and current.next_attempt_at and current.next_attempt_at > now:
                return
            if not await uow.anchors.lease(anchor.id, now, until):
                return  # another worker is on it
            await uow.commit()
        slug = await self._slug(current.log_id)
        if current.status is AnchorStatus.PENDING:
            await self._submit(current, slug)
        else:
            await self._poll(current, slug)

    async def _submit(self, anchor: Anchor, slug: str) -> None:
        attempts = anchor.attempts + 1
        try:
            tx = await self.ledger.anchor(slug, anchor.root_hash, anchor.tree_size)
        except LedgerUnavailable as exc:
            await self._to.retry_later(anchor, attempts, str(exc))
            return
        except LedgerRejected as exc:
            await self._to.fail(anchor, attempts, str(exc))
            return
        now = self._clock.now()
        values = {
            "status": AnchorStatus.SUBMITTED.value,
            "tx_hash": tx.tx_hash,
            "chain_id": tx.chain_id,
            "contract": tx.contract,
            "nonce": tx.nonce,
            "attempts": attempts,
            "last_error": None,
            "submitted_at": now,
            "next_attempt_at": now,
        }
        details = {"tx_hash": tx.tx_hash, "chain_id": tx.chain_id, "contract": tx.contract}
        await self._to.change(anchor, values, ANCHOR_SUBMIT, details)
        log.info("anchor of %s at size %s sent: %s", slug, anchor.tree_size, tx.tx_hash)

    async def _poll(self, anchor: Anchor, slug: str) -> None:
        assert anchor.tx_hash is not None
        try:
            found = await self.ledger.lookup(
                anchor.tx_hash, slug, anchor.root_hash, anchor.tree_size
            )
        except LedgerUnavailable as exc:
            await self._to.retry_later(anchor, anchor.attempts, str(exc))
            return
        if found.chain_id != anchor.chain_id:
            note = f"the node is chain {found.chain_id}; this anchor was sent to {anchor.chain_id}"
            await self._to.retry_later(anchor, anchor.attempts, note)
            return
        if found.state is TxState.MINED and found.confirmations >= self.ledger.confirmations:
            await self._to.confirm(anchor, found)
        elif found.state is TxState.REVERTED:
            await self._to.fail(anchor, anchor.attempts, found.detail)
        elif found.state is TxState.MISSING and self._past_grace(anchor):
            await self._to.vanished(anchor, found.detail)
        else:  # queued, or mined with too few confirmations so far
            await self._to.later(anchor, self.settings.poll)

    def _past_grace(self, anchor: Anchor) -> bool:
        sent = anchor.submitted_at or anchor.created_at
        return (self._clock.now() - sent).total_seconds() >= self.settings.vanish_grace

    # --- confirmed anchors stay checked ---

    async def _recheck(self, ref: AuditLogRef, chain: ChainRef | None) -> None:
        """Look confirmed anchors up again: the newest until one is intact, and the oldest.
        While the oldest is intact the chain was not reset, and an intact anchor's block
        has every older block of that chain below it; when the oldest vanished, check all."""
        if chain is None:
            return  # the chain cannot be asked now
        async with self._uow() as uow:
            newest = await uow.anchors.confirmed(
                ref.log_id, chain.chain_id, chain.contract, None, RECHECK_LIMIT
            )
        if not newest:
            return
        oldest_intact = await self._still_there(ref, newest[-1])
        for anchor in newest[:-1]:
            if await self._still_there(ref, anchor) and oldest_intact:
                break

    async def _still_there(self, ref: AuditLogRef, anchor: Anchor) -> bool:
        assert anchor.tx_hash is not None
        try:
            found = await self.ledger.lookup(
                anchor.tx_hash, ref.name, anchor.root_hash, anchor.tree_size
            )
        except LedgerUnavailable:
            return True  # cannot tell now; the next cycle asks again
        if found.state is TxState.MINED and found.block_hash == anchor.block_hash:
            return True
        if found.state is TxState.MINED:  # re-mined in another block after a reorg
            await self._to.confirm(anchor, found)
            return True
        await self._to.vanished(anchor, found.detail or found.state.value)
        return False

    # --- moving to another chain ---

    async def _observe_chain(self) -> ChainRef | None:
        """The configured chain as its node reports it (None when it cannot be asked),
        recorded when it differs from the recorded one."""
        chain = ChainRef.of(await self.ledger.health())
        if chain is not None and chain != self._chain:
            await self._record_chain(chain)
            self._chain = chain
        return chain

    async def _record_chain(self, chain: ChainRef) -> None:
        async with self._uow(write=True) as uow:
            before = await uow.anchors.chain()
            if before == chain or not await uow.anchors.set_chain(chain, self._clock.now()):
                return  # recorded already (by another process, perhaps a moment ago)
            if before is not None:  # the platform's log says when the hub moved, and where
                details = {"from": before.as_dict(), "to": chain.as_dict()}
                event = AuditEvent(CHAIN_CHANGE, "chain", str(chain.chain_id), details=details)
                await self._audit.record(uow, [PLATFORM_LOG], SYSTEM, event)
            await uow.commit()
        if before is not None:
            log.warning("anchoring moved from chain %s to chain %s", before, chain)

    async def _move_all(self, tenants: list[Tenant], chain: ChainRef) -> bool:
        done = True
        for tenant in tenants:
            try:
                await self._move(AuditLogRef(tenant.id, tenant.slug), chain, SYSTEM)
            except Exception:
                done = False
                log.exception("moving the anchors of %s to chain %s failed", tenant.slug, chain)
        if done:
            self._moved_to = chain
        return done

    async def _move(self, ref: AuditLogRef, chain: ChainRef, ctx: RequestContext) -> Anchor | None:
        """Bring one log onto `chain`: anchors sent elsewhere and not confirmed are sent
        again on it; when anchors confirmed elsewhere cover a larger tree than `chain` has
        or will have, the current head is anchored on it now. Returns that new anchor."""
        async with self._uow() as uow:
            in_flight = await uow.anchors.sent_elsewhere(ref.log_id, chain, AnchorStatus.SUBMITTED)
        for sent in in_flight:
            await self._to.moved(sent, chain)
        async with self._uow() as uow:
            elsewhere = await uow.anchors.reach_elsewhere(ref.log_id, chain)
            here = await uow.anchors.reach_on(ref.log_id, chain)
        if elsewhere <= here:
            return None
        anchor, created = await self._create(ref, ctx, rearm=False, moving_to=chain)
        return anchor if created else None

    async def _tenants(self) -> list[Tenant]:
        async with self._uow() as uow:
            tenants = await uow.tenants.page(slugs=None, after=None, limit=100_000)
        self._slugs.update({t.id: t.slug for t in tenants})
        return list(tenants)

    async def _slug(self, log_id: str) -> str:
        slug = self._slugs.get(log_id)
        if slug is None:
            async with self._uow() as uow:
                tenant = await uow.tenants.by_id(log_id)
            slug = tenant.slug if tenant else log_id
            self._slugs[log_id] = slug
        return slug
