"""The worker's batch runner: claims rows of open batches, runs them, writes their outcomes.

Every worker of every instance runs one (``batch.run``). A pass over the open batches claims
rows up to two rounds of ``batch.concurrency`` (edge.batch.store: a row goes to one worker
only); they wait in a queue here for a slot, so a finished row starts the next without a trip
to the store. Each row runs as its own task (edge.batch.execute), and finished rows go to a
writer that commits them together every ``batch.flush_s``. A batch with nothing left to run is
finalized; rows queued for a batch that was cancelled or expired meanwhile are given back.

Yielding to live traffic, two ways:
- Slots: ``batch.concurrency`` rows at once while the worker serves no live request; each
  live request in flight takes one slot away, down to ``batch.min_concurrency``.
- Limits: a row is admitted like a live request, against the same rpm/tpm and budgets. When an
  admission leaves less than ``batch.live_reserve`` of the key's limit, the key's batches
  pause until that reserve has refilled, so live requests find it; a row the limit refuses
  goes back unrun (it is not a failure) and the key pauses for the limit's Retry-After.

A heartbeat renews the leases of the rows this worker holds; when the worker dies (kill -9),
its rows' leases end and other workers, or this one restarted, run them again. Their outcome
was never written (it is written only with the claim held), so nothing is billed twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from ..auth import ANONYMOUS, Principal
from ..config_batch import BatchConfig
from ..gateway import Gateway
from .execute import Deferred, internal_failure, limit_headroom, run_row
from .model import Claimed, Finished, JobRow, new_id
from .store import BatchStore

__all__ = ["BatchRunner"]

log = logging.getLogger("edge.batch")

_FLUSH_AT = 64  # finished rows that make the writer commit before its interval
# While no batch is in progress, each poll that finds none waits twice as long as the last, up
# to this many times batch.poll_s: an idle gateway asks its store a few times a minute, not twice
# a second. A batch made or cancelled on this worker is looked at at once (wake()).
_IDLE_POLL_GROWTH = 10


class _Queued(NamedTuple):
    job: JobRow
    principal: Principal | None
    key: str
    row: Claimed


class BatchRunner:
    def __init__(self, gw: Gateway, store: BatchStore, config: BatchConfig, live_in_flight: Callable[[], int]) -> None:
        self._gw = gw
        self._store = store
        self._config = config
        self._live = live_in_flight
        self.claim = new_id("worker_")  # this worker's claims: a restarted worker has a new one
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._finished: list[Finished] = []
        self._paused: dict[str, float] = {}  # key id -> unix time its batches may go on
        self._queue: list[_Queued] = []  # claimed rows waiting for a slot
        self._look = True  # ask the store on the next turn of the loop
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._unwritten = asyncio.Event()  # finished rows wait: the writer's interval runs
        self._idle_wait = config.poll_s
        self._tasks: list[asyncio.Task[None]] = []
        self._failing = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="edge-batch-runner"),
            asyncio.create_task(self._writer(), name="edge-batch-writer"),
            asyncio.create_task(self._heartbeat(), name="edge-batch-lease"),
        ]

    def wake(self) -> None:
        """A batch was created or cancelled: look now, not at the next poll."""
        self._look = True
        self._wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        held = [(item.job.id, item.row.line) for item in self._queue] + list(self._running)  # before the tasks leave the table
        self._queue.clear()
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*self._tasks, *running, return_exceptions=True)
        await self._flush()
        # Rows still held go back at once, so a restarted worker need not wait out their lease.
        for batch_id, line in held:
            try:
                await self._store.release(batch_id, line, self.claim, 0.0)
            except Exception:
                break  # their leases end by themselves

    def slots(self) -> int:
        cfg = self._config
        return max(cfg.min_concurrency, cfg.concurrency - self._live())

    async def _loop(self) -> None:
        while True:
            # The store is asked when told to (a new batch, the poll) or when fewer rows wait
            # here than a round of slots; otherwise a finished row starts the next queued one.
            if self._look or len(self._queue) < self.slots():
                self._look = False
                try:
                    await self._pass()
                    if self._failing:
                        log.info("batch: the store answers again")
                    self._failing = False
                except Exception as exc:
                    if not self._failing:
                        log.warning("batch: cannot read or claim rows (%s); retrying", type(exc).__name__)
                    self._failing = True
            self._start_queued()
            try:  # asyncio.timeout, not wait_for: 3.11's can swallow close()'s cancel (edge.tasks)
                async with asyncio.timeout(self._idle_wait):
                    await self._wake.wait()
            except TimeoutError:
                self._look = True
            self._wake.clear()

    def _principal(self, job: JobRow) -> Principal | None:
        if not job.owner:
            return ANONYMOUS
        return self._gw.auth.principal_for(job.owner)

    def _mine(self, batch_id: str) -> bool:
        """Whether this worker holds a row of the batch (queued, running or not yet written)."""
        return (
            any(key[0] == batch_id for key in self._running)
            or any(item.job.id == batch_id for item in self._queue)
            or any(f.batch_id == batch_id for f in self._finished)
        )

    async def _pass(self) -> None:
        now = time.time()
        jobs = await self._store.active_jobs()
        poll = self._config.poll_s
        self._idle_wait = poll if jobs or self._running or self._queue else min(self._idle_wait * 2, poll * _IDLE_POLL_GROWTH)
        runnable = {job.id for job in jobs if job.status == "in_progress" and (job.expires_at is None or now < job.expires_at)}
        for item in [i for i in self._queue if i.job.id not in runnable]:  # cancelled or expired meanwhile
            self._queue.remove(item)
            await self._store.release(item.job.id, item.row.line, self.claim, 0.0)
        for job in jobs:
            if job.id not in runnable:
                if not self._mine(job.id):
                    await self._finalize(job, now)
                continue
            principal = self._principal(job)
            key = principal.key_id if principal is not None and principal.key_id else ""
            if self._paused.get(key, 0.0) > now:
                continue
            # Claimed a round ahead: rows wait here for a slot, so a finished row starts the
            # next one without a trip to the store.
            want = 2 * self._config.concurrency - len(self._running) - len(self._queue)
            if want <= 0:
                return
            rows = await self._store.claim(job.id, self.claim, now, now + self._config.lease_s, want)
            self._queue.extend(_Queued(job, principal, key, row) for row in rows)
            if not rows and not self._mine(job.id):
                await self._finalize(job, now)

    def _start_queued(self) -> None:
        now = time.time()
        index = 0
        while len(self._running) < self.slots() and index < len(self._queue):
            item = self._queue[index]
            if self._paused.get(item.key, 0.0) > now:  # its key is at its reserve: others first
                index += 1
                continue
            del self._queue[index]
            task = asyncio.create_task(self._run(item.job, item.principal, item.key, item.row), name=f"edge-batch-row-{item.row.id}")
            self._running[(item.job.id, item.row.line)] = task

    async def _finalize(self, job: JobRow, now: float) -> None:
        status = await self._store.finalize(job.id, now)
        if status is not None:
            log.info("batch %s %s", job.id, status)

    async def _run(self, job: JobRow, principal: Principal | None, key: str, row: Claimed) -> None:
        def admitted(headers: dict[str, str] | None) -> None:
            if principal is None:
                return
            reserve = self._config.live_reserve
            left = limit_headroom(principal, headers)
            if left < reserve:
                # Until the reserve has refilled: the missing share of a one-minute window.
                self._paused[key] = max(self._paused.get(key, 0.0), time.time() + (reserve - left) * 60.0)

        try:
            outcome = await run_row(self._gw, job, principal, row, self.claim, admitted)
            if isinstance(outcome, Deferred):
                self._paused[key] = max(self._paused.get(key, 0.0), outcome.not_before)
                await self._store.release(job.id, row.line, self.claim, outcome.not_before)
            else:
                self._finished.append(outcome)
                self._unwritten.set()
                if len(self._finished) >= _FLUSH_AT:
                    self._flush_now.set()
        except Exception:
            # A bug, not an answer: the row fails with a 500 that names its id (running it again
            # would fail again, and its lease would be renewed for as long as this worker lives).
            log.exception("batch %s: row %s failed to run", job.id, row.id)
            self._finished.append(internal_failure(job, row, self.claim))
            self._unwritten.set()
        finally:
            self._running.pop((job.id, row.line), None)
            self._wake.set()

    async def _flush(self) -> bool:
        items, self._finished = self._finished, []
        if not items:
            return False
        try:
            await self._store.finish(items)
            return True
        except Exception as exc:
            # Not written: the rows stay claimed and run again after their lease (never twice
            # billed: nothing of theirs was committed).
            log.warning("batch: could not write %d finished rows (%s); they will run again", len(items), type(exc).__name__)
            return False

    async def _writer(self) -> None:
        while True:
            # Asleep until a row finishes (no timer while nothing is running), then at most
            # flush_s for more to write in the same transaction.
            await self._unwritten.wait()
            try:
                async with asyncio.timeout(self._config.flush_s):
                    await self._flush_now.wait()
            except TimeoutError:
                pass
            self._flush_now.clear()
            self._unwritten.clear()  # rows finished during the flush below set it again
            if await self._flush():
                self.wake()  # the batch may be ready to finalize

    async def _heartbeat(self) -> None:
        every = self._config.lease_s / 3
        while True:
            await asyncio.sleep(every)
            if self._running or self._finished or self._queue:
                try:
                    await self._store.renew(self.claim, time.time() + self._config.lease_s)
                except Exception as exc:
                    log.warning("batch: could not renew row leases (%s)", type(exc).__name__)
