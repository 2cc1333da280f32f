"""The usage ledger writer: one row per request, written off the hot path in batches, never lost.

Records queue in memory and a background task hands them to the store every
``flush_interval_s`` (or sooner when ``batch_size`` pile up); the store writes through a child
process (SQLite, edge.store.sqlite_writer) or a connection pool (PostgreSQL), so the event loop
never waits on disk. Each batch has an id, so sending it again never writes it twice
(edge.store.batches).

When the store cannot take a batch (down, frozen, its disk full: edge.store.guard says so
within 5 s), the batch goes to this worker's spool file instead (edge.store.spool: appended and
fsync'd, one write per batch), and so does every later batch, so rows keep their order. The
store is then asked again only when the guard's backoff allows (0.25 s doubling to 10 s), not
once per batch; once it takes rows, the spool is replayed in order, a few batches per turn, and
removed, and batches go straight to the store again. If the spool folder cannot be written
(its disk full too: by default it sits beside a SQLite ledger), batches go to a spool file in
the fallback folder on another filesystem (edge.store.spool_chain). If neither can be written,
batches wait in memory, in order, up to ``MAX_HELD_ROWS``; beyond that, and only then, the
oldest are dropped, counted and logged. A spool left by a worker that is gone
(kill -9, a restart during an outage) is adopted and replayed by any worker of the host.

A graceful shutdown writes what is queued (to the store or the spool); kill -9 loses at most
the rows of the last interval (0.5 s) that were not yet in the store or the spool. The loop is
stopped by a flag, never cancelled: a cancellation in the middle of a write left the batch to a
call nobody waited for (the shutdown went on and closed the store under it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from .accounting import UsageRecord
from .metrics import Metrics
from .store import Store
from .store.guard import StoreUnavailable, describe
from .store.spool import Frame, OrphanSpool, decode_frame, encode_frame
from .store.spool_chain import SpoolChain, SpoolRows

__all__ = ["Ledger"]

log = logging.getLogger("edge.ledger")

MAX_HELD_ROWS = 200_000  # rows in memory when neither the store nor the spool takes them
REPLAY_FRAMES = 16  # batches replayed per turn, so flushes are not held up behind a long replay
REPLAY_TURN_S = 0.25
ORPHAN_SCAN_S = 5.0
CLOSE_REPLAY_S = 10.0  # a graceful stop keeps replaying this long while the store takes rows
WARN_EVERY_S = 60.0


# Rows per batch at most (a busy worker flushes sooner than flush_interval_s). A batch is a burst
# of the writer's CPU (SQLite, about 7 us a row): 512 rows took a core for 3-7 ms at once, and a
# request in flight at concurrency 1 waited behind it (p99 1.4-1.9 ms against 1.0-1.1 ms at 128,
# bench/README.md); at 32 connections 128 costs no more CPU per request than 512.
BATCH_ROWS = 128


class Ledger:
    """A record sink (edge.accounting) that batches rows into a Store, spooling when it cannot."""

    def __init__(self, store: Store, flush_interval_s: float = 0.5, batch_size: int = BATCH_ROWS, spool_dir: Path | None = None, metrics: Metrics | None = None, fallback_dir: Path | None = None) -> None:
        self.store = store
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._pending: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()  # one flush or replay at a time: the spool's order
        self._spool = SpoolChain(spool_dir, fallback_dir) if spool_dir is not None else None
        self._spool_where = ""  # the folder the last batch was spooled to, for the log
        self._held: list[Frame] = []  # batches neither the store nor the spool took, oldest first
        self._orphans: list[OrphanSpool] = []
        self._orphan_scan_at = 0.0
        self._batch_prefix = secrets.token_hex(8)
        self._batches = 0
        self._metrics = metrics
        self._reported = (0, 0, 0)
        self._spool_error = ""
        self._degraded_since = 0.0
        self._replayed = 0
        self._warned_at: dict[str, float] = {}
        self._dropping = False  # rows were dropped and memory is still full
        self.dropped = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edge-ledger")

    def add(self, record: UsageRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    @property
    def spooling(self) -> bool:
        """Rows are waiting for the store (on disk or in memory): new batches queue behind them."""
        return bool(self._held) or (self._spool is not None and self._spool.pending)

    def _on_disk(self) -> SpoolRows:
        """Rows in spool files (ours and adopted ones), by folder."""
        own = self._spool.rows() if self._spool is not None else SpoolRows()
        spool, fallback = own.spool, own.fallback_spool
        for orphan in self._orphans:
            if self._spool is not None and self._spool.where(orphan.path.parent) == "fallback_spool":
                fallback += orphan.rows
            else:
                spool += orphan.rows
        return SpoolRows(spool, fallback)

    def status(self) -> dict[str, Any]:
        """For /readyz: where rows wait, and whether any were lost."""
        disk = self._on_disk()
        held = sum(f.rows for f in self._held)
        doc: dict[str, Any] = {"spooling": self.spooling, "spooled_rows": disk.spool + disk.fallback_spool, "fallback_spooled_rows": disk.fallback_spool, "in_memory_rows": held, "dropped_rows": self.dropped}
        if self._spool_error:
            doc["spool_error"] = self._spool_error
        if self.spooling:
            doc["spooling_for_s"] = round(time.monotonic() - self._degraded_since, 1)
        return doc

    @property
    def full(self) -> bool:
        """Rows are being dropped: the store, the spool and the memory cap all refused."""
        return self._dropping

    def _warn(self, kind: str, message: str, *args: object) -> None:
        """One warning per kind per minute: an outage must not flood the log."""
        now = time.monotonic()
        if now - self._warned_at.get(kind, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned_at[kind] = now
            log.warning(message, *args)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:  # close() writes what is left, in its own order
                return
            try:
                await self.flush()
                await self._replay()
            except Exception as exc:  # never let the writer task die; the rows stay where they are
                self._warn("loop", "ledger: unexpected error (%s); rows stay queued", describe(exc))

    def _batch_id(self) -> str:
        self._batches += 1
        return f"{self._batch_prefix}-{self._batches}"

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            records, self._pending = self._pending, []
            batch_id = self._batch_id()
            if not self.spooling:
                try:
                    await self.store.insert_requests(records, batch_id)
                    return
                except Exception as exc:
                    if not isinstance(exc, StoreUnavailable):
                        self._warn("refused", "ledger: the store refused a batch (%s); spooling it", describe(exc))
                    self._degraded_since = time.monotonic()
                    where = self._spool.primary if self._spool is not None else "memory"
                    log.warning("ledger: the store is not taking rows; spooling them to %s and replaying them, in order, once it does", where)
            await self._keep([encode_frame(batch_id, records)])
            self._report()

    async def _keep(self, frames: list[Frame]) -> None:
        """Spool frames behind the ones waiting already; hold them in memory if the spool fails."""
        self._held.extend(frames)
        if self._spool is not None:
            try:
                where = await asyncio.to_thread(self._spool.append, list(self._held))
            except OSError as exc:
                error = (exc.strerror or describe(exc)) if not exc.errno else describe(exc)  # errno 0: both folders, named
                if not self._spool_error:
                    log.warning("ledger: cannot write the spool (%s); holding rows in memory until the store or a spool folder takes them", error)
                self._spool_error = error
            else:
                self._held.clear()
                if self._spool_error:
                    log.warning("ledger: the spool is writable again")
                    self._spool_error = ""
                if where != self._spool_where:
                    if where == "fallback_spool" or self._spool_where == "fallback_spool":
                        folder = self._spool.fallback if where == "fallback_spool" else self._spool.primary
                        log.warning("ledger: spooling rows to %s now (the other spool folder refused them)", folder)
                    self._spool_where = where
        held = sum(f.rows for f in self._held)
        self._dropping = self._dropping and held > 0
        while held > MAX_HELD_ROWS:
            self._dropping = True
            oldest = self._held.pop(0)
            held -= oldest.rows
            self.dropped += oldest.rows
            if self._metrics is not None:
                self._metrics.ledger_lost(oldest.rows)
            self._warn("dropped", "ledger: dropped %d rows (neither the store nor the spool took them and %d rows are held in memory)", oldest.rows, MAX_HELD_ROWS)

    async def _replay(self) -> bool:
        """Hand waiting batches to the store, oldest first, for up to one short turn; whether
        anything moved."""
        now = time.monotonic()
        if not self.spooling and self._spool is not None and now >= self._orphan_scan_at:
            self._orphan_scan_at = now + ORPHAN_SCAN_S
            self._orphans += await asyncio.to_thread(self._spool.find_orphans)
        if not self.spooling and not self._orphans and (self._spool is None or not self._spool.open):
            return False
        moved = False
        async with self._lock:
            deadline = time.monotonic() + REPLAY_TURN_S
            try:
                while time.monotonic() < deadline and await self._replay_some():
                    moved = True
            except Exception as exc:
                if not isinstance(exc, StoreUnavailable):
                    self._warn("replay", "ledger: replaying the spool failed (%s); trying again later", describe(exc))
            finally:
                self._report()
        return moved

    async def _replay_some(self) -> bool:
        """One step of the replay; False when nothing is left."""
        chain = self._spool
        spool = await asyncio.to_thread(chain.head) if chain is not None else None
        if chain is not None and spool is not None:
            frames = await asyncio.to_thread(spool.unreplayed, REPLAY_FRAMES)
            if not frames:  # the rest is not whole frames (cannot happen for our own appends)
                # Never deleted unread: the bytes stay on disk, beside the spool, and say so.
                log.error("ledger: the spool %s has %d rows that cannot be read back; kept as .spool-damaged", spool.path, spool.rows)
                await asyncio.to_thread(spool.set_aside)
                chain.drop_head()
                return True
            for frame, offset in frames:
                await self.store.insert_requests(decode_frame(frame), frame.batch_id)
                spool.replayed(frame, offset)
                self._replayed += frame.rows
            return True
        if self._held:
            frame = self._held[0]
            await self.store.insert_requests(decode_frame(frame), frame.batch_id)
            self._held.pop(0)
            self._dropping = self._dropping and bool(self._held)
            self._replayed += frame.rows
            return True
        if chain is not None and chain.open:
            await asyncio.to_thread(chain.discard)
            self._spool_where = ""
        if self._replayed:
            log.warning("ledger: the store takes rows again; replayed %d spooled rows, in order, after %.1f s", self._replayed, time.monotonic() - self._degraded_since)
            self._replayed = 0
        if self._orphans:
            return await self._replay_orphan(self._orphans[0])
        return False

    async def _replay_orphan(self, orphan: OrphanSpool) -> bool:
        frames = await asyncio.to_thread(orphan.unreplayed, REPLAY_FRAMES)
        for frame, offset in frames:
            await self.store.insert_requests(decode_frame(frame), frame.batch_id)
            orphan.replayed(frame, offset)
        if frames:
            return True
        self._orphans.pop(0)
        if orphan.foreign:
            log.warning("ledger: %s is not a spool file of this version; set it aside as .spool-foreign", orphan.path)
        elif orphan.torn_bytes:
            log.warning("ledger: %s ended in %d bytes of a batch cut off by a crash (never acknowledged); dropped them", orphan.path, orphan.torn_bytes)
        log.info("ledger: replayed the spool %s left by a worker that is gone", orphan.path.name)
        await asyncio.to_thread(orphan.discard)
        return True

    def _report(self) -> None:
        if self._metrics is None:
            return
        disk = self._on_disk()
        state = (disk.spool, disk.fallback_spool, sum(f.rows for f in self._held))
        if state != self._reported:
            self._reported = state
            self._metrics.ledger_rows(*state)

    async def close(self) -> None:
        # Let the loop finish the write it is in (each is bounded by the guard's timeout).
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait([self._task])
            self._task = None
        await self.flush()
        deadline = time.monotonic() + CLOSE_REPLAY_S
        while (self.spooling or self._orphans) and time.monotonic() < deadline:
            if not await self._replay():  # the store is still down: leave the rest on disk
                break
        if self._held:
            lost = sum(f.rows for f in self._held)
            self.dropped += lost
            log.error("ledger: %d rows could not be written to the store or the spool before exit and are lost", lost)
            if self._metrics is not None:
                self._metrics.ledger_lost(lost)
            self._held.clear()
        if self._spool is not None:
            if self._spool.pending:
                disk = self._spool.rows()
                log.warning("ledger: %d rows stay in the spool files of %s; the next worker replays them", disk.spool + disk.fallback_spool, ", ".join(str(f.path) for f in self._spool.files))
            self._spool.close()
        for orphan in self._orphans:
            orphan.release()
        self._orphans.clear()
        if self._metrics is not None:
            self._metrics.ledger_rows(0, 0, 0)  # whatever is left belongs to the next worker now
