"""Stored responses kept off the request path: rows wait in the worker, a flush commits them.

Committing each response before its answer ends cost more than the rest of a native
pass-through (a round trip to the store per request: bench/README.md, the Responses section).
``PendingResponses`` sits in front of the store (edge/responses/store.py): ``keep`` puts the row
in a per-worker map and returns at once; every ``flush_s`` (20 ms) the rows kept meanwhile go to
the store in one transaction. So that ``previous_response_id`` still works at once everywhere:

- on the same worker, reads look in the map first (a pending row is found, its history read
  from the store as usual);
- on another worker or instance, a read that finds nothing may be early, not wrong: it asks
  again, after the flush interval, until ``settle_s`` has passed (0.5 s; the other side commits
  within about ``flush_s`` plus one write). Only a response that does not exist pays that wait.

A delete finds the row where it is: in the map (never written), in a flush under way (removed
once that commits) or in the store (on another worker: asked again like a read). A flush the
store refuses keeps its rows for the next one; beyond ``max_rows`` waiting, the oldest go (the
answers stand; only their retrieval is lost, as when a synchronous write failed). On close the
rows still waiting are written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from .store import StoredResponse

__all__ = ["PendingResponses"]

log = logging.getLogger("edge.responses")

T = TypeVar("T")


class _Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, rows: list[StoredResponse]) -> None: ...

    async def chain(self, response_id: str, key_id: str | None) -> list[StoredResponse]: ...

    async def delete(self, response_id: str, key_id: str | None) -> bool: ...


class PendingResponses:
    def __init__(self, store: _Store, flush_s: float = 0.02, settle_s: float = 0.5, max_rows: int = 20_000) -> None:
        self.store = store
        self.flush_s = flush_s
        self.settle_s = settle_s
        self.max_rows = max_rows
        self._rows: dict[str, StoredResponse] = {}  # waiting or being written, oldest first
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        await self.store.start()

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.wait([self._flushing])
        if self._rows:
            await self._write()
        await self.store.close()

    # -- writes ---------------------------------------------------------------------------------

    def keep(self, row: StoredResponse) -> None:
        """Store ``row`` (committed within about ``flush_s``; readable here at once)."""
        rows = self._rows
        rows.pop(row.id, None)  # the same id again: the newest wins, as INSERT OR REPLACE
        rows[row.id] = row
        if len(rows) > self.max_rows:
            oldest = next(iter(rows))
            del rows[oldest]
            log.warning("responses: %d rows wait for the store; %s is not kept", self.max_rows, oldest)
        if self._timer is None and self._flushing is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self.flush_s, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            await self._write()
        finally:
            self._flushing = None
            if self._rows and not self._closed:  # kept while writing, or refused: next round
                self._timer = asyncio.get_running_loop().call_later(self.flush_s, self._start_flush)

    async def _write(self) -> None:
        batch = list(self._rows.values())
        try:
            await self.store.write(batch)
        except Exception as exc:
            log.warning("responses: the store refused %d rows (%s); trying again", len(batch), type(exc).__name__)
            if self._closed:
                self._rows.clear()
            return
        rows = self._rows
        for row in batch:
            if rows.get(row.id) is row:
                del rows[row.id]

    # -- reads ----------------------------------------------------------------------------------

    def _pending(self, response_id: str, key_id: str | None) -> StoredResponse | None:
        row = self._rows.get(response_id)
        if row is None or row.key_id != key_id or row.expires_at <= time.time():
            return None
        return row

    async def chain(self, response_id: str, key_id: str | None) -> list[StoredResponse]:
        """The response and those it continues, oldest first (as the store's ``chain``)."""
        newest: list[StoredResponse] = []
        at: str | None = response_id
        while at is not None and len(newest) <= len(self._rows) and (row := self._pending(at, key_id)) is not None:
            newest.append(row)
            at = row.previous_id
        newest.reverse()
        if at is None:
            return newest
        if newest:  # the history before a pending row: written earlier, or on its way
            return await self._settled(lambda: self.store.chain(at, key_id)) + newest
        return await self._settled(lambda: self.store.chain(at, key_id))

    async def delete(self, response_id: str, key_id: str | None) -> bool:
        row = self._pending(response_id, key_id)
        if row is not None:
            del self._rows[response_id]
            if self._flushing is not None:  # it may be in the write under way: undo that too
                await asyncio.wait([self._flushing])
                await self.store.delete(response_id, key_id)
            return True
        return await self._settled(lambda: self.store.delete(response_id, key_id))

    async def _settled(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` (a read), asked again while it finds nothing and another worker's flush could
        still bring the row."""
        found = await call()
        if found:
            return found
        deadline = time.monotonic() + self.settle_s
        pause = self.flush_s
        while time.monotonic() < deadline:
            await asyncio.sleep(pause)
            found = await call()
            if found:
                return found
            pause = min(pause * 2, 0.1)
        return found
