"""Retention of finished runs (HUB_RUN_RETENTION_DAYS): without it the runs, their history
and tasks grow forever, and every query over them with it.

A worker process removes runs finished (completed, failed, cancelled) longer ago than the
retention, with their history events, tasks, event waits and user tasks, in batches of
BATCH runs, each its own short transaction, so a purge never holds SQLite's write lock
for long. Audit entries stay: the audit log is append-only and its proofs cover them. A
finished child whose parent still runs stays until the parent finishes. With several
processes on PostgreSQL each purges: a row two delete at once is deleted once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from hub.ports import Clock, UnitOfWorkFactory

log = logging.getLogger("hub.workflows")

BATCH = 200  # runs per transaction: a few thousand rows with their history
INTERVAL_SECONDS = 3600.0


class RunRetention:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        days: int,
        *,
        batch: int = BATCH,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self.days = days
        self._batch = batch
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.days > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="run-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:
                log.exception("purging finished runs failed; trying again later")
            await asyncio.sleep(self._interval)

    async def purge(self) -> int:
        """Remove every run finished before the retention; how many were removed."""
        if self.days <= 0:
            return 0
        cutoff = self._clock.now() - timedelta(days=self.days)
        removed = 0
        while True:
            async with self._uow(write=True) as uow:
                count = await uow.workflows.purge_finished(cutoff, self._batch)
                await uow.commit()
            removed += count
            if count < self._batch:
                break
            await asyncio.sleep(0)  # other writers take the lock between batches
        if removed:
            log.info("run retention removed %d runs finished before %s", removed, cutoff)
        return removed
