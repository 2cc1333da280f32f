"""Cooldowns shared by every instance through Redis (``state.redis``).

The hot path stays local: each worker's breakers decide on their own, with no Redis round trip
per request. What crosses instances is failures and open breakers: a request that fails a route
adds to a Redis counter for that route (in the background, one script); when the counter reaches
``failures`` inside ``window_s``, the script marks the route open for ``for_s``. Every worker
reads the open marks of the routes it knows every ``poll_s`` and opens its own breakers to match,
so one instance's outage observations cool the route down everywhere within a poll. If Redis
does not answer, the local breakers keep working alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..config import CooldownConfig

__all__ = ["SharedCooldowns"]

log = logging.getLogger("edge.routing")

# KEYS[1] = failure counter, KEYS[2] = open mark; ARGV = failures, window_ms, for_ms
_FAILURE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  local t = redis.call('TIME')
  local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[3])
  redis.call('SET', KEYS[2], until_ms, 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return until_ms
end
return 0
"""


class SharedCooldowns:
    def __init__(self, client: Any, cooldown: CooldownConfig, poll_s: float = 0.5) -> None:
        self._client = client
        self._cooldown = cooldown
        self._poll_s = poll_s
        self._script = client.register_script(_FAILURE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._failing = False
        self.routes: Any = None  # RouteStates, set by the owner

    def start(self) -> None:
        self._poller = asyncio.create_task(self._poll(), name="edge-cooldowns")

    async def close(self) -> None:
        for task in [*self._tasks, *([self._poller] if self._poller else [])]:
            task.cancel()
        for task in [*self._tasks, *([self._poller] if self._poller else [])]:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def failure(self, route: str) -> None:
        """Count a failure everywhere (in the background: never on the request's path)."""
        if len(self._tasks) > 1000:  # Redis is slow or gone: do not pile up work
            return
        task = asyncio.create_task(self._report(route))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, route: str) -> None:
        c = self._cooldown
        try:
            until_ms = await self._script(keys=[f"edge:cd:fail:{route}", f"edge:cd:open:{route}"], args=[c.failures, int(c.window_s * 1000), int(c.for_s * 1000)])
        except Exception as exc:
            self._warn(exc)
            return
        self._failing = False
        if until_ms and self.routes is not None:
            self._open_locally(route, int(until_ms) / 1000.0)

    def _open_locally(self, route: str, until_wall: float) -> None:
        state = self.routes.get(route)
        state.breaker.open_until(time.monotonic() + (until_wall - time.time()))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            names = self.routes.names() if self.routes is not None else []
            if not names:
                continue
            try:
                marks = await self._client.mget([f"edge:cd:open:{name}" for name in names])
            except Exception as exc:
                self._warn(exc)
                continue
            self._failing = False
            for name, mark in zip(names, marks):
                if mark is not None:
                    self._open_locally(name, int(mark) / 1000.0)

    def _warn(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("cooldowns: Redis is not answering (%s); each worker cools routes down on its own", type(exc).__name__)
        self._failing = True
