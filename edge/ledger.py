"""The usage ledger writer: one row per request, written off the hot path in batches.

Records queue in memory and a background task hands them to the store every
``flush_interval_s`` (or sooner when ``batch_size`` pile up); the store writes through a child
process (SQLite, edge.store.sqlite_writer) or a connection pool (PostgreSQL), so the event loop
never waits on disk. A graceful
shutdown flushes what is queued; kill -9 loses at most the last interval (0.5 s).
"""

from __future__ import annotations

import asyncio
import logging

from .accounting import UsageRecord
from .store import Store
from .tasks import stop_task

__all__ = ["Ledger"]

log = logging.getLogger("edge.ledger")

MAX_PENDING = 200_000  # beyond this, a store that keeps failing would eat memory: drop the oldest


class Ledger:
    """A record sink (edge.accounting) that batches rows into a Store."""

    def __init__(self, store: Store, flush_interval_s: float = 0.5, batch_size: int = 512) -> None:
        self.store = store
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._pending: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edge-ledger")

    def add(self, record: UsageRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            await self.store.insert_requests(rows)
        except Exception:
            # A failing store must not take requests down with it; keep the rows for the next try.
            log.exception("ledger write failed; %d rows kept for retry", len(rows))
            self._pending[:0] = rows
            if len(self._pending) > MAX_PENDING:
                excess = len(self._pending) - MAX_PENDING
                del self._pending[:excess]
                self.dropped += excess
                log.error("ledger: dropped %d rows the store could not take", excess)

    async def close(self) -> None:
        await stop_task(self._task)
        await self.flush()
