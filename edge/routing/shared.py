"""Cooldowns shared by every instance through Redis (``state.redis``).

The hot path stays local: each worker's detectors (edge.routing.breaker) decide on their own,
with no Redis round trip per request. What crosses instances:

- Ejections. A worker that ejects a route publishes it (in the background, one script), unless
  the model's other routes already marked out in Redis fill its ``max_ejection_percent``: then
  the worker puts the route back in service, so the cap holds across instances.
- Outcomes, for the failure-rate rule. Each worker adds its routes' successes and failures to
  counters in Redis every ``poll_s`` (one script per route with news, pipelined); the script
  ejects a route whose share of failures across every instance, in fixed windows of
  ``window_s``, reaches ``failure_percent`` once the window holds ``min_requests``, with the
  same cap and an ejection time that grows with repeated ejections (forgiven one per
  ``base_ejection_s`` in service). Consecutive failures are not summed across instances (the
  order of outcomes seen by different workers is unknowable): each worker counts its own, as
  each Envoy does, and shares the ejection that follows.

Every worker reads the open marks of the routes it knows every ``poll_s`` and opens its own
breakers to match; when a mark ends, each worker half-opens the route and sends one probe. If
Redis does not answer, the local detectors keep working alone (one warning until it answers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from ..config import CooldownConfig

__all__ = ["SharedCooldowns"]

log = logging.getLogger("edge.routing")

_MAX_ROUTES = 10_000  # routes with unsent outcomes (passthrough names come from clients)

# Shared by both scripts: the cap. KEYS[3..] are the open marks of the model's other routes;
# ARGV[1] is how many routes the model has, ARGV[2] max_ejection_percent.
_ROOM = """
local function room()
  local size = tonumber(ARGV[1])
  if size < 2 then return true end
  local out = 0
  for i = 3, #KEYS do out = out + redis.call('EXISTS', KEYS[i]) end
  return out + 1 <= math.max(1, math.floor(size * tonumber(ARGV[2]) / 100))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] = outcome counters (hash), KEYS[2] = open mark, KEYS[3..] = the others' marks.
# ARGV = size, max_pct, ok, failed, window_ms, min_requests, failure_percent, base_ms, max_ms.
# Returns the mark's end (ms, Redis clock) when this call ejected the route, else 0.
_OUTCOMES = _ROOM + """
local ok, failed = tonumber(ARGV[3]), tonumber(ARGV[4])
local window, min_requests, pct = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local base, max_ms = tonumber(ARGV[8]), tonumber(ARGV[9])
local h = redis.call('HMGET', KEYS[1], 'w', 's', 'f', 'n', 'e')
local w, s, f = tonumber(h[1]) or now, tonumber(h[2]) or 0, tonumber(h[3]) or 0
local n, e = tonumber(h[4]) or 0, tonumber(h[5]) or 0
if now - w >= window then w, s, f = now, 0, 0 end
s, f = s + ok, f + failed
local until_ms = 0
if pct > 0 and f > 0 and s + f >= min_requests and f * 100 >= pct * (s + f)
    and redis.call('EXISTS', KEYS[2]) == 0 and room() then
  if e > 0 then n = math.max(0, n - math.floor((now - e) / base)) end
  n = n + 1
  local span = math.min(base * n, math.max(base, max_ms))
  until_ms = now + span
  redis.call('SET', KEYS[2], until_ms, 'PX', span)
  w, s, f, e = now, 0, 0, until_ms
end
redis.call('HSET', KEYS[1], 'w', w, 's', s, 'f', f, 'n', n, 'e', e)
redis.call('PEXPIRE', KEYS[1], math.max(window, max_ms) * 2)
return until_ms
"""

# A worker ejected a route for ARGV[3] ms: mark it for everyone (a longer mark stays).
# KEYS and ARGV[1..2] as above. Returns the mark's end (ms), or 0 when the cap said no.
_EJECT = _ROOM + """
local span = tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current == 0 and not room() then return 0 end
if now + span > current then
  redis.call('SET', KEYS[2], now + span, 'PX', span)
  return now + span
end
return current
"""


def _open_key(route: str) -> str:
    return f"edge:cd:open:{route}"


class SharedCooldowns:
    def __init__(self, client: Any, cooldown: CooldownConfig, poll_s: float = 0.5) -> None:
        self._client = client
        self._cooldown = cooldown
        self._poll_s = poll_s
        self._outcomes_script = client.register_script(_OUTCOMES)
        self._eject_script = client.register_script(_EJECT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._failing = False
        self._counts: dict[str, list[int]] = {}  # route -> [successes, failures] not yet sent
        self._groups: dict[str, tuple[str, ...]] = {}  # route -> its model's routes, last seen
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

    def outcome(self, route: str, ok: bool, group: Sequence[str]) -> None:
        """Count one request's outcome on a route; sent with the next poll (no I/O here)."""
        counts = self._counts.get(route)
        if counts is None:
            if len(self._counts) >= _MAX_ROUTES:
                return
            counts = self._counts[route] = [0, 0]
        counts[0 if ok else 1] += 1
        if group:
            self._groups[route] = tuple(group)

    def ejected(self, route: str, seconds: float, group: Sequence[str]) -> None:
        """This worker ejected a route: mark it for everyone (in the background)."""
        if len(self._tasks) > 1000:  # Redis is slow or gone: do not pile up work
            return
        task = asyncio.create_task(self._publish(route, seconds, tuple(group)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _keys(self, route: str, group: tuple[str, ...]) -> tuple[list[str], list[Any]]:
        others = [_open_key(name) for name in group if name != route]
        return [f"edge:cd:stats:{route}", _open_key(route), *others], [max(1, len(group)), self._cooldown.max_ejection_percent]

    async def _publish(self, route: str, seconds: float, group: tuple[str, ...]) -> None:
        keys, args = self._keys(route, group)
        try:
            until_ms = await self._eject_script(keys=keys, args=[*args, max(1, int(seconds * 1000))])
        except Exception as exc:
            self._warn(exc)
            return
        self._failing = False
        if until_ms:
            self._open_locally(route, int(until_ms) / 1000.0)
        elif self.routes is not None:
            # Other instances have the model's share of routes out already: the cap holds
            # across instances, so this worker puts the route back in service too.
            log.warning("cooldown: route %s back in service: other instances ejected the model's share of routes", route)
            self.routes.get(route).breaker.withdraw()

    def _open_locally(self, route: str, until_wall: float) -> None:
        # Redis's clock and ours differ a little; what matters is how long from now.
        if self.routes is not None:
            self.routes.get(route).breaker.open_until(time.monotonic() + (until_wall - time.time()))

    async def _flush(self) -> None:
        """Send the outcomes counted since the last poll; open what the scripts ejected."""
        counts, self._counts = self._counts, {}
        if not counts:
            return
        c = self._cooldown
        routes = list(counts)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for route in routes:
                    ok, failed = counts[route]
                    keys, args = self._keys(route, self._groups.get(route, ()))
                    await self._outcomes_script(
                        keys=keys,
                        args=[*args, ok, failed, int(c.window_s * 1000), c.min_requests, c.failure_percent, int(c.base_ejection_s * 1000), int(c.max_ejection_s * 1000)],
                        client=pipe,
                    )
                results = await pipe.execute()
        except Exception as exc:
            self._warn(exc)
            return  # these outcomes are lost to the shared rate; the local detectors had them
        self._failing = False
        for route, until_ms in zip(routes, results):
            if until_ms:
                log.warning("cooldown: route %s ejected everywhere (failure rate across instances)", route)
                self._open_locally(route, int(until_ms) / 1000.0)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            await self._flush()
            names = self.routes.names() if self.routes is not None else []
            if not names:
                continue
            try:
                marks = await self._client.mget([_open_key(name) for name in names])
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
