"""Is Redis answering? The rate limiter's breaker, and how many instances share the limits.

The request path asks Redis only while it is up, and waits at most ``limits.redis_timeout_s``:
a call that fails or times out opens the breaker (``failed``) and every later request of this
worker goes straight to the host's table (edge.limits.local), with no wait, until the background
probe sees Redis answer again (every ``limits.redis_retry_s``, with the same bound). So a frozen
Redis costs the requests in flight when it froze one timeout each, once, rather than a timeout
every time a retry interval ends. One warning when Redis stops answering, one a minute while it
stays away, one when it is back: never one per request.

Instances (hosts: every worker of one host shares one table and one instance id) register a
heartbeat in a sorted set (``edge:instances``, Redis's clock; a member not seen for three
heartbeats is dropped). The live count is what the host divides a key's limit by while Redis is
away; until Redis has answered once it is ``limits.instances`` from the config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..tasks import stop_task

__all__ = ["RedisHealth"]

log = logging.getLogger("edge.admission")

HEARTBEAT_S = 2.0
STILL_DOWN_WARNING_S = 60.0

# KEYS[1] = edge:instances; ARGV = instance id, how long a member lives (ms). Returns the count.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""
_INSTANCES = "edge:instances"


class RedisHealth:
    def __init__(self, client: Any, instance_id: str, timeout_s: float, retry_s: float, instances: int, scripts: tuple[str, ...] = ()) -> None:
        self._client = client
        self._scripts = scripts  # loaded before the request path uses Redis (again): no NOSCRIPT there
        self._loaded = False
        self._script = client.register_script(_HEARTBEAT)
        self._id = instance_id
        self.timeout_s = timeout_s
        self._retry_s = retry_s
        self.instances = max(1, instances)
        self.up = True
        self._down_since = 0.0
        self._warned_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edge-redis-health")

    async def close(self) -> None:
        await stop_task(self._task)
        if self.up:  # leave the count at once rather than after three missed heartbeats
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self._client.zrem(_INSTANCES, self._id)
            except Exception:
                pass

    def failed(self, exc: BaseException) -> None:
        """A request-path call failed or timed out: stop waiting on Redis until it answers."""
        if not self.up:
            return
        self.up = False
        self._down_since = self._warned_at = time.monotonic()
        log.warning(
            "rate limits: Redis is not answering (%s); each key gets this host's share of its limit (1/%d) until it does",
            type(exc).__name__, self.instances,
        )

    async def _beat(self) -> None:
        async with asyncio.timeout(self.timeout_s):
            count = await self._script(keys=[_INSTANCES], args=[self._id, int(HEARTBEAT_S * 3000)])
        self.instances = max(1, int(count))
        if not self._loaded or not self.up:  # first contact, or back after an outage (maybe restarted empty)
            async with asyncio.timeout(self.timeout_s):
                for text in self._scripts:
                    await self._client.script_load(text)
            self._loaded = True

    async def _run(self) -> None:
        while True:
            try:
                await self._beat()
            except Exception as exc:  # redis-py raises its own errors, OSErrors and timeouts
                self.failed(exc)
                now = time.monotonic()
                if now - self._warned_at >= STILL_DOWN_WARNING_S:
                    self._warned_at = now
                    log.warning("rate limits: Redis still not answering after %.0f s", now - self._down_since)
            else:
                if not self.up:
                    self.up = True
                    log.warning("rate limits: Redis answers again after %.1f s; limits are shared again", time.monotonic() - self._down_since)
            await asyncio.sleep(HEARTBEAT_S if self.up else self._retry_s)
