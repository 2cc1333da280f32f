"""The gateway's guard around its store: bounded waits, quick 503s in an outage, one warning.

Budget checks, key reloads and the admin API read and write the store on a request's path, so
an outage there (PostgreSQL stopped or frozen, a SQLite disk full) must answer quickly and
plainly rather than with a 500 after a long wait. Each call waits at most ``timeout_s``
(``state.store_timeout_s``, 1.5 s by default; ledger writes 5 s, usage reports 60 s). A call
that times out is not cancelled (cancelling asyncpg in the middle of a pool release can leak a
connection); it finishes in the background within the driver's own timeouts, its answer unused.

Reads (spend, keys, reports) and writes (ledger rows, key changes) are watched apart, since a
full disk stops writes only. When a call fails for a reason the backend calls an outage
(``Store.unavailable``), its side is down: every call answers StoreUnavailable (503 with
Retry-After, OpenAI envelope) at once, without touching the store, until the next probe; then
one call goes through, and its answer decides. Probes back off exponentially (0.25 s doubling
to 10 s). An outage logs one warning when it starts, one a minute while it lasts, and one
when it ends; never a traceback per call.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..accounting import UsageRecord
from ..errors import ServiceUnavailable
from .base import AttemptsRow, KeyRow, RouteStatsRow, SeriesRow, Store, UsageRow

__all__ = ["GuardedStore", "Side", "StoreUnavailable"]

log = logging.getLogger("edge.store")

T = TypeVar("T")

BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 10.0
WARN_EVERY_S = 60.0


class StoreUnavailable(ServiceUnavailable):
    """The key and usage store did not answer: 503, retry after the next probe."""

    code = "store_unavailable"


def describe(exc: BaseException) -> str:
    """A short reason for logs and /readyz: the error's type and first words, no addresses."""
    if isinstance(exc, OSError):  # a socket error's text names the server's address: keep it out
        return f"{type(exc).__name__} ({errno.errorcode.get(exc.errno, exc.errno)})" if exc.errno else type(exc).__name__
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Side:
    """One direction of the store (reads or writes): up, or down until its next probe."""

    def __init__(self, name: str, on_change: Callable[[str, bool], None] | None = None) -> None:
        self.name = name
        self.up = True
        self.reason = ""
        self.since = time.monotonic()
        self.failures = 0
        self.next_try = 0.0
        self.refused = 0  # calls answered 503 without asking the store, this outage
        self._probing = False
        self._warned_at = 0.0
        self._on_change = on_change

    def admit(self, now: float) -> bool | None:
        """None: answer 503 now; False: an ordinary call; True: this call is the probe."""
        if self.up:
            return False
        if not self._probing and now >= self.next_try:
            self._probing = True
            return True
        self.refused += 1
        return None

    def retry_after(self, now: float) -> float:
        return max(1.0, self.next_try - now)

    def answered(self, now: float) -> None:
        self._probing = False
        if self.up:
            return
        log.warning("store %s answer again after %.1f s down (%d calls answered 503 meanwhile)", self.name, now - self.since, self.refused)
        self.up, self.failures, self.since, self.refused, self.reason = True, 0, now, 0, ""
        if self._on_change is not None:
            self._on_change(self.name, True)

    def failed(self, now: float, probe: bool, reason: str) -> None:
        if self.up:
            self.up, self.since, self.failures, self.reason, self._warned_at = False, now, 1, reason, now
            log.warning("store %s failing (%s); answering 503 with Retry-After and probing with backoff until it answers", self.name, reason)
            if self._on_change is not None:
                self._on_change(self.name, False)
        elif probe:
            self.failures += 1
            self.reason = reason
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning("store %s still failing after %.0f s (%s; %d calls answered 503)", self.name, now - self.since, reason, self.refused)
        else:
            return  # a call that began before the outage was seen: the probe schedule stands
        self._probing = False
        self.next_try = now + min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (self.failures - 1))

    def abandoned(self, probe: bool) -> None:
        """The caller went away before the answer: let the next call probe instead."""
        if probe:
            self._probing = False

    def status(self, now: float) -> dict[str, Any]:
        if self.up:
            return {"up": True}
        return {
            "up": False,
            "reason": self.reason,
            "down_for_s": round(now - self.since, 1),
            "failed_probes": self.failures,  # calls that reached the store and failed: backoff, not load
            "refused_calls": self.refused,
            "next_probe_in_s": round(max(0.0, self.next_try - now), 2),
        }


def _forget(task: asyncio.Future[Any]) -> None:
    """A late answer nobody waits for: retrieve its error so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


class GuardedStore:
    """A Store (edge.store.base) whose every call is bounded and outage-aware; see the module."""

    def __init__(self, inner: Store, *, timeout_s: float = 1.5, write_timeout_s: float = 5.0, report_timeout_s: float = 60.0, on_change: Callable[[str, bool], None] | None = None, on_refused: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.timeout_s = timeout_s
        self.write_timeout_s = max(write_timeout_s, timeout_s)
        self.report_timeout_s = max(report_timeout_s, timeout_s)
        self.reads = Side("reads", on_change)
        self.writes = Side("writes", on_change)
        self._on_refused = on_refused

    def __repr__(self) -> str:
        return f"GuardedStore({self.inner!r})"

    async def _call(self, side: Side, what: str, call: Callable[[], Awaitable[T]], timeout: float) -> T:
        now = time.monotonic()
        probe = side.admit(now)
        if probe is None:
            raise self._refuse(side, what, now)
        task = asyncio.ensure_future(call())
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # comes in the same turn as the answer (edge.tasks.stop_task).
            async with asyncio.timeout(timeout):
                result = await asyncio.shield(task)
        except TimeoutError:
            task.add_done_callback(_forget)
            reason = f"no answer within {timeout:g} s"
        except asyncio.CancelledError:
            task.add_done_callback(_forget)
            side.abandoned(probe)
            raise
        except Exception as exc:
            if not self.inner.unavailable(exc):
                side.answered(time.monotonic())  # it answered, with an error of its own
                raise
            reason = describe(exc)
        else:
            side.answered(time.monotonic())
            return result
        now = time.monotonic()
        side.failed(now, probe, reason)
        raise self._refuse(side, what, now) from None

    def _refuse(self, side: Side, what: str, now: float) -> StoreUnavailable:
        if self._on_refused is not None:
            self._on_refused(what)
        wait = side.retry_after(now)
        return StoreUnavailable(f"The gateway's key and usage store is not answering, so the {what} cannot be done now; retry in {wait:.0f} s.", retry_after=wait)

    def unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, StoreUnavailable) or self.inner.unavailable(exc)

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {"reads": self.reads.status(now), "writes": self.writes.status(now)}

    @property
    def up(self) -> bool:
        return self.reads.up and self.writes.up

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def insert_requests(self, records: list[UsageRecord], batch_id: str | None = None) -> None:
        await self._call(self.writes, "ledger write", lambda: self.inner.insert_requests(records, batch_id), self.write_timeout_s)

    async def sync(self) -> None:
        await self._call(self.writes, "ledger sync", self.inner.sync, self.write_timeout_s)

    async def list_keys(self) -> list[KeyRow]:
        return await self._call(self.reads, "key lookup", self.inner.list_keys, self.timeout_s)

    async def find_key(self, digest: str) -> KeyRow | None:
        return await self._call(self.reads, "key lookup", lambda: self.inner.find_key(digest), self.timeout_s)

    async def create_key(self, key: KeyRow) -> None:
        await self._call(self.writes, "key creation", lambda: self.inner.create_key(key), self.timeout_s)

    async def revoke_key(self, key_id: str, when: float) -> bool:
        return await self._call(self.writes, "key revocation", lambda: self.inner.revoke_key(key_id, when), self.timeout_s)

    async def spend(self, since: float, *, key_id: str | None = None, tag: tuple[str, str] | None = None) -> float:
        return await self._call(self.reads, "budget check", lambda: self.inner.spend(since, key_id=key_id, tag=tag), self.timeout_s)

    async def usage(self, since: float, group_by: str) -> list[UsageRow]:
        return await self._call(self.reads, "usage report", lambda: self.inner.usage(since, group_by), self.report_timeout_s)

    async def usage_series(self, since: float, bucket_s: float, group_by: str) -> list[SeriesRow]:
        return await self._call(self.reads, "usage report", lambda: self.inner.usage_series(since, bucket_s, group_by), self.report_timeout_s)

    async def route_stats(self, since: float) -> list[RouteStatsRow]:
        return await self._call(self.reads, "usage report", lambda: self.inner.route_stats(since), self.report_timeout_s)

    async def recent_attempts(self, since: float, limit: int) -> list[AttemptsRow]:
        return await self._call(self.reads, "usage report", lambda: self.inner.recent_attempts(since, limit), self.report_timeout_s)
